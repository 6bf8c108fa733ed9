// Backup statistics: per kind, how many, how big, how long they took, how fast they grow; for
// people (list-backups --stats), for scripts (--json) and for node_exporter (a Prometheus
// textfile the scheduled run writes). Pure: computed from the catalog and the manifests, which
// lib/monitor/collect reads (and where it writes the textfile).
import { humanAge, humanBytes, humanDuration, signedBytes } from '../core/format.ts';
import { parseBackupName, type BackupKind } from '../core/naming.ts';
import type { BackupFile } from '../store/catalog.ts';
import type { Manifest } from '../store/manifest.ts';

export interface StatsEntry {
  file: BackupFile;
  manifest: Manifest | null;
}

export interface HistoryPoint {
  name: string;
  /** When the backup started (from its name), ISO. */
  time: string;
  size: number;
  /** From the manifest; null for backups made without one. */
  durationMs: number | null;
}

export interface CopyCount {
  count: number;
  bytes: number;
}

export interface KindStats {
  kind: BackupKind;
  /** Regular backups of this environment. */
  count: number;
  totalBytes: number;
  newest: HistoryPoint | null;
  oldest: HistoryPoint | null;
  /** When the newest backup finished (manifest), else when it started (name); ISO. */
  lastSuccess: string | null;
  /** Least-squares slope of size over time in the last GROWTH_WINDOW_DAYS, in bytes per week. */
  growthPerWeek: number | null;
  /** How many backups the growth figure rests on. */
  growthBasis: number;
  averageDurationMs: number | null;
  /** Oldest first. */
  history: HistoryPoint[];
  sparkline: string;
  /** Also in the tree, not counted above: safety snapshots and copies downloaded from other environments. */
  snapshots: CopyCount;
  downloaded: CopyCount;
}

export interface BackupStats {
  environment: string;
  generatedAt: string;
  kinds: Record<BackupKind, KindStats>;
}

export const GROWTH_WINDOW_DAYS = 28;
const WEEK_MS = 7 * 86_400_000;
const SPARK = '▁▂▃▄▅▆▇█';

/**
 * Pure: growth in bytes per week, as the least-squares slope of size against time over the
 * backups of the last `windowDays` before the newest one. A slope uses every point, so one odd
 * backup moves it little, and it needs no backup to fall exactly a week earlier. Null with fewer
 * than two points or when they all share one moment.
 */
export function growthPerWeek(points: { t: number; size: number }[], windowDays = GROWTH_WINDOW_DAYS): { perWeek: number | null; basis: number } {
  if (!points.length) return { perWeek: null, basis: 0 };
  const newest = Math.max(...points.map((p) => p.t));
  const inWindow = points.filter((p) => p.t >= newest - windowDays * 86_400_000);
  const n = inWindow.length;
  if (n < 2) return { perWeek: null, basis: n };
  const meanT = inWindow.reduce((a, p) => a + p.t, 0) / n;
  const meanS = inWindow.reduce((a, p) => a + p.size, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of inWindow) {
    num += (p.t - meanT) * (p.size - meanS);
    den += (p.t - meanT) ** 2;
  }
  if (den === 0) return { perWeek: null, basis: n };
  return { perWeek: Math.round((num / den) * WEEK_MS), basis: n };
}

/** Pure: ▁▂▃▄▅▆▇█ for the last `width` values, scaled from their minimum to their maximum. */
export function sparkline(values: number[], width = 40): string {
  const v = values.slice(-width);
  if (!v.length) return '';
  const min = Math.min(...v);
  const max = Math.max(...v);
  if (max === min) return SPARK[3]!.repeat(v.length);
  return v.map((x) => SPARK[Math.min(SPARK.length - 1, Math.floor(((x - min) / (max - min)) * SPARK.length))]!).join('');
}

function point(e: StatsEntry): HistoryPoint {
  return { name: e.file.name, time: e.file.time.toISOString(), size: e.file.size, durationMs: e.manifest?.durationMs ?? null };
}

function copies(entries: StatsEntry[]): CopyCount {
  return { count: entries.length, bytes: entries.reduce((a, e) => a + e.file.size, 0) };
}

/** Pure: the statistics of one kind. */
export function kindStats(kind: BackupKind, entries: StatsEntry[]): KindStats {
  const ofKind = entries.filter((e) => e.file.kind === kind);
  const own = ofKind
    .filter((e) => e.file.role === 'backup' && e.file.env === null)
    .sort((a, b) => a.file.time.getTime() - b.file.time.getTime() || a.file.seq - b.file.seq);
  const history = own.map(point);
  const newestEntry = own[own.length - 1] ?? null;
  const durations = history.map((h) => h.durationMs).filter((d): d is number => d !== null);
  const growth = growthPerWeek(own.map((e) => ({ t: e.file.time.getTime(), size: e.file.size })));
  return {
    kind,
    count: own.length,
    totalBytes: own.reduce((a, e) => a + e.file.size, 0),
    newest: history[history.length - 1] ?? null,
    oldest: history[0] ?? null,
    lastSuccess: newestEntry ? (newestEntry.manifest?.finishedAt ?? newestEntry.file.time.toISOString()) : null,
    growthPerWeek: growth.perWeek,
    growthBasis: growth.basis,
    averageDurationMs: durations.length ? Math.round(durations.reduce((a, b) => a + b, 0) / durations.length) : null,
    history,
    sparkline: sparkline(history.map((h) => h.size)),
    snapshots: copies(ofKind.filter((e) => e.file.role === 'snapshot')),
    downloaded: copies(ofKind.filter((e) => e.file.role === 'backup' && e.file.env !== null)),
  };
}

/** Pure: statistics of the whole tree. */
export function computeStats(entries: StatsEntry[], now: Date, environment: string): BackupStats {
  return {
    environment,
    generatedAt: now.toISOString(),
    kinds: { database: kindStats('database', entries), media: kindStats('media', entries) },
  };
}

/** Pure: the text list-backups --stats prints. The sparkline is for terminals only. */
export function formatStats(stats: BackupStats, now: Date, opts: { sparkline: boolean; recent?: number }): string {
  const out: string[] = [];
  const titles: Record<BackupKind, string> = { database: 'Database backups', media: 'Media backups' };
  const dur = (ms: number | null) => (ms === null ? '-' : humanDuration(ms));
  for (const k of ['database', 'media'] as const) {
    const s = stats.kinds[k];
    out.push(`${titles[k]} (${stats.environment}): ${s.count}, ${humanBytes(s.totalBytes)} in total`);
    if (s.newest && s.oldest) {
      out.push(`  newest        ${s.newest.name}  ${humanBytes(s.newest.size)}  ${humanAge(new Date(s.newest.time), now)} ago`);
      out.push(`  oldest        ${s.oldest.name}  ${humanBytes(s.oldest.size)}  ${humanAge(new Date(s.oldest.time), now)} ago`);
      out.push(`  last success  ${s.lastSuccess!.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')} (${humanAge(new Date(s.lastSuccess!), now)} ago)`);
      out.push(
        `  growth        ${s.growthPerWeek === null ? 'not enough backups to tell' : `${signedBytes(s.growthPerWeek)}/week`}` +
          ` (${s.growthBasis} backup${s.growthBasis === 1 ? '' : 's'} in the last ${GROWTH_WINDOW_DAYS} days)`,
      );
      out.push(`  duration      ${s.averageDurationMs === null ? 'unknown (no manifests)' : `average ${dur(s.averageDurationMs)}, last ${dur(s.newest.durationMs)}`}`);
      if (opts.sparkline && s.history.length > 1) out.push(`  size          ${s.sparkline}  (oldest → newest, last ${s.sparkline.length})`);
      out.push('  recent        time (UTC)          size       took');
      for (const h of s.history.slice(-(opts.recent ?? 10)).reverse()) {
        out.push(`                ${h.time.slice(0, 16).replace('T', ' ')}  ${humanBytes(h.size).padStart(9)}  ${dur(h.durationMs).padStart(8)}`);
      }
    }
    const also: string[] = [];
    if (s.snapshots.count) also.push(`${s.snapshots.count} safety snapshots (${humanBytes(s.snapshots.bytes)})`);
    if (s.downloaded.count) also.push(`${s.downloaded.count} downloaded copies (${humanBytes(s.downloaded.bytes)})`);
    if (also.length) out.push(`  also          ${also.join(', ')}`);
  }
  return out.join('\n');
}

const METRICS: { name: string; help: string; value: (s: KindStats) => number | null }[] = [
  {
    name: 'backup_last_success_timestamp_seconds',
    help: 'When the newest backup of the kind finished, as a Unix time.',
    value: (s) => (s.lastSuccess ? Date.parse(s.lastSuccess) / 1000 : null),
  },
  { name: 'backup_last_size_bytes', help: 'Size of the newest backup of the kind.', value: (s) => s.newest?.size ?? null },
  {
    name: 'backup_last_duration_seconds',
    help: 'How long the newest backup of the kind took.',
    value: (s) => (s.newest?.durationMs != null ? s.newest.durationMs / 1000 : null),
  },
  { name: 'backup_count', help: "This environment's backups of the kind (not safety snapshots or downloaded copies).", value: (s) => s.count },
  { name: 'backup_total_size_bytes', help: 'Total size of those backups.', value: (s) => s.totalBytes },
];

/** Pure: the node_exporter textfile. A kind without backups has counts of 0 and no last_* samples. */
/** What this machine's receipts say is at one offsite target, per kind. */
export interface OffsiteStats {
  target: string;
  kind: BackupKind;
  /** Copies there (pushed and not removed since). */
  count: number;
  /** The time (from its name) of the newest backup with a copy there; null for none. */
  newest: Date | null;
}

/** Pure: per target and kind, from the receipts' names (backup names carry their time). */
export function offsiteStats(target: string, names: Iterable<string>): OffsiteStats[] {
  const out: OffsiteStats[] = (['database', 'media'] as const).map((kind) => ({ target, kind, count: 0, newest: null }));
  for (const name of names) {
    const b = parseBackupName(name);
    const s = b && out.find((o) => o.kind === b.kind);
    if (!b || !s) continue;
    s.count++;
    if (!s.newest || b.time > s.newest) s.newest = b.time;
  }
  return out;
}

export function prometheusText(stats: BackupStats, now: Date, offsite: readonly OffsiteStats[] = []): string {
  const lines: string[] = [];
  for (const m of METRICS) {
    lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} gauge`);
    for (const k of ['database', 'media'] as const) {
      const v = m.value(stats.kinds[k]);
      if (v !== null) lines.push(`${m.name}{kind="${k}"} ${v}`);
    }
  }
  if (offsite.length) {
    const label = (o: OffsiteStats) => `{kind="${o.kind}",target="${o.target}"}`;
    const dated = offsite.filter((o) => o.newest);
    lines.push(
      '# HELP backup_offsite_newest_timestamp_seconds When the newest backup with a copy at the offsite target was made, as a Unix time.',
      '# TYPE backup_offsite_newest_timestamp_seconds gauge',
      ...dated.map((o) => `backup_offsite_newest_timestamp_seconds${label(o)} ${o.newest!.getTime() / 1000}`),
      '# HELP backup_offsite_newest_age_seconds Age of that newest offsite copy\'s backup when this file was written.',
      '# TYPE backup_offsite_newest_age_seconds gauge',
      ...dated.map((o) => `backup_offsite_newest_age_seconds${label(o)} ${Math.max(0, Math.round((now.getTime() - o.newest!.getTime()) / 1000))}`),
      '# HELP backup_offsite_copies Copies at the offsite target, as pushed from here.',
      '# TYPE backup_offsite_copies gauge',
      ...offsite.map((o) => `backup_offsite_copies${label(o)} ${o.count}`),
    );
  }
  lines.push(
    '# HELP backup_stats_generated_timestamp_seconds When these figures were written, as a Unix time.',
    '# TYPE backup_stats_generated_timestamp_seconds gauge',
    `backup_stats_generated_timestamp_seconds ${now.getTime() / 1000}`,
  );
  return lines.join('\n') + '\n';
}
