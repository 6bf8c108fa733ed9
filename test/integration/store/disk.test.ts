// Measuring free space on real filesystems (or the injected figure), the guard with the free space
// given, and the guard before a new backup estimating from the tree on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { FailedError, NoSpaceError, UsageError } from '../../../lib/cli/errors.ts';
import { resolveSettings } from '../../../lib/config/resolve.ts';
import { ensureRoom, ensureRoomForBackup, measureFreeBytes, FREE_BYTES_VARIABLE } from '../../../lib/store/disk.ts';
import { tempDir } from '../../helpers/cli.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** The margin every environment gets unless its config says otherwise. */
const DEFAULT_MARGIN = resolveSettings({ config: null, configPath: null, envName: 'local', env: {}, cwd: '/' }).diskMargin;

test('measureFreeBytes: the injected figure wins; a bad one is a usage error; else statfs of the nearest existing folder', async () => {
  assert.equal(await measureFreeBytes('/nowhere', { [FREE_BYTES_VARIABLE]: '12345' }), 12345);
  await assert.rejects(measureFreeBytes('/nowhere', { [FREE_BYTES_VARIABLE]: '12k' }), UsageError);
  const free = await measureFreeBytes(path.join(tempDir(), 'not', 'made', 'yet'), {});
  assert.ok(Number.isSafeInteger(free) && free > 0, String(free));
});

test('ensureRoomForBackup: estimates from the tree, else from the fallback', async () => {
  const bk = tempDir();
  const margin = { ratio: 0, bytes: 0 };
  const seen: string[] = [];
  const freeBytes = async (dir: string) => (seen.push(dir), 1000);
  // No earlier backup: the fallback decides.
  const fallback = { estimate: async () => 1001, basis: 'database size / 3' };
  await assert.rejects(ensureRoomForBackup({ backupDir: bk, kind: 'database', role: 'backup', margin, fallback, freeBytes }), /database size \/ 3 1001 B/);
  assert.deepEqual(seen, [path.join(bk, 'postgres')]);
  assert.equal(fs.existsSync(path.join(bk, 'postgres')), false, 'the guard creates nothing');
  // An earlier backup of 999 bytes: it decides, and the fallback is not asked.
  fs.mkdirSync(path.join(bk, 'postgres'));
  fs.writeFileSync(path.join(bk, 'postgres', 'backup_2026_01_01T00_00_00.sql.zst'), Buffer.alloc(999));
  fs.writeFileSync(path.join(bk, 'postgres', 'notes.txt'), Buffer.alloc(5000));
  const v = await ensureRoomForBackup({ backupDir: bk, kind: 'database', role: 'backup', margin, fallback: { estimate: async () => assert.fail('not asked'), basis: 'x' }, freeBytes });
  assert.equal(v.needed, 999);
  // Media without any earlier backup and no fallback: nothing to go by, no refusal.
  assert.equal((await ensureRoomForBackup({ backupDir: bk, kind: 'media', role: 'backup', margin, freeBytes: async () => 0 })).ok, true);
});

test('ensureRoom: throws NoSpaceError (a FailedError, exit 1) when short; an estimate of 0 does not even measure', async () => {
  const free = (n: number) => async () => n;
  await assert.rejects(ensureRoom({ dir: '/d', estimate: GiB, margin: DEFAULT_MARGIN, freeBytes: free(GiB) }), (e: unknown) => e instanceof NoSpaceError && e instanceof FailedError && e.exitCode === 1 && /not enough free space in \/d/.test(e.message));
  assert.equal((await ensureRoom({ dir: '/d', estimate: GiB, margin: DEFAULT_MARGIN, freeBytes: free(2 * GiB) })).ok, true);
  let measured = false;
  await ensureRoom({ dir: '/d', estimate: 0, margin: DEFAULT_MARGIN, freeBytes: async () => ((measured = true), 0) });
  assert.equal(measured, false);
});
