// The conformance suite against a folder target (a NAS or USB mount), and what only a folder has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { OffsiteTarget } from '../../../lib/config/resolve.ts';
import { tempDir } from '../../helpers/cli.ts';
import { ageKeys, flipByte } from '../../helpers/offsite.ts';
import { conformance } from './conformance.ts';

const root = tempDir('cbt-offsite-path-');
const keys = ageKeys();
const target = (retention: OffsiteTarget['retention'] = { database: {}, media: {} }): OffsiteTarget => ({
  kind: 'path',
  name: 'path',
  path: root,
  encryption: 'age',
  recipients: [keys.recipient],
  retention,
});

conformance('path', () => ({
  target,
  keys,
  stored: (env, key) => fs.readFileSync(path.join(root, env, key)),
  tamper: (env, key) => flipByte(path.join(root, env, key)),
}));

test('path: copies and folders are private to this user (0600 / 0700)', () => {
  const files = fs.readdirSync(path.join(root, 'push', 'postgres'));
  assert.ok(files.length >= 3);
  for (const f of files) assert.equal(fs.statSync(path.join(root, 'push', 'postgres', f)).mode & 0o777, 0o600, f);
  assert.equal(fs.statSync(path.join(root, 'push', 'postgres')).mode & 0o777, 0o700);
});

test('path: what a killed push of this host left (its pid gone) is swept by the next push at once; a live one\'s is not', async () => {
  const { pushToTarget } = await import('../../../lib/offsite/push.ts');
  const { openStore, stagingName, thisWriter } = await import('../../../lib/offsite/store.ts');
  const me = thisWriter();
  const dead = stagingName('postgres/backup_2026_07_01T02_00_00.sql.zst.age', new Date(), { ...me, pid: 2 ** 22 + 12345 }, 'dead01');
  const live = stagingName('postgres/backup_2026_07_02T02_00_00.sql.zst.age', new Date(), { ...me, pid: process.ppid }, 'live01');
  for (const key of [dead, live]) {
    fs.mkdirSync(path.join(root, 'sweep', 'postgres'), { recursive: true });
    fs.writeFileSync(path.join(root, 'sweep', key), 'partial');
  }
  const o = await pushToTarget(await openStore(target(), 'sweep'), { backupDir: tempDir('cbt-offsite-tree-') }, () => new Date(), { prune: false });
  assert.deepEqual(o.swept, [dead]);
  assert.deepEqual(fs.readdirSync(path.join(root, 'sweep', 'postgres')), [path.basename(live)]);
});

test('path: age missing or dying halfway fails the push with age\'s own reason; nothing is left under a final name', async (t) => {
  const { pushToTarget } = await import('../../../lib/offsite/push.ts');
  const { openStore } = await import('../../../lib/offsite/store.ts');
  const { makeBackup } = await import('../../helpers/offsite.ts');
  const { fakeBin } = await import('../../helpers/cli.ts');
  const backupDir = tempDir('cbt-offsite-tree-');
  makeBackup(backupDir, 'media', '2026_07_03T02_00_00', 2 * 1024 * 1024);
  const saved = process.env.PATH;
  t.after(() => (process.env.PATH = saved));
  // An age that writes a little, then fails: the upload must not complete with a truncated copy.
  // (The manifest, armored, is encrypted by the real age.)
  const realAge = execFileSync('sh', ['-c', 'command -v age'], { encoding: 'utf8' }).trim();
  process.env.PATH = `${fakeBin({ age: `#!/bin/sh\ncase " $* " in *" -a "*) exec ${realAge} "$@";; esac\nhead -c 70000 /dev/zero\necho "age: error: something broke" >&2\nexit 1\n` })}:${saved}`;
  const store = await openStore(target(), 'age-fails');
  await assert.rejects(pushToTarget(store, { backupDir }, () => new Date(), { prune: false }), /encrypting media_backup_2026_07_03T02_00_00\.tar\.zst failed: age failed \(exit 1\): age: error: something broke/);
  process.env.PATH = '/nonexistent';
  await assert.rejects(pushToTarget(store, { backupDir }, () => new Date(), { prune: false }), /age is not installed here \(apt-get install age\)/);
  process.env.PATH = saved;
  assert.deepEqual(
    fs.readdirSync(path.join(root, 'age-fails', 'media')).filter((n) => !n.endsWith('.manifest.json.age')),
    [],
    'no copy, no temporary file (the manifest, written first, waits for the next push)',
  );
});
