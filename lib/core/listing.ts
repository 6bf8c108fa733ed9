// What list-backups shows: pure formatting of catalog entries, and of the safety databases
// restore-db kept on the server (lib/db/safety-names), which are listed apart: they are not files.
import type { SafetyDatabase } from '../db/safety-names.ts';
import type { BackupFile } from '../store/catalog.ts';
import { humanAge, humanBytes } from './format.ts';

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
}

/** A safety database in the --json listing: the same fields, but it is not a file. */
export interface ListedSafetyDatabase extends Omit<ListedBackup, 'role' | 'size' | 'path'> {
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

export function toListed(b: BackupFile, now: Date, localEnv: string): ListedBackup {
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

/** Pure: the table for people; regular backups by kind, safety snapshots and safety databases apart. */
export function formatListing(backups: BackupFile[], now: Date, localEnv: string, safety: SafetyDatabases | null = null): string {
  type Row = { name: string; size: number | null; time: Date; env: string | null };
  const sections: [string, Row[], boolean][] = [
    ['Database backups', backups.filter((b) => b.kind === 'database' && b.role === 'backup'), true],
    ['Media backups', backups.filter((b) => b.kind === 'media' && b.role === 'backup'), true],
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
    const width = Math.max(0, ...list.map((b) => b.name.length));
    for (const b of list) {
      const size = b.size === null ? '?' : humanBytes(b.size);
      out.push(`  ${b.name.padEnd(width)}  ${size.padStart(9)}  ${humanAge(b.time, now).padStart(7)} ago  ${b.env ?? localEnv}`);
    }
  }
  return out.join('\n');
}
