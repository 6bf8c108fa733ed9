// The conformance suite against a folder on another host over SSH (the loopback sshd), and what only
// that kind has: the sha256 computed there, and a full disk there.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { OffsiteTarget } from '../../../lib/config/resolve.ts';
import { collectCopies, copyKeys } from '../../../lib/core/offsite-names.ts';
import { checkTarget } from '../../../lib/offsite/check.ts';
import { pushToTarget } from '../../../lib/offsite/push.ts';
import { openStore } from '../../../lib/offsite/store.ts';
import { NoSpaceError } from '../../../lib/cli/errors.ts';
import { tempDir } from '../../helpers/cli.ts';
import { ageKeys, flipByte, makeBackup } from '../../helpers/offsite.ts';
import { startSshd, type TestSshd } from '../../helpers/sshd.ts';
import { conformance } from './conformance.ts';

let sshd: TestSshd;
const root = tempDir('cbt-offsite-ssh-');
const keys = ageKeys();

before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await sshd?.stop();
});

const target = (retention: OffsiteTarget['retention'] = { database: {}, media: {} }, folder = root): OffsiteTarget => ({
  kind: 'ssh',
  name: 'ssh',
  target: sshd.target,
  port: sshd.port,
  identityFile: sshd.identityFile,
  knownHostsFile: sshd.knownHostsFile,
  connectTimeout: 5,
  path: folder,
  encryption: 'age',
  recipients: [keys.recipient],
  retention,
});

conformance('ssh', () => ({
  target,
  keys,
  stored: (env, key) => fs.readFileSync(path.join(root, env, key)),
  tamper: (env, key) => flipByte(path.join(root, env, key)),
}));

test('ssh: the cheap check computes the sha256 there, and finds a flipped byte without a download', async () => {
  const backupDir = tempDir('cbt-offsite-tree-');
  const db = makeBackup(backupDir, 'database', '2026_05_01T02_00_00');
  const store = await openStore(target(), 'cheap');
  await pushToTarget(store, { backupDir }, () => new Date(), { prune: false });
  const good = await checkTarget(store, { backupDir }, { deep: () => [], identity: null });
  assert.equal(good.ok, true, JSON.stringify(good));
  assert.ok(good.copies[0]!.checks.includes('sha256 computed there'));
  flipByte(path.join(root, 'cheap', copyKeys(db, true).data));
  const bad = await checkTarget(store, { backupDir }, { deep: () => [], identity: null });
  assert.equal(bad.ok, false);
  assert.match(bad.copies[0]!.problems.join('; '), /sha256 mismatch: the copy changed at the target since it was pushed/);
});

test('ssh: a full disk there fails the push with one line saying so; nothing is left under a final name, nor a temporary file', async (t) => {
  const small = tempDir('cbt-offsite-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
  t.after(() => execFileSync('umount', ['-l', small]));
  const backupDir = tempDir('cbt-offsite-tree-');
  makeBackup(backupDir, 'media', '2026_05_02T02_00_00', 3 * 1024 * 1024);
  const store = await openStore(target(undefined, small), 'full');
  const err = await pushToTarget(store, { backupDir }, () => new Date(), { prune: false }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof NoSpaceError, String(err));
  assert.match((err as Error).message, /no space left at .*full \(the disk there is full\)/);
  assert.equal((err as Error).message.split('\n').length, 1);
  const left = execFileSync('find', [small, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map((f) => path.relative(small, f));
  assert.deepEqual(
    left.filter((f) => !f.endsWith('.manifest.json.age')),
    [],
    'no copy and no temporary file (the manifest, written first, waits for the next push)',
  );
  assert.deepEqual(collectCopies(await store.list()).copies, []);
});
