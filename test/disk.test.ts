// The disk-space guard: its arithmetic and message as tables, the estimate taken from the tree,
// and end to end through backup-db with the free space injected (COMPOSE_BACKUP_FREE_BYTES).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { BackupFile } from '../lib/catalog.ts';
import { resolveSettings } from '../lib/config.ts';
import { FailedError, UsageError } from '../lib/errors.ts';
import { parseBackupName } from '../lib/naming.ts';
import {
  ensureRoom, ensureRoomForBackup, estimateFromBackups, judgeRoom, measureFreeBytes, roomNeeded, FREE_BYTES_VARIABLE,
} from '../lib/disk.ts';
import { createDb, type TempDb } from './helpers/pg.ts';
import { runScript, tempDir, ls, writeConfig } from './helpers/cli.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** The margin every environment gets unless its config says otherwise. */
const DEFAULT_MARGIN = resolveSettings({ config: null, configPath: null, envName: 'local', env: {}, cwd: '/' }).diskMargin;

test('the default margin is 10% plus 64 MiB', () => {
  assert.deepEqual(DEFAULT_MARGIN, { ratio: 0.1, bytes: 64 * MiB });
});

const NEEDED: [number, { ratio: number; bytes: number }, number][] = [
  [0, { ratio: 0.1, bytes: 64 * MiB }, 64 * MiB],
  [GiB, { ratio: 0.1, bytes: 64 * MiB }, Math.ceil(GiB * 1.1) + 64 * MiB],
  [1000, { ratio: 0, bytes: 0 }, 1000],
  [1001, { ratio: 0.5, bytes: 0 }, 1502], // rounded up: never ask for less than the estimate says
  [10, { ratio: 1, bytes: 5 }, 25],
];
for (const [estimate, margin, expected] of NEEDED) {
  test(`roomNeeded(${estimate}, ${JSON.stringify(margin)}) = ${expected}`, () => {
    assert.equal(roomNeeded(estimate, margin), expected);
  });
}

const JUDGE: { label: string; free: number; estimate: number; ok: boolean }[] = [
  { label: 'plenty of room', free: 10 * GiB, estimate: GiB, ok: true },
  { label: 'exactly enough', free: Math.ceil(GiB * 1.1) + 64 * MiB, estimate: GiB, ok: true },
  { label: 'one byte short', free: Math.ceil(GiB * 1.1) + 64 * MiB - 1, estimate: GiB, ok: false },
  { label: 'room for the backup but not the margin', free: GiB + MiB, estimate: GiB, ok: false },
  { label: 'nothing to go by (estimate 0): the margin alone never refuses', free: 0, estimate: 0, ok: true },
  { label: 'a full disk', free: 0, estimate: 1, ok: false },
];
for (const c of JUDGE) {
  test(`judgeRoom: ${c.label}`, () => {
    const v = judgeRoom({ dir: '/backups/postgres', free: c.free, estimate: c.estimate, margin: DEFAULT_MARGIN, basis: 'last backup' });
    assert.equal(v.ok, c.ok);
    assert.equal(v.needed, roomNeeded(c.estimate, DEFAULT_MARGIN));
    assert.equal(v.message === null, c.ok);
  });
}

test('judgeRoom: the refusal names the folder, the free and needed bytes (human and exact), and what to do', () => {
  const v = judgeRoom({ dir: '/backups/postgres', free: 500 * MiB, estimate: GiB, margin: DEFAULT_MARGIN, basis: 'last backup' });
  assert.equal(
    v.message,
    'not enough free space in /backups/postgres: 500 MiB (524288000 bytes) free, 1.2 GiB (1248224871 bytes) needed ' +
      '(last backup 1.0 GiB + 10% + 64 MiB margin); nothing was written. Free space on that filesystem, or remove old backups with ' +
      '"npx zx scripts/prune.ts --dry-run" then without --dry-run (see retention in the config)',
  );
});

function file(name: string, size: number): BackupFile {
  const parsed = parseBackupName(name)!;
  return { ...parsed, path: `/bk/${name}`, size, mtime: parsed.time, manifestPath: null };
}

const ESTIMATES: { label: string; files: BackupFile[]; kind: 'database' | 'media'; role: 'backup' | 'snapshot'; expected: number | null }[] = [
  { label: 'nothing yet', files: [], kind: 'database', role: 'backup', expected: null },
  {
    label: 'the newest backup of the kind, not the biggest',
    files: [file('backup_2026_01_02T00_00_00.sql.zst', 300), file('backup_2026_01_01T00_00_00.sql.zst', 900), file('media_backup_2026_01_03T00_00_00.tar.zst', 5000)],
    kind: 'database', role: 'backup', expected: 300,
  },
  {
    label: 'same second: the higher sequence number is newer',
    files: [file('backup_2026_01_02T00_00_00.sql.zst', 300), file('backup_2026_01_02T00_00_00-2.sql.zst', 400)],
    kind: 'database', role: 'backup', expected: 400,
  },
  {
    label: 'another environment\'s copies say nothing about this one',
    files: [file('production_backup_2026_01_05T00_00_00.sql.zst', 99999), file('backup_2026_01_01T00_00_00.sql.zst', 10)],
    kind: 'database', role: 'backup', expected: 10,
  },
  {
    label: 'a snapshot goes by the last snapshot',
    files: [file('temp_before_restore_2026_01_01T00_00_00.tar.zst', 70), file('media_backup_2026_01_05T00_00_00.tar.zst', 80)],
    kind: 'media', role: 'snapshot', expected: 70,
  },
  {
    label: 'a first snapshot goes by the last backup of its kind',
    files: [file('media_backup_2026_01_05T00_00_00.tar.zst', 80), file('temp_before_restore_2026_01_01T00_00_00.sql.zst', 1)],
    kind: 'media', role: 'snapshot', expected: 80,
  },
];
for (const c of ESTIMATES) {
  test(`estimateFromBackups: ${c.label}`, () => {
    assert.equal(estimateFromBackups(c.files, c.kind, c.role), c.expected);
  });
}

test('measureFreeBytes: the injected figure wins; a bad one is a usage error; else statfs of the nearest existing folder', async () => {
  assert.equal(await measureFreeBytes('/nowhere', { [FREE_BYTES_VARIABLE]: '12345' }), 12345);
  await assert.rejects(measureFreeBytes('/nowhere', { [FREE_BYTES_VARIABLE]: '12k' }), UsageError);
  const free = await measureFreeBytes(path.join(tempDir(), 'not', 'made', 'yet'), {});
  assert.ok(Number.isSafeInteger(free) && free > 0, String(free));
});

test('ensureRoom: throws FailedError when short; an estimate of 0 does not even measure', async () => {
  const free = (n: number) => async () => n;
  await assert.rejects(ensureRoom({ dir: '/d', estimate: GiB, margin: DEFAULT_MARGIN, freeBytes: free(GiB) }), (e: unknown) => e instanceof FailedError && e.exitCode === 1 && /not enough free space in \/d/.test(e.message));
  assert.equal((await ensureRoom({ dir: '/d', estimate: GiB, margin: DEFAULT_MARGIN, freeBytes: free(2 * GiB) })).ok, true);
  let measured = false;
  await ensureRoom({ dir: '/d', estimate: 0, margin: DEFAULT_MARGIN, freeBytes: async () => ((measured = true), 0) });
  assert.equal(measured, false);
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

// ---------------------------------------------------------------------------------------------
// End to end: backup-db refuses at the door, leaving nothing, when the disk is too full.

const dbs: TempDb[] = [];
after(() => dbs.forEach((d) => d.drop()));

test('backup-db with too little free space: exit 1 with the free and needed bytes, nothing created', async () => {
  const d = createDb('cbt_disk');
  dbs.push(d);
  const env = (free: number | null, bk: string) => ({ DATABASE_URL: d.url, BACKUP_DIR: bk, [FREE_BYTES_VARIABLE]: free === null ? undefined : String(free) });

  // A first backup: the estimate is the database's size / 3, plus the margin; 1000 bytes is not enough.
  const fresh = path.join(tempDir(), 'backups');
  const r1 = await runScript('backup-db', [], { env: env(1000, fresh) });
  assert.equal(r1.code, 1, r1.stderr);
  assert.equal(r1.stdout, '');
  assert.match(r1.stderr, new RegExp(`^error: not enough free space in ${fresh}/postgres: 1000 B \\(1000 bytes\\) free, \\S+ \\S+ \\(\\d+ bytes\\) needed \\(database size / 3 [^)]*\\); nothing was written\\. .*prune`, 'm'));
  assert.equal(r1.stderr.split('\n').filter((l) => l.startsWith('error:')).length, 1, r1.stderr);
  assert.equal(fs.existsSync(fresh), false, 'not even the folder was made');

  // With an earlier backup of 200 MiB, that is the estimate: one byte short refuses, exactly enough runs.
  const bk = tempDir();
  fs.mkdirSync(path.join(bk, 'postgres'));
  const previous = path.join(bk, 'postgres', 'backup_2020_01_01T00_00_00.sql.zst');
  fs.closeSync(fs.openSync(previous, 'w'));
  fs.truncateSync(previous, 200 * MiB); // sparse: takes no real space
  const needed = roomNeeded(200 * MiB, DEFAULT_MARGIN);
  const r2 = await runScript('backup-db', [], { env: env(needed - 1, bk) });
  assert.equal(r2.code, 1, r2.stderr);
  assert.ok(r2.stderr.includes(`(${needed - 1} bytes) free, 284 MiB (${needed} bytes) needed (last backup 200 MiB + 10% + 64 MiB margin)`), r2.stderr);
  assert.deepEqual(ls(path.join(bk, 'postgres')), ['backup_2020_01_01T00_00_00.sql.zst'], 'no new file, no temporary file');

  // (The fake previous backup would trip the shrink gate, which is not what this test is about.)
  const config = writeConfig(tempDir(), 'environments:\n  local:\n    verify: { onShrink: warn }\n');
  const r3 = await runScript('backup-db', ['--config', config], { env: env(needed, bk) });
  assert.equal(r3.code, 0, r3.stderr);
  assert.ok(fs.existsSync(r3.stdout.trim()));
});
