// What the backup tree holds. Only names that parse (lib/naming) are listed; anything else in
// the tree is someone else's and is never returned, so it can never be modified or deleted.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { kindDir, newestFirst, parseBackupName, type BackupKind, type BackupName } from './naming.ts';

export interface BackupFile extends BackupName {
  path: string;
  size: number;
  mtime: Date;
  /** The sidecar manifest's path, when the backup has one. */
  manifestPath: string | null;
}

export const MANIFEST_SUFFIX = '.manifest.json';

export function manifestPathFor(backupPath: string): string {
  return backupPath + MANIFEST_SUFFIX;
}

/** Every backup of a kind in the tree, newest first. A missing folder is an empty list. */
export async function listKind(backupDir: string, kind: BackupKind): Promise<BackupFile[]> {
  const dir = path.join(backupDir, kindDir(kind));
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const present = new Set(names);
  const out: BackupFile[] = [];
  for (const name of names) {
    const parsed = parseBackupName(name);
    if (!parsed || parsed.kind !== kind) continue;
    const p = path.join(dir, name);
    const st = await fsp.lstat(p).catch(() => null);
    if (!st || !st.isFile()) continue;
    out.push({
      ...parsed,
      path: p,
      size: st.size,
      mtime: st.mtime,
      manifestPath: present.has(name + MANIFEST_SUFFIX) ? p + MANIFEST_SUFFIX : null,
    });
  }
  return out.sort(newestFirst);
}

export async function listAll(backupDir: string): Promise<BackupFile[]> {
  const [db, media] = await Promise.all([listKind(backupDir, 'database'), listKind(backupDir, 'media')]);
  return [...db, ...media].sort(newestFirst);
}

/** Pure: 1536 → "1.5 KiB". */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** Pure: age of a backup as "3d 4h", "12m", "5s". */
export function humanAge(from: Date, now: Date): string {
  let s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m`;
  return `${s}s`;
}

/** Pure: "1:05" / "1:02:03" for durations. */
export function humanDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}
