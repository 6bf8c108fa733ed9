// checkArchive on real archives: GNU tar's own (the awkward tree, zstd and gzip), damaged ones,
// and hostile ones made by tar -P or crafted by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { checkArchiveFile as checkArchive } from '../../../lib/media/check.ts';
import { tarCreateArgv } from '../../../lib/media/tar.ts';
import { tempDir } from '../../helpers/cli.ts';
import { compressTo, describeTree, handTar, makeAwkwardTree } from '../../helpers/media-tree.ts';

test('checkArchive: real archives pass with their counts; truncated, corrupt and hostile ones do not', async () => {
  const dir = tempDir('cbt-arch-');
  const media = path.join(dir, 'media');
  fs.mkdirSync(media);
  makeAwkwardTree(media);
  const argv = tarCreateArgv(media, []);
  const tar = execFileSync(argv[0]!, argv.slice(1), { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  const zst = path.join(dir, 'good.tar.zst');
  const gz = path.join(dir, 'good.tar.gz');
  compressTo(zst, tar);
  compressTo(gz, tar);
  const tree = describeTree(media);
  const files = Object.values(tree).filter((d) => d.type === 'file');
  // A hardlinked file's data is archived once: each of its n names counts 1/n of its size.
  const dataBytes = Math.round(files.reduce((sum, f) => sum + f.size! / f.nlink!, 0));
  for (const [file, codec] of [[zst, 'zstd'], [gz, 'gzip']] as const) {
    const c = await checkArchive(file, codec);
    assert.equal(c.ok, true, JSON.stringify(c));
    assert.equal(c.files, files.length);
    assert.equal(c.directories, Object.values(tree).filter((d) => d.type === 'dir').length);
    assert.equal(c.entries, Object.keys(tree).length + 1);
    assert.equal(c.bytes, dataBytes);
  }
  const bytes = fs.readFileSync(zst);
  const truncated = path.join(dir, 'truncated.tar.zst');
  fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const corrupt = path.join(dir, 'corrupt.tar.zst');
  const flipped = Buffer.from(bytes);
  for (let i = 0; i < 64; i++) flipped[Math.floor(flipped.length / 2) + i]! ^= 0x5a;
  fs.writeFileSync(corrupt, flipped);
  const gzBytes = fs.readFileSync(gz);
  const truncatedGz = path.join(dir, 'truncated.tar.gz');
  fs.writeFileSync(truncatedGz, gzBytes.subarray(0, gzBytes.length - 100));
  const notTar = path.join(dir, 'nottar.tar.zst');
  compressTo(notTar, Buffer.from('hello, this is not a tar archive\n'.repeat(100)));
  for (const [file, codec] of [[truncated, 'zstd'], [corrupt, 'zstd'], [truncatedGz, 'gzip'], [notTar, 'zstd']] as const) {
    const c = await checkArchive(file, codec);
    assert.equal(c.ok, false, file);
    assert.match(c.failure ?? '', /failed/, file);
  }

  // Hostile archives made by GNU tar itself (-P keeps what it would otherwise strip)…
  const work = path.join(dir, 'work', 'sub');
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(path.join(dir, 'work', 'escape'), 'x');
  const dotdot = path.join(dir, 'dotdot.tar.zst');
  compressTo(dotdot, execFileSync('tar', ['-P', '-cf', '-', '../escape'], { cwd: work }));
  const abs = path.join(dir, 'abs.tar.zst');
  compressTo(abs, execFileSync('tar', ['-P', '-cf', '-', path.join(dir, 'work', 'escape')]));
  // …and crafted ones.
  const crafted = path.join(dir, 'crafted.tar.zst');
  compressTo(crafted, handTar([{ name: './', type: 'dir' }, { name: './ok', type: 'file', data: 'fine' }, { name: './h', type: 'hardlink', link: '../outside/secret' }, { name: './later', type: 'char' }]));
  const expected: [string, string][] = [
    [dotdot, 'entry "../escape": path contains ".."'],
    [abs, `entry "${path.join(dir, 'work', 'escape')}": absolute path "${path.join(dir, 'work', 'escape')}"`],
    [crafted, 'entry "./h": hardlink pointing outside the media folder ("../outside/secret")'],
  ];
  for (const [file, unsafe] of expected) {
    const c = await checkArchive(file, 'zstd');
    assert.equal(c.ok, false);
    assert.equal(c.failure, null);
    assert.equal(c.unsafe, unsafe);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
