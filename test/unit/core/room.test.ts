// The disk-space guard's arithmetic and message as tables, and the estimate taken from the tree's
// newest backup of the kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveSettings } from '../../../lib/config/resolve.ts';
import { parseBackupName } from '../../../lib/core/naming.ts';
import { estimateFromBackups, judgeRoom, roomNeeded } from '../../../lib/core/room.ts';
import type { BackupFile } from '../../../lib/store/catalog.ts';

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
