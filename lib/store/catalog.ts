// What the backup tree holds. Only names that parse (lib/naming) are listed; anything else in
// the tree is someone else's and is never returned, so it can never be modified or deleted.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { formatStamp, kindDir, makeBackupName, newestFirst, parseBackupName, type BackupKind, type BackupName, type BackupRole, type Codec } from '../core/naming.ts';
import { freeSeq } from './publish.ts';

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

/** An incremental-mode media archive's tar snapshot file, what the next incremental starts from. */
export const SNAPSHOT_SUFFIX = '.snar';

export function snapshotPathFor(backupPath: string): string {
  return backupPath + SNAPSHOT_SUFFIX;
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

/**
 * The stamp and sequence number of a new set: the current second, and the first sequence
 * number free in every folder involved, so the halves of a set pair up by name.
 */
export async function chooseSet(backupDir: string, now: Date, kinds: BackupKind[], role: BackupRole = 'backup', codec?: Codec): Promise<{ stamp: string; seq: number }> {
  const stamp = formatStamp(now);
  const taken = new Set<string>();
  for (const kind of kinds) {
    for (const n of await fsp.readdir(path.join(backupDir, kindDir(kind))).catch(() => [] as string[])) {
      taken.add(n);
      // An incremental takes its stem's sequence number as a full would.
      const p = parseBackupName(n);
      if (p && p.level > 0) taken.add(makeBackupName({ ...p, level: 0 }));
    }
  }
  const names = (seq: number) =>
    kinds.flatMap((kind) => (['zstd', 'gzip'] as Codec[]).filter((c) => !codec || c === codec).map((c) => makeBackupName({ kind, role, stamp, seq, codec: c })));
  return { stamp, seq: freeSeq(taken, names) };
}
