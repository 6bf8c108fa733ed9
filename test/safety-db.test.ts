// Safety databases as tables: their names (63 bytes, never the stamp cut, same-second sequence),
// exact matching (never another live database's or a foreign name), the snapshots policy applied
// to them, the setting that chooses them, and how prune and list-backups show them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, resolveSettings } from '../lib/config.ts';
import { formatListing, toListedDatabase } from '../lib/listing.ts';
import { formatPlan, planPrune, planSafetyDatabases, pruneJson, NEWEST_REASON, type PruneOutcome } from '../lib/prune.ts';
import {
  clipBytes, MAX_NAME_BYTES, nextSafetyDatabaseName, parseInfixRows, parseSafetyDatabaseName, safetyDatabaseName, type SafetyDatabase,
} from '../lib/safety-name.ts';

const S = '2026_11_28T02_00_00';
const bytes = (s: string) => Buffer.byteLength(s);

test('clipBytes: at most n bytes, never inside a character', () => {
  for (const [text, max, expected] of [
    ['shop', 10, 'shop'],
    ['shop', 2, 'sh'],
    ['ñandú', 2, 'ñ'],
    ['ñandú', 1, ''],
    ['ñandú', 6, 'ñand'],
    ['🎉x', 3, ''],
    ['🎉x', 4, '🎉'],
  ] as const) {
    assert.equal(clipBytes(text, max), expected, `${text} / ${max}`);
  }
});

test('safetyDatabaseName: live name + _temp_before_restore_ + stamp [+ _N], within 63 bytes, the stamp never cut', () => {
  const fits = 'a'.repeat(MAX_NAME_BYTES - bytes(`_temp_before_restore_${S}`));
  const long1 = 'martina_bescos_app_production_primary';
  const long2 = 'martina_bescos_app_production_replica';
  const cases: [string, number, (name: string) => void][] = [
    ['shop', 1, (n) => assert.equal(n, `shop_temp_before_restore_${S}`)],
    ['shop', 2, (n) => assert.equal(n, `shop_temp_before_restore_${S}_2`)],
    ['shop', 12, (n) => assert.equal(n, `shop_temp_before_restore_${S}_12`)],
    // Exactly 63 bytes: kept whole.
    [fits, 1, (n) => assert.equal(n, `${fits}_temp_before_restore_${S}`)],
    // One byte more: cut, with a hash of the whole name.
    [`${fits}b`, 1, (n) => assert.match(n, new RegExp(`^a{16}_[0-9a-f]{6}_temp_before_restore_${S}$`))],
    [long1, 1, (n) => assert.match(n, new RegExp(`^martina_bescos_a_[0-9a-f]{6}_temp_before_restore_${S}$`))],
    [long1, 3, (n) => assert.match(n, new RegExp(`^martina_bescos_[0-9a-f]{6}_temp_before_restore_${S}_3$`))],
    // Multi-byte characters are cut whole (PostgreSQL would cut them the same way).
    ['ü'.repeat(30), 1, (n) => assert.match(n, new RegExp(`^ü{8}_[0-9a-f]{6}_temp_before_restore_${S}$`))],
    ['x'.repeat(200), 99, (n) => assert.match(n, new RegExp(`_temp_before_restore_${S}_99$`))],
  ];
  for (const [live, seq, check] of cases) {
    const name = safetyDatabaseName(live, S, seq);
    assert.ok(bytes(name) <= MAX_NAME_BYTES, `${name}: ${bytes(name)} bytes`);
    assert.equal(Buffer.from(name, 'utf8').toString('utf8'), name);
    check(name);
    assert.deepEqual(parseSafetyDatabaseName(name, live), { name, stamp: S, seq, time: new Date('2026-11-28T02:00:00Z') }, name);
  }
  // Two long live names that share their first bytes never share a safety name.
  assert.notEqual(safetyDatabaseName(long1, S), safetyDatabaseName(long2, S));
  assert.equal(parseSafetyDatabaseName(safetyDatabaseName(long1, S), long2), null);
  assert.throws(() => safetyDatabaseName('shop', '2026-11-28T02:00:00'), /not a stamp/);
  assert.throws(() => safetyDatabaseName('shop', S, 0), /bad sequence/);
});

test('parseSafetyDatabaseName: only the exact names of this live database', () => {
  const own = `shop_temp_before_restore_${S}`;
  for (const [name, live, matches] of [
    [own, 'shop', true],
    [`${own}_2`, 'shop', true],
    [`${own}_10`, 'shop', true],
    [own, 'shop2', false], // another live database's
    [`shop2_temp_before_restore_${S}`, 'shop', false],
    [`x_shop_temp_before_restore_${S}`, 'shop', false],
    [own, 'Shop', false],
    ['shop', 'shop', false],
    [`${own}_1`, 'shop', false], // the first has no _1
    [`${own}_02`, 'shop', false],
    [`${own}_2x`, 'shop', false],
    [`${own}_old`, 'shop', false],
    [`${own}.bak`, 'shop', false],
    ['shop_temp_before_restore_2026_13_28T02_00_00', 'shop', false], // no month 13
    ['shop_temp_before_restore_2026_02_30T02_00_00', 'shop', false],
    ['shop__restoring_123', 'shop', false],
    [`shop_unwanted`, 'shop', false],
    // A long live name: the cut name without its hash, or with another hash, is not it.
    [`martina_bescos_app_pro_temp_before_restore_${S}`, 'martina_bescos_app_production', false],
    [`martina_bescos_a_000000_temp_before_restore_${S}`, 'martina_bescos_app_production', false],
  ] as const) {
    assert.equal(parseSafetyDatabaseName(name, live) !== null, matches, `${name} as a safety database of ${live}`);
  }
});

test('nextSafetyDatabaseName: restores in the same second get _2, _3', () => {
  const base = `shop_temp_before_restore_${S}`;
  assert.equal(nextSafetyDatabaseName('shop', S, []), base);
  assert.equal(nextSafetyDatabaseName('shop', S, [base]), `${base}_2`);
  assert.equal(nextSafetyDatabaseName('shop', S, [base, `${base}_2`, `shop2_temp_before_restore_${S}`]), `${base}_3`);
  assert.equal(nextSafetyDatabaseName('shop', S, [`${base}_2`]), base);
});

test('parseInfixRows: psql\'s JSON row, sizes as numbers or null', () => {
  assert.deepEqual(parseInfixRows('[{"name":"a\\nb","size":12},{"name":"c","size":null}]'), [{ name: 'a\nb', size: 12 }, { name: 'c', size: null }]);
  assert.deepEqual(parseInfixRows(''), []);
});

// ---------------------------------------------------------------------------------------------
// The snapshots policy over safety databases.

const NOW = new Date('2027-01-15T12:00:00Z');
function sdb(stamp: string, seq = 1, live = 'shop', size: number | null = 1024): SafetyDatabase {
  const parsed = parseSafetyDatabaseName(safetyDatabaseName(live, stamp, seq), live);
  assert.ok(parsed);
  return { ...parsed, size };
}

test('planSafetyDatabases: the snapshots policy, newest always kept, same second by sequence', () => {
  const dbs = [sdb('2026_12_01T10_00_00'), sdb('2027_01_15T10_00_00'), sdb('2027_01_15T10_00_00', 2), sdb('2027_01_10T10_00_00'), sdb('2027_01_01T10_00_00')];
  const verdicts = (policy: Parameters<typeof planSafetyDatabases>[1]) =>
    planSafetyDatabases(dbs, policy, NOW).map((e) => `${e.db.stamp}${e.db.seq > 1 ? `_${e.db.seq}` : ''} ${e.action}${e.reasons.length ? `: ${e.reasons.join(', ')}` : ''}`);
  assert.deepEqual(verdicts({ keepLast: 2 }), [
    `2027_01_15T10_00_00_2 keep: last, ${NEWEST_REASON}`,
    '2027_01_15T10_00_00 keep: last',
    '2027_01_10T10_00_00 remove',
    '2027_01_01T10_00_00 remove',
    '2026_12_01T10_00_00 remove',
  ]);
  // The default: keepLast 3, keepWithin 7d.
  assert.deepEqual(verdicts({ keepLast: 3, keepWithin: '7d' }), [
    `2027_01_15T10_00_00_2 keep: last, within 7d, ${NEWEST_REASON}`,
    '2027_01_15T10_00_00 keep: last, within 7d',
    '2027_01_10T10_00_00 keep: last, within 7d',
    '2027_01_01T10_00_00 remove',
    '2026_12_01T10_00_00 remove',
  ]);
  // A policy that keeps none: the newest stays, and that is no refusal (restores are rare).
  assert.deepEqual(verdicts({ keepWithin: '1h' }).map((v) => v.split(' ').slice(1).join(' ')), [`keep: ${NEWEST_REASON}`, 'remove', 'remove', 'remove', 'remove']);
  assert.deepEqual(verdicts({}).every((v) => / keep: /.test(v)), true);
  assert.deepEqual(planSafetyDatabases([], { keepLast: 1 }, NOW), []);
});

test('prune shows safety databases: the dry run\'s table and summary, and --json', () => {
  const retention = { database: {}, media: {}, snapshots: { keepLast: 1 } };
  const entries = planSafetyDatabases([sdb('2027_01_15T10_00_00'), sdb('2027_01_01T10_00_00')], retention.snapshots, NOW);
  const outcome: PruneOutcome = {
    dryRun: true, backupDir: '/bk', plan: planPrune([], retention, NOW), checks: [], refusal: null, removed: [],
    databases: { live: 'shop', unavailable: null, entries, dropped: [] },
  };
  assert.equal(formatPlan(outcome, 'local', retention), [
    'Retention for environment "local" in /bk (now 2027-01-15T12:00:00Z):',
    '  database backups   keep everything',
    '  media backups      keep everything',
    '  safety snapshots   keep last 1 (database, media and safety databases, each apart)',
    '',
    'Safety databases of "shop" (the databases restores replaced, kept on the server):',
    '  shop_temp_before_restore_2027_01_15T10_00_00   keep    last, newest',
    '  shop_temp_before_restore_2027_01_01T10_00_00   remove',
    '',
    'Would drop 1 safety databases and keep 1.',
    'Dry run: nothing was changed.',
  ].join('\n'));
  const json = pruneJson({ ...outcome, dryRun: false, databases: { ...outcome.databases!, dropped: ['shop_temp_before_restore_2027_01_01T10_00_00'] } }, 'local', retention);
  assert.deepEqual(json.safetyDatabases, {
    database: 'shop',
    unavailable: null,
    databases: [
      { name: 'shop_temp_before_restore_2027_01_15T10_00_00', time: '2027-01-15T10:00:00.000Z', size: 1024, action: 'keep', reasons: ['last', NEWEST_REASON] },
      { name: 'shop_temp_before_restore_2027_01_01T10_00_00', time: '2027-01-01T10:00:00.000Z', size: 1024, action: 'remove', reasons: [] },
    ],
    drop: ['shop_temp_before_restore_2027_01_01T10_00_00'],
    dropped: ['shop_temp_before_restore_2027_01_01T10_00_00'],
  });
  const unreachable = pruneJson({ ...outcome, databases: { live: null, unavailable: 'cannot reach the database server: x', entries: [], dropped: [] } }, 'local', retention);
  assert.deepEqual(unreachable.safetyDatabases, { database: null, unavailable: 'cannot reach the database server: x', databases: [], drop: [], dropped: [] });
  assert.equal(pruneJson({ ...outcome, databases: null }, 'local', retention).safetyDatabases, null);
  assert.match(formatPlan({ ...outcome, databases: null }, 'local', retention), /\nNo backups here: nothing to prune\.$/);
});

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

test('config: restore.databaseSafetyCopy is keep by default, dump on request, anything else refused', () => {
  const resolve = (y: string | null) =>
    resolveSettings({ config: y === null ? null : parseConfig(y, 'c.yaml'), configPath: y === null ? null : '/c.yaml', envName: 'local', env: {}, cwd: '/w' });
  assert.deepEqual(resolve(null).restore, { databaseSafetyCopy: 'keep' });
  assert.deepEqual(resolve('environments:\n  local: {}\n').restore, { databaseSafetyCopy: 'keep' });
  assert.deepEqual(resolve('environments:\n  local:\n    restore: { databaseSafetyCopy: dump }\n').restore, { databaseSafetyCopy: 'dump' });
  assert.throws(() => resolve('environments:\n  local:\n    restore: { databaseSafetyCopy: drop }\n'), /environments\.local\.restore\.databaseSafetyCopy: /);
  assert.throws(() => resolve('environments:\n  local:\n    restore: { safetyCopy: keep }\n'), /environments\.local\.restore: .*safetyCopy/);
});
