// What list-backups shows: pure formatting of catalog entries.
import { humanAge, humanBytes, type BackupFile } from './catalog.ts';

export interface ListedBackup {
  name: string;
  kind: string;
  role: string;
  set: string;
  environment: string;
  size: number;
  time: string;
  ageSeconds: number;
  path: string;
  hasManifest: boolean;
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
    ageSeconds: Math.max(0, Math.round((now.getTime() - b.time.getTime()) / 1000)),
    path: b.path,
    hasManifest: b.manifestPath !== null,
  };
}

/** Pure: the table for people; regular backups by kind, safety snapshots apart. */
export function formatListing(backups: BackupFile[], now: Date, localEnv: string): string {
  const sections: [string, BackupFile[]][] = [
    ['Database backups', backups.filter((b) => b.kind === 'database' && b.role === 'backup')],
    ['Media backups', backups.filter((b) => b.kind === 'media' && b.role === 'backup')],
    ['Safety snapshots (taken before restores)', backups.filter((b) => b.role === 'snapshot')],
  ];
  const out: string[] = [];
  for (const [title, list] of sections) {
    if (!list.length && title.startsWith('Safety')) continue;
    out.push(`${title}:`);
    if (!list.length) out.push('  (none)');
    const width = Math.max(0, ...list.map((b) => b.name.length));
    for (const b of list) {
      out.push(`  ${b.name.padEnd(width)}  ${humanBytes(b.size).padStart(9)}  ${humanAge(b.time, now).padStart(7)} ago  ${b.env ?? localEnv}`);
    }
  }
  return out.join('\n');
}
