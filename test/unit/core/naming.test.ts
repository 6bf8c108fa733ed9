import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatStamp, makeBackupName, parseBackupName, parseStamp, newestFirst, tempName, setKey } from '../../../lib/core/naming.ts';

test('formatStamp uses UTC whatever the local zone', () => {
  assert.equal(formatStamp(new Date('2026-03-29T01:30:05Z')), '2026_03_29T01_30_05');
  assert.equal(formatStamp(new Date('2024-01-15T14:30:00+02:00')), '2024_01_15T12_30_00');
});

const cases: [string, Record<string, unknown> | null][] = [
  ['backup_2024_01_15T14_30_00.sql.gz', { kind: 'database', role: 'backup', codec: 'gzip', env: null, seq: 1 }],
  ['backup_2024_01_15T14_30_00.sql.zst', { kind: 'database', role: 'backup', codec: 'zstd', env: null, seq: 1 }],
  ['backup_2024_01_15T14_30_00-2.sql.zst', { kind: 'database', seq: 2 }],
  ['media_backup_2024_01_15T14_30_00.tar.gz', { kind: 'media', role: 'backup', codec: 'gzip', env: null }],
  ['media_backup_2024_01_15T14_30_00.tar.zst', { kind: 'media', codec: 'zstd' }],
  ['temp_before_restore_2024_01_15T14_30_00.tar.zst', { kind: 'media', role: 'snapshot' }],
  ['temp_before_restore_2024_01_15T14_30_00.sql.zst', { kind: 'database', role: 'snapshot' }],
  ['production_backup_2024_01_15T14_30_00.sql.gz', { kind: 'database', env: 'production' }],
  ['production_media_backup_2024_01_15T14_30_00.tar.gz', { kind: 'media', env: 'production' }],
  ['stage-2_media_backup_2024_01_15T14_30_00-3.tar.zst', { kind: 'media', env: 'stage-2', seq: 3 }],
  ['media_backup_2024_01_15T14_30_00.tar.zst', { kind: 'media', level: 0 }],
  ['media_backup_2024_01_15T14_30_00.inc1.tar.zst', { kind: 'media', role: 'backup', level: 1, seq: 1 }],
  ['media_backup_2024_01_15T14_30_00-2.inc12.tar.gz', { kind: 'media', level: 12, seq: 2, codec: 'gzip' }],
  ['production_media_backup_2024_01_15T14_30_00.inc3.tar.zst', { kind: 'media', env: 'production', level: 3 }],
  ['backup_2024_01_15T14_30_00.sql.zst', { kind: 'database', level: 0 }],
  // Not ours: never touched.
  ['backup_2024_01_15T14_30_00.tar.gz', null],
  // Levels: only media backups have them, written .incN with N ≥ 1 and no leading zero.
  ['media_backup_2024_01_15T14_30_00.inc0.tar.zst', null],
  ['media_backup_2024_01_15T14_30_00.inc01.tar.zst', null],
  ['media_backup_2024_01_15T14_30_00.inc.tar.zst', null],
  ['media_backup_2024_01_15T14_30_00.inc1-2.tar.zst', null],
  ['backup_2024_01_15T14_30_00.inc1.sql.zst', null],
  ['temp_before_restore_2024_01_15T14_30_00.inc1.tar.zst', null],
  ['media_backup_2024_01_15T14_30_00.sql.gz', null],
  ['backup_2024_01_15T14_30_00.sql', null],
  ['backup_2024_01_15T14_30_00.sql.gz.tmp', null],
  ['backup_2024_02_30T14_30_00.sql.gz', null],
  ['backup_2024_01_15T24_30_00.sql.gz', null],
  ['backup_2024_01_15T14_30_00-1.sql.gz', null],
  ['backup_2024_01_15T14_30_00-01.sql.gz', null],
  ['Production_backup_2024_01_15T14_30_00.sql.gz', null],
  ['../backup_2024_01_15T14_30_00.sql.gz', null],
  ['.backup_2024_01_15T14_30_00.sql.gz.partial-abc', null],
  ['notes.txt', null],
  ['.env', null],
  ['backup.log', null],
];

for (const [name, expected] of cases) {
  test(`parseBackupName(${JSON.stringify(name)})`, () => {
    const parsed = parseBackupName(name);
    if (expected === null) return assert.equal(parsed, null);
    assert.ok(parsed, 'should parse');
    for (const [k, v] of Object.entries(expected)) assert.deepEqual((parsed as never)[k], v, k);
    // Round trip: the name is rebuilt exactly from its parts.
    assert.equal(makeBackupName(parsed), name);
  });
}

test('parsed time is the UTC stamp', () => {
  assert.equal(parseBackupName('backup_2024_01_15T14_30_00.sql.gz')?.time.toISOString(), '2024-01-15T14:30:00.000Z');
  assert.equal(parseStamp('2024_01_15T14_30_00')?.toISOString(), '2024-01-15T14:30:00.000Z');
  assert.equal(parseStamp('2024_13_15T14_30_00'), null);
});

test('newestFirst orders by time then sequence', () => {
  const names = ['backup_2024_01_15T14_30_00.sql.gz', 'backup_2024_01_15T14_30_00-2.sql.gz', 'backup_2025_01_01T00_00_00.sql.zst']
    .map((n) => parseBackupName(n)!);
  assert.deepEqual(names.sort(newestFirst).map((b) => b.name), [
    'backup_2025_01_01T00_00_00.sql.zst', 'backup_2024_01_15T14_30_00-2.sql.gz', 'backup_2024_01_15T14_30_00.sql.gz',
  ]);
});

test('temporary names never parse as backups; set keys pair halves', () => {
  assert.equal(parseBackupName(tempName('backup_2024_01_15T14_30_00.sql.gz', 'x1')), null);
  const db = parseBackupName('backup_2024_01_15T14_30_00-2.sql.zst')!;
  const media = parseBackupName('media_backup_2024_01_15T14_30_00-2.tar.zst')!;
  assert.equal(setKey(db), setKey(media));
  assert.equal(setKey(db), '2024_01_15T14_30_00-2');
});
