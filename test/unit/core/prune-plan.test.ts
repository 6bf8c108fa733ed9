// Prune planning as tables: the command's safety rules on top of lib/core/retention (newest kept,
// refusal when a policy keeps nothing, groups apart, other environments untouched), and the
// snapshots policy over safety databases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainOf } from '../../../lib/core/chains.ts';
import {
  groupLabel, groupsToPrune, planPrune, planSafetyDatabases, refusalLine, NEWEST_REASON, type PrunePlan, type Retention,
} from '../../../lib/core/prune-plan.ts';
import { KEEP_ALL_REASON, type Policy } from '../../../lib/core/retention.ts';
import { NOW, file, retention, DEFAULT_RETENTION, db, media, sdb } from '../../helpers/prune-fixtures.ts';

/** name → "keep: reasons" / "remove" / "unmanaged", for compact expectations. */
function verdicts(plan: PrunePlan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of plan.groups) for (const e of g.entries) out[e.file.name] = e.action === 'keep' ? `keep: ${e.reasons.join(', ')}` : e.action;
  return out;
}

const CASES: { label: string; files: string[]; retention: Retention; expect: Record<string, string>; refusals?: RegExp[] }[] = [
  {
    label: 'the newest carries "newest" beside its policy reasons',
    files: [db('2026_12_31T03_00_00'), db('2026_12_30T03_00_00'), db('2026_12_29T03_00_00')],
    retention: retention({ database: { keepDaily: 2 } }),
    expect: {
      [db('2026_12_31T03_00_00')]: `keep: daily 2026-12-31, ${NEWEST_REASON}`,
      [db('2026_12_30T03_00_00')]: 'keep: daily 2026-12-30',
      [db('2026_12_29T03_00_00')]: 'remove',
    },
  },
  {
    label: 'a policy that keeps nothing: the newest is still kept, and the plan is refused',
    files: [db('2026_12_01T03_00_00'), db('2026_11_30T03_00_00')],
    retention: retention({ database: { keepWithin: '1d' } }),
    expect: { [db('2026_12_01T03_00_00')]: `keep: ${NEWEST_REASON}`, [db('2026_11_30T03_00_00')]: 'remove' },
    refusals: [/^database backups: the database policy \(keep within 1d\) would remove all 2 of them \(the newest, backup_2026_12_01T03_00_00\.sql\.zst, is 30d 9h old\); widen the policy/],
  },
  {
    label: 'kinds are separate groups: database dumps kept longer than media',
    files: [db('2026_12_31T03_00_00'), media('2026_12_31T03_00_00'), db('2026_10_01T03_00_00'), media('2026_10_01T03_00_00')],
    retention: retention({ database: { keepMonthly: 12 }, media: { keepWithin: '30d' } }),
    expect: {
      [db('2026_12_31T03_00_00')]: `keep: monthly 2026-12, ${NEWEST_REASON}`,
      [db('2026_10_01T03_00_00')]: 'keep: monthly 2026-10',
      [media('2026_12_31T03_00_00')]: `keep: within 30d, ${NEWEST_REASON}`,
      [media('2026_10_01T03_00_00')]: 'remove',
    },
  },
  {
    label: 'one kind refused does not hide the other kind\'s plan',
    files: [db('2026_12_31T03_00_00'), media('2026_10_02T03_00_00'), media('2026_10_01T03_00_00')],
    retention: retention({ media: { keepWithin: '30d' } }),
    expect: {
      [db('2026_12_31T03_00_00')]: `keep: ${KEEP_ALL_REASON}, ${NEWEST_REASON}`,
      [media('2026_10_02T03_00_00')]: `keep: ${NEWEST_REASON}`,
      [media('2026_10_01T03_00_00')]: 'remove',
    },
    refusals: [/^media backups: the media policy \(keep within 30d\)/],
  },
  {
    label: 'snapshots use the snapshots policy, database and media each on their own',
    files: [
      'temp_before_restore_2026_12_30T10_00_00.sql.zst', 'temp_before_restore_2026_12_01T10_00_00.sql.zst',
      'temp_before_restore_2026_11_01T10_00_00.tar.zst', 'temp_before_restore_2026_10_01T10_00_00.tar.zst',
      db('2026_01_01T03_00_00'),
    ],
    retention: retention({ database: { keepLast: 1 }, snapshots: { keepLast: 1 } }),
    expect: {
      'temp_before_restore_2026_12_30T10_00_00.sql.zst': `keep: last, ${NEWEST_REASON}`,
      'temp_before_restore_2026_12_01T10_00_00.sql.zst': 'remove',
      'temp_before_restore_2026_11_01T10_00_00.tar.zst': `keep: last, ${NEWEST_REASON}`,
      'temp_before_restore_2026_10_01T10_00_00.tar.zst': 'remove',
      // A snapshot is not a backup: the database backup group's newest is the backup.
      [db('2026_01_01T03_00_00')]: `keep: last, ${NEWEST_REASON}`,
    },
  },
  {
    label: 'another environment\'s copies are never managed, whatever the policy',
    files: [
      db('2026_12_31T03_00_00'), db('2026_01_01T03_00_00'),
      'production_backup_2026_01_01T03_00_00.sql.zst', 'production_media_backup_2020_01_01T03_00_00.tar.zst',
      'staging_temp_before_restore_2020_01_01T03_00_00.sql.gz',
    ],
    retention: retention({ database: { keepLast: 1 }, media: { keepLast: 1 }, snapshots: { keepLast: 1 } }),
    expect: {
      [db('2026_12_31T03_00_00')]: `keep: last, ${NEWEST_REASON}`,
      [db('2026_01_01T03_00_00')]: 'remove',
      'production_backup_2026_01_01T03_00_00.sql.zst': 'unmanaged',
      'production_media_backup_2020_01_01T03_00_00.tar.zst': 'unmanaged',
      'staging_temp_before_restore_2020_01_01T03_00_00.sql.gz': 'unmanaged',
    },
  },
  {
    label: 'same second: the higher sequence number is the newer (2 before 1, 10 before 2)',
    files: [db('2026_12_31T03_00_00'), db('2026_12_31T03_00_00', '-2'), db('2026_12_31T03_00_00', '-10')],
    retention: retention({ database: { keepLast: 2 } }),
    expect: {
      [db('2026_12_31T03_00_00', '-10')]: `keep: last, ${NEWEST_REASON}`,
      [db('2026_12_31T03_00_00', '-2')]: 'keep: last',
      [db('2026_12_31T03_00_00')]: 'remove',
    },
  },
  {
    label: 'the defaults: database keeps everything, media 30 days, snapshots last 3 + 7 days',
    files: [
      db('2024_01_01T03_00_00'), db('2026_12_31T03_00_00'), media('2026_12_31T03_00_00'), media('2026_11_01T03_00_00'),
      ...['2026_12_30', '2026_12_20', '2026_12_10', '2026_12_01', '2026_11_01'].map((d) => `temp_before_restore_${d}T10_00_00.tar.zst`),
    ],
    retention: DEFAULT_RETENTION,
    expect: {
      [db('2026_12_31T03_00_00')]: `keep: ${KEEP_ALL_REASON}, ${NEWEST_REASON}`,
      [db('2024_01_01T03_00_00')]: `keep: ${KEEP_ALL_REASON}`,
      [media('2026_12_31T03_00_00')]: `keep: within 30d, ${NEWEST_REASON}`,
      [media('2026_11_01T03_00_00')]: 'remove',
      'temp_before_restore_2026_12_30T10_00_00.tar.zst': `keep: last, within 7d, ${NEWEST_REASON}`,
      'temp_before_restore_2026_12_20T10_00_00.tar.zst': 'keep: last',
      'temp_before_restore_2026_12_10T10_00_00.tar.zst': 'keep: last',
      'temp_before_restore_2026_12_01T10_00_00.tar.zst': 'remove',
      'temp_before_restore_2026_11_01T10_00_00.tar.zst': 'remove',
    },
  },
  { label: 'nothing at all', files: [], retention: DEFAULT_RETENTION, expect: {} },
];

for (const c of CASES) {
  test(`planPrune: ${c.label}`, () => {
    const files = c.files.map((n) => file(n));
    const plan = planPrune(files, c.retention, NOW);
    assert.deepEqual(verdicts(plan), c.expect);
    assert.equal(plan.refusals.length, c.refusals?.length ?? 0, plan.refusals.join('\n'));
    c.refusals?.forEach((re, i) => assert.match(plan.refusals[i]!, re));
    // Invariants: every file in exactly one group; remove = the entries marked remove; never a newest, never another environment's.
    assert.equal(plan.groups.reduce((n, g) => n + g.entries.length, 0), files.length);
    assert.deepEqual(plan.remove.map((f) => f.name).sort(), Object.keys(c.expect).filter((n) => c.expect[n] === 'remove').sort());
    for (const g of plan.groups) {
      assert.ok(g.entries.every((e) => e.file.kind === g.kind && e.file.role === g.role && e.file.env === g.env), 'one group, one kind/role/env');
      if (g.env === null) assert.equal(g.entries[0]!.action, 'keep');
    }
    assert.ok(plan.remove.every((f) => f.env === null));
    // The input's order must not matter.
    assert.deepEqual(verdicts(planPrune([...files].reverse(), c.retention, NOW)), c.expect);
  });
}

test('planPrune orders groups: own backups, own snapshots, then other environments by name', () => {
  const plan = planPrune(
    ['staging_backup_2026_01_01T00_00_00.sql.zst', 'temp_before_restore_2026_01_01T00_00_00.tar.zst', media('2026_01_01T00_00_00'),
      'production_backup_2026_01_01T00_00_00.sql.zst', db('2026_01_01T00_00_00'), 'temp_before_restore_2026_01_01T00_00_00.sql.zst'].map((n) => file(n)),
    DEFAULT_RETENTION, NOW,
  );
  assert.deepEqual(plan.groups.map((g) => [groupLabel(g), g.policyName]), [
    ['database backups', 'database'],
    ['media backups', 'media'],
    ['database safety snapshots', 'snapshots'],
    ['media safety snapshots', 'snapshots'],
    ['production database backups', null],
    ['staging database backups', null],
  ]);
});

test('groupsToPrune: only this environment\'s groups that remove something', () => {
  const plan = planPrune(
    [db('2026_12_31T03_00_00'), db('2026_01_01T03_00_00'), media('2026_12_31T03_00_00'), 'production_backup_2020_01_01T03_00_00.sql.zst'].map((n) => file(n)),
    retention({ database: { keepLast: 1 } }), NOW,
  );
  assert.deepEqual(groupsToPrune(plan).map(groupLabel), ['database backups']);
});

test('refusalLine joins the plan\'s refusals and failed checks into one line', () => {
  const plan = planPrune([db('2026_01_01T03_00_00')].map((n) => file(n)), retention({ database: { keepWithin: '1d' } }), NOW);
  const line = refusalLine(plan, [
    { group: 'media backups', name: 'm.tar.zst', path: '/x', failure: 'tar failed (exit 2): Unexpected EOF' },
    { group: 'database backups', name: 'ok.sql.zst', path: '/y', failure: null },
  ]);
  assert.match(line!, /^refusing to prune, nothing was removed: database backups: the database policy .*; media backups: the newest, m\.tar\.zst, fails the completeness check \(tar failed \(exit 2\): Unexpected EOF\); look into it/);
  assert.ok(!line!.includes('\n'));
  assert.equal(refusalLine(planPrune([], DEFAULT_RETENTION, NOW), []), null);
});

test('an invalid policy in code is a usage error, not a prune of everything', () => {
  assert.throws(() => planPrune([file(db('2026_01_01T03_00_00'))], retention({ database: { keepDaily: 0 } as Policy }), NOW), /invalid retention policy/);
});

// ---------------------------------------------------------------------------------------------
// The snapshots policy over safety databases.

const SDB_NOW = new Date('2027-01-15T12:00:00Z');

test('planSafetyDatabases: the snapshots policy, newest always kept, same second by sequence', () => {
  const dbs = [sdb('2026_12_01T10_00_00'), sdb('2027_01_15T10_00_00'), sdb('2027_01_15T10_00_00', 2), sdb('2027_01_10T10_00_00'), sdb('2027_01_01T10_00_00')];
  const verdicts = (policy: Parameters<typeof planSafetyDatabases>[1]) =>
    planSafetyDatabases(dbs, policy, SDB_NOW).map((e) => `${e.db.stamp}${e.db.seq > 1 ? `_${e.db.seq}` : ''} ${e.action}${e.reasons.length ? `: ${e.reasons.join(', ')}` : ''}`);
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
  assert.deepEqual(planSafetyDatabases([], { keepLast: 1 }, SDB_NOW), []);
});

test('planPrune keeps every archive a kept incremental needs, saying by which, and never orphans one', () => {
  // Two chains; a 3-day policy keeps the newest points only.
  const names = [
    'media_backup_2026_12_20T02_00_00.tar.zst',
    'media_backup_2026_12_21T02_00_00.inc1.tar.zst',
    'media_backup_2026_12_22T02_00_00.inc2.tar.zst',
    'media_backup_2026_12_27T02_00_00.tar.zst',
    'media_backup_2026_12_28T02_00_00.inc1.tar.zst',
    'media_backup_2026_12_29T02_00_00.inc2.tar.zst',
    'media_backup_2026_12_30T02_00_00.inc3.tar.zst',
  ];
  const plan = planPrune(names.map((n) => file(n)), retention({ media: { keepWithin: '2d' } }), NOW);
  assert.deepEqual(verdicts(plan), {
    'media_backup_2026_12_20T02_00_00.tar.zst': 'remove',
    'media_backup_2026_12_21T02_00_00.inc1.tar.zst': 'remove',
    'media_backup_2026_12_22T02_00_00.inc2.tar.zst': 'remove',
    'media_backup_2026_12_27T02_00_00.tar.zst': 'keep: needed by media_backup_2026_12_30T02_00_00.inc3.tar.zst',
    'media_backup_2026_12_28T02_00_00.inc1.tar.zst': 'keep: needed by media_backup_2026_12_30T02_00_00.inc3.tar.zst',
    'media_backup_2026_12_29T02_00_00.inc2.tar.zst': 'keep: needed by media_backup_2026_12_30T02_00_00.inc3.tar.zst',
    'media_backup_2026_12_30T02_00_00.inc3.tar.zst': 'keep: within 2d, newest',
  });
  // Invariant over many policies: whatever is kept has its whole chain kept.
  const files = names.map((n) => file(n));
  for (const media of [{ keepLast: 1 }, { keepLast: 2 }, { keepDaily: 3 }, { keepWithin: '9d' }, { keepWeekly: 1 }] as Policy[]) {
    const p = planPrune(files, retention({ media }), NOW);
    const removed = new Set(p.remove.map((f) => f.name));
    for (const g of p.groups) {
      for (const e of g.entries) {
        if (e.action !== 'keep') continue;
        for (const link of chainOf(e.file, files).links) assert.ok(!removed.has(link.name), `${JSON.stringify(media)}: ${link.name} is needed by kept ${e.file.name}`);
      }
    }
  }
});
