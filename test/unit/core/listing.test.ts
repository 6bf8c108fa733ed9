// list-backups' text and --json entries; here the safety databases' section.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatListing, toListedDatabase } from '../../../lib/core/listing.ts';
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
