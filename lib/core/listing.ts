// What list-backups shows: pure formatting of catalog entries, and of the safety databases
// restore-db kept on the server (lib/db/safety-names), which are listed apart: they are not files.
import type { SafetyDatabase } from '../db/safety-names.ts';
import type { BackupFile } from '../store/catalog.ts';
import { chainOf, parentOf } from './chains.ts';
import { humanAge, humanBytes, plural } from './format.ts';
import { newestFirst } from './naming.ts';

export const SAFETY_DATABASE_ROLE = 'safety-database';

export interface ListedBackup {
  name: string;
  kind: string;
  /** `backup` or `snapshot` (a safety file). */
  role: string;
  set: string;
  environment: string;
  size: number;
  time: string;
  ageSeconds: number;
  path: string;
  hasManifest: boolean;
  /** Media backups: 0 for a full, N for the Nth incremental of a chain. */
  level?: number;
  /** Media backups: the archive an incremental builds on, found in the same tree (null: a full, or it is not there). */
  parent?: string | null;
}

/** A safety database in the --json listing: the same fields, but it is not a file. */
export interface ListedSafetyDatabase extends Omit<ListedBackup, 'role' | 'size' | 'path' | 'level' | 'parent'> {
  kind: 'database';
  role: typeof SAFETY_DATABASE_ROLE;
  /** Bytes on the server; null when the server would not tell. */
  size: number | null;
  path: null;
}

/** The safety databases of the environment's live database, when the server answered. */
export interface SafetyDatabases {
  live: string;
  databases: SafetyDatabase[];
}

function ageSeconds(time: Date, now: Date): number {
  return Math.max(0, Math.round((now.getTime() - time.getTime()) / 1000));
}

/** `all`: the tree's other backups, where an incremental's parent is looked for. */
export function toListed(b: BackupFile, now: Date, localEnv: string, all: readonly BackupFile[] = []): ListedBackup {
  const chain = b.kind === 'media' && b.role === 'backup' ? { level: b.level, parent: parentOf(b, all)?.name ?? null } : {};
  return {
    name: b.name,
    kind: b.kind,
    role: b.role,
    set: b.seq > 1 ? `${b.stamp}-${b.seq}` : b.stamp,
    environment: b.env ?? localEnv,
    size: b.size,
    time: b.time.toISOString(),
    ageSeconds: ageSeconds(b.time, now),
    path: b.path,
    hasManifest: b.manifestPath !== null,
    ...chain,
  };
}

export function toListedDatabase(d: SafetyDatabase, now: Date, localEnv: string): ListedSafetyDatabase {
  return {
    name: d.name,
    kind: 'database',
    role: SAFETY_DATABASE_ROLE,
    set: d.seq > 1 ? `${d.stamp}-${d.seq}` : d.stamp,
    environment: localEnv,
    size: d.size,
    time: d.time.toISOString(),
    ageSeconds: ageSeconds(d.time, now),
    path: null,
    hasManifest: false,
  };
}

type Row = { name: string; size: number | null; time: Date; env: string | null; indent?: boolean; note?: string };

/**
 * Pure: media backups as chains when there are incrementals: each full, then its incrementals
 * under it (oldest first, indented), then the chain's total; an incremental whose chain is broken
 * is listed with its own group saying what is missing. Chains newest first. Without incrementals,
 * the plain newest-first list.
 */
export function mediaRows(media: readonly BackupFile[]): Row[] {
  if (!media.some((b) => b.level > 0)) return [...media];
  const groups = new Map<BackupFile, { links: BackupFile[]; broken: string | null }>();
  for (const b of media) {
    const { links, broken } = chainOf(b, media);
    const head = links[0]!;
    const group = groups.get(head) ?? { links: [], broken };
    if (!groups.has(head)) groups.set(head, group);
    if (b !== head) group.links.push(b);
  }
  const newest = (g: { links: BackupFile[] }, head: BackupFile) => [head, ...g.links].sort(newestFirst)[0]!;
  const ordered = [...groups].sort(([ha, a], [hb, b]) => newestFirst(newest(a, ha), newest(b, hb)));
  const rows: Row[] = [];
  for (const [head, g] of ordered) {
    const links = [...g.links].sort((a, b) => newestFirst(b, a));
    if (g.broken) rows.push({ name: `(broken chain: ${g.broken})`, size: null, time: head.time, env: head.env, note: 'broken' });
    rows.push({ ...head, indent: head.level > 0 });
    for (const l of links) rows.push({ ...l, indent: true });
    if (links.length) {
      const total = [head, ...links].reduce((n, l) => n + l.size, 0);
      rows.push({ name: `chain of ${plural(links.length + 1, 'archive')}`, size: total, time: head.time, env: head.env, note: 'total' });
    }
  }
  return rows;
}

/** Pure: the table for people; regular backups by kind, safety snapshots and safety databases apart. */
export function formatListing(backups: BackupFile[], now: Date, localEnv: string, safety: SafetyDatabases | null = null): string {
  const sections: [string, Row[], boolean][] = [
    ['Database backups', backups.filter((b) => b.kind === 'database' && b.role === 'backup'), true],
    ['Media backups', mediaRows(backups.filter((b) => b.kind === 'media' && b.role === 'backup')), true],
    ['Safety snapshots (taken before restores)', backups.filter((b) => b.role === 'snapshot'), false],
    [
      `Safety databases of "${safety?.live}" (replaced by restores, kept on the server)`,
      (safety?.databases ?? []).map((d) => ({ name: d.name, size: d.size, time: d.time, env: null })),
      false,
    ],
  ];
  const out: string[] = [];
  for (const [title, list, always] of sections) {
    if (!list.length && !always) continue;
    out.push(`${title}:`);
    if (!list.length) out.push('  (none)');
    const label = (b: Row) => (b.indent ? `  ${b.name}` : b.name);
    const width = Math.max(0, ...list.filter((b) => !b.note).map((b) => label(b).length));
    for (const b of list) {
      if (b.note === 'broken') {
        out.push(`  ${b.name}`);
        continue;
      }
      const size = b.size === null ? '?' : humanBytes(b.size);
      if (b.note === 'total') {
        out.push(`  ${`  = ${b.name}`.padEnd(width)}  ${size.padStart(9)}`);
        continue;
      }
      out.push(`  ${label(b).padEnd(width)}  ${size.padStart(9)}  ${humanAge(b.time, now).padStart(7)} ago  ${b.env ?? localEnv}`);
    }
  }
  return out.join('\n');
}
