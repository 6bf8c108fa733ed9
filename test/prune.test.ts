// Prune planning as tables: the command's safety rules on top of lib/retention (newest kept,
// refusal when a policy keeps nothing, groups apart, other environments untouched), the
// formatters, and runPrune (the scheduled run's entry point) on a small real tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { BackupFile } from '../lib/catalog.ts';
import { DEFAULT_RETENTION, type Policy } from '../lib/config.ts';
import { parseBackupName } from '../lib/naming.ts';
import { KEEP_ALL_REASON } from '../lib/retention.ts';
import {
  formatPlan, groupLabel, groupsToPrune, planPrune, pruneJson, refusalLine, runPrune, checkComplete,
  NEWEST_REASON, UNMANAGED_REASON, PruneRefusedError, type PruneOutcome, type PrunePlan, type Retention,
} from '../lib/prune.ts';
import { tempDir, ls, snapshotFiles } from './helpers/cli.ts';

const NOW = new Date('2026-12-31T12:00:00Z');
const DIR = '/bk';

/** A catalog entry as lib/catalog would list it, from its name alone. */
function file(name: string, opts: { size?: number; manifest?: boolean } = {}): BackupFile {
  const parsed = parseBackupName(name);
  assert.ok(parsed, `fixture name ${name} parses`);
  const p = path.join(DIR, parsed.kind === 'database' ? 'postgres' : 'media', name);
  return { ...parsed, path: p, size: opts.size ?? 100, mtime: parsed.time, manifestPath: opts.manifest ? `${p}.manifest.json` : null };
}

const retention = (over: Partial<Retention> = {}): Retention => ({ database: {}, media: {}, snapshots: {}, ...over });

/** name → "keep: reasons" / "remove" / "unmanaged", for compact expectations. */
function verdicts(plan: PrunePlan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of plan.groups) for (const e of g.entries) out[e.file.name] = e.action === 'keep' ? `keep: ${e.reasons.join(', ')}` : e.action;
  return out;
}

const db = (stamp: string, seq = '') => `backup_${stamp}${seq}.sql.zst`;
const media = (stamp: string) => `media_backup_${stamp}.tar.zst`;

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

// ---------------------------------------------------------------------------------------------
// Formatting.

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

// ---------------------------------------------------------------------------------------------
// runPrune and checkComplete on real files (the scheduled run's entry point, in process).

const DUMP = '--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n\n--\n-- PostgreSQL database dump complete\n--\n\n';
const zstd = (text: string) => execFileSync('zstd', ['-q', '-c'], { input: text });

test('runPrune: a dry run changes nothing; a real run removes the plan and the manifests, in order, and says so', async () => {
  const bk = tempDir();
  fs.mkdirSync(path.join(bk, 'postgres'));
  const names = ['2026_12_31T03_00_00', '2026_12_30T03_00_00', '2026_12_29T03_00_00'].map((s) => db(s));
  for (const n of names) {
    fs.writeFileSync(path.join(bk, 'postgres', n), zstd(DUMP));
    fs.writeFileSync(path.join(bk, 'postgres', `${n}.manifest.json`), '{}');
  }
  const settings = { backupDir: bk, retention: retention({ database: { keepLast: 1 } }) };
  const before = snapshotFiles(path.join(bk, 'postgres'));
  const dry = await runPrune(settings, NOW, { dryRun: true });
  assert.deepEqual(dry.removed, []);
  assert.deepEqual(dry.plan.remove.map((f) => f.name), names.slice(1));
  assert.deepEqual(dry.checks.map((c) => [c.name, c.failure]), [[names[0], null]]);
  assert.deepEqual(snapshotFiles(path.join(bk, 'postgres')), before);

  const seen: string[] = [];
  const real = await runPrune(settings, NOW, { onRemoved: (p) => seen.push(p) });
  const p = (n: string) => path.join(bk, 'postgres', n);
  assert.deepEqual(real.removed, [p(`${names[1]}.manifest.json`), p(names[1]!), p(`${names[2]}.manifest.json`), p(names[2]!)]);
  assert.deepEqual(seen, real.removed);
  assert.deepEqual(ls(path.join(bk, 'postgres')), [names[0], `${names[0]}.manifest.json`]);
});

test('runPrune refuses, removing nothing, when the newest fails the completeness check', async () => {
  const bk = tempDir();
  fs.mkdirSync(path.join(bk, 'postgres'));
  fs.writeFileSync(path.join(bk, 'postgres', db('2026_12_31T03_00_00')), zstd(DUMP.replace('complete', 'INCOMPLETE')));
  fs.writeFileSync(path.join(bk, 'postgres', db('2026_12_30T03_00_00')), zstd(DUMP));
  const before = snapshotFiles(path.join(bk, 'postgres'));
  await assert.rejects(
    runPrune({ backupDir: bk, retention: retention({ database: { keepLast: 1 } }) }, NOW),
    (err: unknown) =>
      err instanceof PruneRefusedError && err.exitCode === 1 && err.outcome.removed.length === 0 &&
      /database backups: the newest, backup_2026_12_31T03_00_00\.sql\.zst, fails the completeness check \(it ends without "-- PostgreSQL database dump complete"/.test(err.message),
  );
  assert.deepEqual(snapshotFiles(path.join(bk, 'postgres')), before);
});

test('checkComplete: full dumps and archives pass; cut, garbage and truncated ones fail', async () => {
  const dir = tempDir();
  const w = (name: string, data: Buffer | string) => {
    fs.writeFileSync(path.join(dir, name), data);
    return path.join(dir, name);
  };
  const good = zstd(DUMP);
  const src = tempDir();
  fs.writeFileSync(path.join(src, 'a.txt'), 'x'.repeat(20000));
  const tarZst = execFileSync('sh', ['-c', `tar -C ${src} -c . | zstd -q -c`]);
  const tarGz = execFileSync('sh', ['-c', `tar -C ${src} -c . | gzip -c`]);
  const cases: [string, Buffer | string, 'database' | 'media', 'zstd' | 'gzip', RegExp | null][] = [
    ['dump.zst', good, 'database', 'zstd', null],
    ['dump.gz', execFileSync('gzip', ['-c'], { input: DUMP }), 'database', 'gzip', null],
    ['cut.zst', zstd(DUMP.slice(0, 40)), 'database', 'zstd', /ends without/],
    ['truncated.zst', good.subarray(0, good.length - 4), 'database', 'zstd', /zstd -d failed/],
    ['garbage.zst', 'not zstd at all', 'database', 'zstd', /zstd -d failed/],
    ['m.tar.zst', tarZst, 'media', 'zstd', null],
    ['m.tar.gz', tarGz, 'media', 'gzip', null],
    ['m-truncated.tar.zst', tarZst.subarray(0, Math.floor(tarZst.length / 2)), 'media', 'zstd', /failed/],
  ];
  for (const [name, data, kind, codec, failure] of cases) {
    const got = await checkComplete({ path: w(name, data), kind, codec });
    if (failure) assert.match(got ?? '(passed)', failure, name);
    else assert.equal(got, null, name);
  }
});

test('an invalid policy in code is a usage error, not a prune of everything', () => {
  assert.throws(() => planPrune([file(db('2026_01_01T03_00_00'))], retention({ database: { keepDaily: 0 } as Policy }), NOW), /invalid retention policy/);
});
