// countTree on a real unpacked tree: counted the way the manifest counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { countTree } from '../../../lib/ops/drill.ts';
import { tempDir } from '../../helpers/cli.ts';

test('countTree: files, directories and bytes as the manifest counts them (hard links: one more file, bytes once)', async () => {
  const dir = tempDir('cbt-tree-');
  fs.mkdirSync(path.join(dir, 'a/b'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'a/x.txt'), 'hello');
  fs.writeFileSync(path.join(dir, 'a/b/y.bin'), Buffer.alloc(1000));
  fs.linkSync(path.join(dir, 'a/x.txt'), path.join(dir, 'a/hard.txt'));
  fs.symlinkSync('x.txt', path.join(dir, 'a/soft'));
  fs.mkdirSync(path.join(dir, 'locked'));
  fs.writeFileSync(path.join(dir, 'locked/z'), 'z');
  fs.chmodSync(path.join(dir, 'locked'), 0o500);
  assert.deepEqual(await countTree(dir), { files: 4, directories: 3, bytes: 1006 });
  // A read-only folder was made writable, so the drill can always remove its folder.
  assert.equal(fs.statSync(path.join(dir, 'locked')).mode & 0o700, 0o700);
  fs.rmSync(dir, { recursive: true });
});
