// Statistics: growth, sparkline, per-kind figures, the text and the Prometheus exposition text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBackupName } from '../../../lib/core/naming.ts';
import { computeStats, formatStats, growthPerWeek, kindStats, offsiteStats, prometheusText, sparkline, type StatsEntry } from '../../../lib/monitor/stats.ts';
import type { BackupFile } from '../../../lib/store/catalog.ts';
import type { Manifest } from '../../../lib/store/manifest.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

test('growthPerWeek: least-squares slope over the last 28 days, in bytes per week', () => {
  const cases: [string, { t: number; size: number }[], number | null, number][] = [
    ['no backups', [], null, 0],
    ['one backup', [{ t: T0, size: 100 }], null, 1],
    ['two at the same moment', [{ t: T0, size: 100 }, { t: T0, size: 200 }], null, 2],
    ['steady 100 B/day', Array.from({ length: 15 }, (_, i) => ({ t: T0 + i * DAY, size: 1000 + 100 * i })), 700, 15],
    ['shrinking 1 KiB/week', [{ t: T0, size: 10_240 }, { t: T0 + 7 * DAY, size: 9216 }], -1024, 2],
    ['flat', Array.from({ length: 5 }, (_, i) => ({ t: T0 + i * DAY, size: 500 })), 0, 5],
    // Only the last 28 days before the newest count: the old jump does not.
    ['old history ignored', [{ t: T0 - 100 * DAY, size: 1 }, { t: T0, size: 1000 }, { t: T0 + 7 * DAY, size: 1070 }], 70, 2],
    // One odd backup moves a slope less than a week-over-week difference (which would say +4000).
    ['one outlier', [0, 1, 2, 3, 4, 5, 6, 7].map((d) => ({ t: T0 + d * DAY, size: d === 7 ? 5000 : 1000 })), 2333, 8],
  ];
  for (const [name, points, perWeek, basis] of cases) {
    assert.deepEqual(growthPerWeek(points), { perWeek, basis }, name);
  }
});

test('sparkline: scaled from the lowest to the highest value, the last N values', () => {
  assert.equal(sparkline([]), '');
  assert.equal(sparkline([5]), '▄');
  assert.equal(sparkline([3, 3, 3]), '▄▄▄');
  assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7]), '▁▂▃▄▅▆▇█');
  assert.equal(sparkline([10, 0, 10]), '█▁█');
  assert.equal(sparkline([1, 2, 3, 100], 2), '▁█');
});

function entry(name: string, size: number, m: Partial<Manifest> | null = {}): StatsEntry {
  const parsed = parseBackupName(name);
  assert.ok(parsed, name);
  const file: BackupFile = { ...parsed, path: `/b/${name}`, size, mtime: parsed.time, manifestPath: m ? `/b/${name}.manifest.json` : null };
  const manifest: Manifest | null = m
    ? {
        version: 1, name, kind: parsed.kind, role: parsed.role, set: parsed.stamp, environment: 'local', codec: parsed.codec, size,
        sha256: '0'.repeat(64), startedAt: parsed.time.toISOString(), finishedAt: new Date(parsed.time.getTime() + 4000).toISOString(), durationMs: 4000,
        ...m,
      }
    : null;
  return { file, manifest };
}

const ENTRIES: StatsEntry[] = [
  entry('backup_2026_01_01T02_00_00.sql.gz', 1000, null), // the seed's, no manifest
  entry('backup_2026_01_08T02_00_00.sql.zst', 1500, { durationMs: 2000 }),
  entry('backup_2026_01_15T02_00_00.sql.zst', 2000, { durationMs: 6000, finishedAt: '2026-01-15T02:00:06.000Z' }),
  entry('temp_before_restore_2026_01_10T00_00_00.sql.zst', 700),
  entry('production_backup_2026_01_12T00_00_00.sql.zst', 9000),
  entry('media_backup_2026_01_15T02_00_00.tar.zst', 50_000),
];

test('kindStats: counts this environment\'s backups; snapshots and downloaded copies apart', () => {
  const db = kindStats('database', ENTRIES);
  assert.equal(db.count, 3);
  assert.equal(db.totalBytes, 4500);
  assert.equal(db.oldest?.name, 'backup_2026_01_01T02_00_00.sql.gz');
  assert.equal(db.newest?.name, 'backup_2026_01_15T02_00_00.sql.zst');
  assert.equal(db.lastSuccess, '2026-01-15T02:00:06.000Z');
  assert.deepEqual(db.history.map((h) => [h.size, h.durationMs]), [[1000, null], [1500, 2000], [2000, 6000]]);
  assert.equal(db.growthPerWeek, 500);
  assert.equal(db.growthBasis, 3);
  assert.equal(db.averageDurationMs, 4000);
  assert.equal(db.sparkline, '▁▅█');
  assert.deepEqual(db.snapshots, { count: 1, bytes: 700 });
  assert.deepEqual(db.downloaded, { count: 1, bytes: 9000 });
  const media = kindStats('media', ENTRIES);
  assert.equal(media.count, 1);
  assert.equal(media.growthPerWeek, null);
  // Without a manifest the last success is the time in the name (when it started).
  assert.equal(kindStats('database', [ENTRIES[0]!]).lastSuccess, '2026-01-01T02:00:00.000Z');
  const none = kindStats('media', []);
  assert.deepEqual([none.count, none.newest, none.lastSuccess, none.sparkline], [0, null, null, '']);
});

test('formatStats: figures per kind; the sparkline only when asked (a terminal)', () => {
  const now = new Date('2026-01-15T04:00:00Z');
  const stats = computeStats(ENTRIES, now, 'local');
  const plain = formatStats(stats, now, { sparkline: false });
  assert.match(plain, /^Database backups \(local\): 3, 4\.4 KiB in total$/m);
  assert.match(plain, /^ {2}newest {8}backup_2026_01_15T02_00_00\.sql\.zst {2}2\.0 KiB {2}2h 0m ago$/m);
  assert.match(plain, /^ {2}last success {2}2026-01-15 02:00:06 UTC \(1h 59m ago\)$/m);
  assert.match(plain, /^ {2}growth {8}\+500 B\/week \(3 backups in the last 28 days\)$/m);
  assert.match(plain, /^ {2}duration {6}average 0:04, last 0:06$/m);
  assert.match(plain, /^ {16}2026-01-01 02:00 {5}1000 B {9}-$/m);
  assert.match(plain, /^ {2}also {10}1 safety snapshots \(700 B\), 1 downloaded copies \(8\.8 KiB\)$/m);
  assert.match(plain, /^Media backups \(local\): 1, 49 KiB in total$/m);
  assert.doesNotMatch(plain, /[▁▂▃▄▅▆▇█]/);
  assert.match(formatStats(stats, now, { sparkline: true }), /^ {2}size {10}▁▅█ {2}\(oldest → newest, last 3\)$/m);
  const empty = formatStats(computeStats([], now, 'local'), now, { sparkline: true });
  assert.equal(empty, 'Database backups (local): 0, 0 B in total\nMedia backups (local): 0, 0 B in total');
});

test('prometheusText: HELP/TYPE per metric, one sample per kind; no last_* for a kind without backups', () => {
  const now = new Date('2026-01-15T04:00:00Z');
  const text = prometheusText(computeStats(ENTRIES.slice(0, 3), now, 'local'), now);
  assert.equal(
    text,
    [
      '# HELP backup_last_success_timestamp_seconds When the newest backup of the kind finished, as a Unix time.',
      '# TYPE backup_last_success_timestamp_seconds gauge',
      'backup_last_success_timestamp_seconds{kind="database"} 1768442406',
      '# HELP backup_last_size_bytes Size of the newest backup of the kind.',
      '# TYPE backup_last_size_bytes gauge',
      'backup_last_size_bytes{kind="database"} 2000',
      '# HELP backup_last_duration_seconds How long the newest backup of the kind took.',
      '# TYPE backup_last_duration_seconds gauge',
      'backup_last_duration_seconds{kind="database"} 6',
      "# HELP backup_count This environment's backups of the kind (not safety snapshots or downloaded copies).",
      '# TYPE backup_count gauge',
      'backup_count{kind="database"} 3',
      'backup_count{kind="media"} 0',
      '# HELP backup_total_size_bytes Total size of those backups.',
      '# TYPE backup_total_size_bytes gauge',
      'backup_total_size_bytes{kind="database"} 4500',
      'backup_total_size_bytes{kind="media"} 0',
      '# HELP backup_stats_generated_timestamp_seconds When these figures were written, as a Unix time.',
      '# TYPE backup_stats_generated_timestamp_seconds gauge',
      'backup_stats_generated_timestamp_seconds 1768449600',
      '',
    ].join('\n'),
  );
  // Every sample line has the exposition format's shape.
  for (const l of text.split('\n').filter((l) => l && !l.startsWith('#'))) assert.match(l, /^[a-z_]+(\{kind="(database|media)"\})? -?\d+(\.\d+)?$/);
});

test('prometheusText with offsite targets: the newest copy\'s time and age, and the copies, per kind and target', () => {
  const now = new Date('2026-01-15T04:00:00Z');
  const offsite = [
    ...offsiteStats('b2', ['backup_2026_01_13T02_00_00.sql.zst', 'backup_2026_01_14T02_00_00.sql.zst', 'not a name']),
    ...offsiteStats('nas', ['media_backup_2026_01_15T02_00_00.tar.zst']),
  ];
  assert.deepEqual(offsite.map((o) => [o.target, o.kind, o.count, o.newest?.toISOString() ?? null]), [
    ['b2', 'database', 2, '2026-01-14T02:00:00.000Z'],
    ['b2', 'media', 0, null],
    ['nas', 'database', 0, null],
    ['nas', 'media', 1, '2026-01-15T02:00:00.000Z'],
  ]);
  const text = prometheusText(computeStats([], now, 'local'), now, offsite);
  const offsiteLines = text.split('\n').filter((l) => l.includes('offsite'));
  assert.deepEqual(offsiteLines.filter((l) => !l.startsWith('#')), [
    'backup_offsite_newest_timestamp_seconds{kind="database",target="b2"} 1768356000',
    'backup_offsite_newest_timestamp_seconds{kind="media",target="nas"} 1768442400',
    'backup_offsite_newest_age_seconds{kind="database",target="b2"} 93600',
    'backup_offsite_newest_age_seconds{kind="media",target="nas"} 7200',
    'backup_offsite_copies{kind="database",target="b2"} 2',
    'backup_offsite_copies{kind="media",target="b2"} 0',
    'backup_offsite_copies{kind="database",target="nas"} 0',
    'backup_offsite_copies{kind="media",target="nas"} 1',
  ]);
  assert.ok(!prometheusText(computeStats([], now, 'local'), now).includes('offsite'), 'nothing of it without targets');
});
