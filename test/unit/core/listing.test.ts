// list-backups' text and --json entries: the safety databases' section, media chains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatListing, toListed, toListedDatabase } from '../../../lib/core/listing.ts';
import { parseBackupName } from '../../../lib/core/naming.ts';
import type { BackupFile } from '../../../lib/store/catalog.ts';
import { parseSafetyDatabaseName, safetyDatabaseName, type SafetyDatabase } from '../../../lib/db/safety-names.ts';

const NOW = new Date('2027-01-15T12:00:00Z');
function sdb(stamp: string, seq = 1, live = 'shop', size: number | null = 1024): SafetyDatabase {
  const parsed = parseSafetyDatabaseName(safetyDatabaseName(live, stamp, seq), live);
  assert.ok(parsed);
  return { ...parsed, size };
}

test('list-backups shows safety databases in their own section, and as entries in --json', () => {
  const dbs = [sdb('2027_01_15T10_00_00', 1, 'shop', 3 * 1024 * 1024), sdb('2027_01_01T10_00_00', 2, 'shop', null)];
  assert.equal(formatListing([], NOW, 'local', { live: 'shop', databases: dbs }), [
    'Database backups:',
    '  (none)',
    'Media backups:',
    '  (none)',
    'Safety databases of "shop" (replaced by restores, kept on the server):',
    '  shop_temp_before_restore_2027_01_15T10_00_00      3.0 MiB    2h 0m ago  local',
    '  shop_temp_before_restore_2027_01_01T10_00_00_2          ?   14d 2h ago  local',
  ].join('\n'));
  assert.doesNotMatch(formatListing([], NOW, 'local', { live: 'shop', databases: [] }), /Safety databases/);
  assert.deepEqual(toListedDatabase(dbs[1]!, NOW, 'local'), {
    name: 'shop_temp_before_restore_2027_01_01T10_00_00_2', kind: 'database', role: 'safety-database', set: '2027_01_01T10_00_00-2',
    environment: 'local', size: null, time: '2027-01-01T10:00:00.000Z', ageSeconds: 14 * 86400 + 7200, path: null, hasManifest: false,
  });
});

function file(name: string, size: number): BackupFile {
  const p = parseBackupName(name);
  assert.ok(p, name);
  return { ...p, path: `/b/${p.kind === 'media' ? 'media' : 'postgres'}/${name}`, size, mtime: p.time, manifestPath: null };
}

test('list-backups shows media chains: each full, its incrementals under it with sizes, the chain\'s total; a broken chain says what is missing', () => {
  const now = new Date('2026-12-08T12:00:00Z');
  const all = [
    file('backup_2026_12_07T02_00_00.sql.zst', 5000),
    file('media_backup_2026_12_07T02_00_00.inc1.tar.zst', 2048),
    file('media_backup_2026_12_06T02_00_00.tar.zst', 3 * 1024 * 1024),
    file('media_backup_2026_12_04T02_00_00.inc3.tar.zst', 1024),
    file('media_backup_2026_12_02T02_00_00.inc1.tar.zst', 4096),
    file('media_backup_2026_12_01T02_00_00.tar.zst', 2 * 1024 * 1024),
    file('production_media_backup_2026_11_30T02_00_00.inc1.tar.zst', 512),
    file('production_media_backup_2026_11_29T02_00_00.tar.zst', 1024 * 1024),
  ];
  assert.equal(formatListing(all, now, 'local'), [
    'Database backups:',
    '  backup_2026_12_07T02_00_00.sql.zst    4.9 KiB   1d 10h ago  local',
    'Media backups:',
    '  media_backup_2026_12_06T02_00_00.tar.zst                      3.0 MiB   2d 10h ago  local',
    '    media_backup_2026_12_07T02_00_00.inc1.tar.zst               2.0 KiB   1d 10h ago  local',
    '    = chain of 2 archives                                       3.0 MiB',
    '  (broken chain: media_backup_2026_12_04T02_00_00.inc3.tar.zst builds on a level-2 archive that is not there)',
    '    media_backup_2026_12_04T02_00_00.inc3.tar.zst               1.0 KiB   4d 10h ago  local',
    '  media_backup_2026_12_01T02_00_00.tar.zst                      2.0 MiB   7d 10h ago  local',
    '    media_backup_2026_12_02T02_00_00.inc1.tar.zst               4.0 KiB   6d 10h ago  local',
    '    = chain of 2 archives                                       2.0 MiB',
    '  production_media_backup_2026_11_29T02_00_00.tar.zst           1.0 MiB   9d 10h ago  production',
    '    production_media_backup_2026_11_30T02_00_00.inc1.tar.zst      512 B   8d 10h ago  production',
    '    = chain of 2 archives                                       1.0 MiB',
  ].join('\n'));
  const listed = all.map((b) => toListed(b, now, 'local', all));
  assert.deepEqual(listed.map((l) => [l.name, l.level, l.parent]), [
    ['backup_2026_12_07T02_00_00.sql.zst', undefined, undefined],
    ['media_backup_2026_12_07T02_00_00.inc1.tar.zst', 1, 'media_backup_2026_12_06T02_00_00.tar.zst'],
    ['media_backup_2026_12_06T02_00_00.tar.zst', 0, null],
    ['media_backup_2026_12_04T02_00_00.inc3.tar.zst', 3, null],
    ['media_backup_2026_12_02T02_00_00.inc1.tar.zst', 1, 'media_backup_2026_12_01T02_00_00.tar.zst'],
    ['media_backup_2026_12_01T02_00_00.tar.zst', 0, null],
    ['production_media_backup_2026_11_30T02_00_00.inc1.tar.zst', 1, 'production_media_backup_2026_11_29T02_00_00.tar.zst'],
    ['production_media_backup_2026_11_29T02_00_00.tar.zst', 0, null],
  ]);
  assert.ok(!('level' in listed[0]!), 'database entries as before');
});

test('list-backups without incrementals: media newest first, as before', () => {
  const now = new Date('2026-12-08T12:00:00Z');
  const all = [file('media_backup_2026_12_06T02_00_00.tar.zst', 2048), file('media_backup_2026_12_01T02_00_00.tar.zst', 1024)];
  assert.equal(formatListing(all, now, 'local'), [
    'Database backups:',
    '  (none)',
    'Media backups:',
    '  media_backup_2026_12_06T02_00_00.tar.zst    2.0 KiB   2d 10h ago  local',
    '  media_backup_2026_12_01T02_00_00.tar.zst    1.0 KiB   7d 10h ago  local',
  ].join('\n'));
});
