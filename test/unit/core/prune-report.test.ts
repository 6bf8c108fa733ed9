// How prune shows its plan: the dry run's text (sets side by side, snapshots, other environments,
// checks, totals), --json, and the safety databases in both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planPrune, planSafetyDatabases, refusalLine, NEWEST_REASON, UNMANAGED_REASON, type PruneOutcome, type PrunePlan } from '../../../lib/core/prune-plan.ts';
import { formatPlan, pruneJson } from '../../../lib/core/prune-report.ts';
import { NOW, DIR, file, retention, DEFAULT_RETENTION, db, media, sdb } from '../../helpers/prune-fixtures.ts';

function outcomeOf(plan: PrunePlan, over: Partial<PruneOutcome> = {}): PruneOutcome {
  return { dryRun: true, backupDir: DIR, plan, checks: [], refusal: null, removed: [], databases: null, ...over };
}

test('formatPlan: database and media side by side per set, snapshots and other environments apart', () => {
  const ret = retention({ database: { keepDaily: 2 }, media: { keepLast: 1 }, snapshots: { keepLast: 3 } });
  const plan = planPrune(
    [
      db('2026_12_31T03_00_00'), media('2026_12_31T03_00_00'), db('2026_12_30T03_00_00'), media('2026_12_30T03_00_00'),
      db('2026_12_29T03_00_00'), media('2026_12_28T03_00_00'), 'backup_2026_12_31T03_00_00-2.sql.gz',
      'temp_before_restore_2026_12_15T10_00_00.sql.zst', 'production_backup_2026_12_01T03_00_00.sql.zst',
    ].map((n) => file(n, { size: 1024 })),
    ret, NOW,
  );
  const checks = [{ group: 'database backups', name: 'backup_2026_12_31T03_00_00-2.sql.gz', path: '/x', failure: null }];
  assert.equal(formatPlan(outcomeOf(plan, { checks }), 'local', ret), [
    'Retention for environment "local" in /bk (now 2026-12-31T12:00:00Z):',
    '  database backups   keep daily 2',
    '  media backups      keep last 1',
    '  safety snapshots   keep last 3 (database, media and safety databases, each apart)',
    '',
    'Backup sets, newest first (database | media):',
    '  set                     database                           media',
    '  2026_12_31T03_00_00-2   keep    daily 2026-12-31, newest   -',
    '  2026_12_31T03_00_00     remove                             keep    last, newest',
    '  2026_12_30T03_00_00     keep    daily 2026-12-30           remove',
    '  2026_12_29T03_00_00     remove                             -',
    '  2026_12_28T03_00_00     -                                  remove',
    '',
    'Safety snapshots (taken before restores):',
    '  temp_before_restore_2026_12_15T10_00_00.sql.zst   keep    last, newest',
    '',
    'Other environments (downloaded copies):',
    `  production_backup_2026_12_01T03_00_00.sql.zst   ${UNMANAGED_REASON}`,
    '',
    'Completeness check of the newest backup of each group being pruned:',
    '  ok       backup_2026_12_31T03_00_00-2.sql.gz',
    '',
    'Would remove 4 backups (4.0 KiB) with their manifests and keep 4.',
    'Dry run: nothing was changed.',
  ].join('\n'));
});

test('formatPlan: empty tree, nothing to remove, refusal', () => {
  assert.match(formatPlan(outcomeOf(planPrune([], DEFAULT_RETENTION, NOW)), 'local', DEFAULT_RETENTION), /\n\nNo backups here: nothing to prune\.$/);
  const kept = planPrune([file(db('2026_12_31T03_00_00'))], DEFAULT_RETENTION, NOW);
  assert.match(formatPlan(outcomeOf(kept), 'local', DEFAULT_RETENTION), /\nNothing to remove: all 1 backups are kept\.\nDry run: nothing was changed\.$/);
  const ret = retention({ database: { keepWithin: '1d' } });
  const refused = planPrune([file(db('2026_01_01T03_00_00'))], ret, NOW);
  const text = formatPlan(outcomeOf(refused, { refusal: refusalLine(refused, []) }), 'local', ret);
  assert.match(text, /\nRefusing to prune, nothing was removed: database backups: the database policy/);
});

test('pruneJson: every backup with its action and reasons, the plan\'s removals, counts', () => {
  const ret = retention({ media: { keepLast: 1 } });
  const plan = planPrune(
    [media('2026_12_31T03_00_00'), media('2026_12_30T03_00_00'), 'production_backup_2026_12_01T03_00_00.sql.zst'].map((n) => file(n, { size: 10 })),
    ret, NOW,
  );
  const json = pruneJson(outcomeOf(plan, { dryRun: false, removed: ['/bk/media/media_backup_2026_12_30T03_00_00.tar.zst'] }), 'local', ret);
  assert.deepEqual(json.groups.map((g) => [g.kind, g.role, g.environment, g.managed, g.policy, g.backups.map((b) => [b.name, b.action, b.reasons])]), [
    ['media', 'backup', 'local', true, 'media', [
      ['media_backup_2026_12_31T03_00_00.tar.zst', 'keep', ['last', NEWEST_REASON]],
      ['media_backup_2026_12_30T03_00_00.tar.zst', 'remove', []],
    ]],
    ['database', 'backup', 'production', false, null, [['production_backup_2026_12_01T03_00_00.sql.zst', 'unmanaged', [UNMANAGED_REASON]]]],
  ]);
  assert.deepEqual(json.remove, ['/bk/media/media_backup_2026_12_30T03_00_00.tar.zst']);
  assert.deepEqual(json.summary, { keep: 1, remove: 1, unmanaged: 1, removeBytes: 10 });
  assert.equal(json.policies.media.text, 'keep last 1');
  assert.equal(json.groups[0]!.backups[0]!.set, '2026_12_31T03_00_00');
  assert.equal(json.now, NOW.toISOString());
});

const SDB_NOW = new Date('2027-01-15T12:00:00Z');

test('prune shows safety databases: the dry run\'s table and summary, and --json', () => {
  const retention = { database: {}, media: {}, snapshots: { keepLast: 1 } };
  const entries = planSafetyDatabases([sdb('2027_01_15T10_00_00'), sdb('2027_01_01T10_00_00')], retention.snapshots, SDB_NOW);
  const outcome: PruneOutcome = {
    dryRun: true, backupDir: '/bk', plan: planPrune([], retention, SDB_NOW), checks: [], refusal: null, removed: [],
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
