// Free space on the filesystems the tool writes to, and the guard that refuses a backup that
// would not fit before anything is written (the seed's most common failure, "No space left on
// device", stopped at the door instead of halfway through the write). The arithmetic is
// lib/core/room's; measuring is the one effect here, and a test can replace it.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { NoSpaceError, UsageError } from '../cli/errors.ts';
import { kindDir, type BackupKind, type BackupRole } from '../core/naming.ts';
import { estimateFromBackups, judgeRoom, type DiskMargin, type RoomVerdict } from '../core/room.ts';
import { listKind } from './catalog.ts';

/**
 * Testing aid: a number of bytes that replaces the measured free space of the backup folder, so
 * the guard can be exercised without filling a disk. Not meant for production use.
 */
export const FREE_BYTES_VARIABLE = 'COMPOSE_BACKUP_FREE_BYTES';

/** Free bytes for an unprivileged writer on the filesystem holding `dir` (or its nearest existing parent). */
export async function measureFreeBytes(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const injected = env[FREE_BYTES_VARIABLE];
  if (injected !== undefined && injected !== '') {
    if (!/^\d+$/.test(injected)) throw new UsageError(`${FREE_BYTES_VARIABLE} must be a whole number of bytes, not "${injected}"`);
    return Number(injected);
  }
  return statFree(dir);
}

/** The filesystem's own answer, never the testing aid (for folders other than the backup tree). */
export async function statFree(dir: string): Promise<number> {
  // The folder may not exist yet; its parent's filesystem is where it will be made.
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      const s = await fsp.statfs(d);
      return s.bavail * s.bsize;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(d) === d) throw err;
    }
  }
}

export interface EnsureRoomOptions {
  dir: string;
  estimate: number;
  margin: DiskMargin;
  /** What the estimate is based on, for the message ("last backup", "database size / 3"). */
  basis?: string;
  freeBytes?: (dir: string) => Promise<number>;
}

/** Throws NoSpaceError (exit 1) when the filesystem of `dir` lacks room for `estimate` plus the margin. */
export async function ensureRoom(opts: EnsureRoomOptions): Promise<RoomVerdict> {
  if (opts.estimate <= 0) return { ok: true, free: NaN, needed: 0, message: null };
  const free = await (opts.freeBytes ?? measureFreeBytes)(opts.dir);
  const verdict = judgeRoom({ dir: opts.dir, free, estimate: opts.estimate, margin: opts.margin, basis: opts.basis ?? 'estimate' });
  if (!verdict.ok) throw new NoSpaceError(verdict.message!);
  return verdict;
}

export interface BackupRoomOptions {
  backupDir: string;
  kind: BackupKind;
  role: BackupRole;
  margin: DiskMargin;
  /** Size to expect when the folder holds no earlier local backup of this kind (0: skip the guard). */
  fallback?: { estimate: () => Promise<number>; basis: string };
  freeBytes?: (dir: string) => Promise<number>;
}

/** The guard before a new backup: estimate from the newest backup of the kind, else the fallback. */
export async function ensureRoomForBackup(opts: BackupRoomOptions): Promise<RoomVerdict> {
  const dir = path.join(opts.backupDir, kindDir(opts.kind));
  const previous = estimateFromBackups(await listKind(opts.backupDir, opts.kind), opts.kind, opts.role);
  let estimate = previous ?? 0;
  let basis = 'last backup';
  if (previous === null && opts.fallback) {
    estimate = await opts.fallback.estimate();
    basis = opts.fallback.basis;
  }
  return ensureRoom({ dir, estimate, margin: opts.margin, basis, freeBytes: opts.freeBytes });
}

