// The disk-space guard: before a backup starts, make sure its filesystem has room for it plus a
// margin, so a full disk stops a backup at the door rather than halfway through the write (the
// seed's most common failure, "No space left on device"). The arithmetic is pure; measuring free
// space is the one effect, and a test can replace it.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { humanBytes, listKind, type BackupFile } from './catalog.ts';
import { FailedError, UsageError } from './errors.ts';
import { kindDir, type BackupKind, type BackupRole } from './naming.ts';

export interface DiskMargin {
  /** Fraction of the estimate added on top (0.1 = 10 %). */
  ratio: number;
  /** Bytes added on top, for small backups and whatever else writes to the disk meanwhile. */
  bytes: number;
}

/**
 * Testing aid: a number of bytes that replaces the measured free space, so the guard can be
 * exercised without filling a disk. Not meant for production use.
 */
export const FREE_BYTES_VARIABLE = 'COMPOSE_BACKUP_FREE_BYTES';

/** Pure: the free space a backup of about `estimate` bytes asks for. */
export function roomNeeded(estimate: number, margin: DiskMargin): number {
  return Math.ceil(estimate * (1 + margin.ratio)) + margin.bytes;
}

/** "1.5 GiB (1610612736 bytes)": humans read the first, scripts and support the second. */
function both(n: number): string {
  return `${humanBytes(n)} (${n} bytes)`;
}

export interface RoomVerdict {
  ok: boolean;
  free: number;
  needed: number;
  /** The line a refusal prints; null when there is room. */
  message: string | null;
}

/**
 * Pure: is there room? An estimate of 0 (nothing to go by, such as a first media backup) skips the
 * guard: the margin alone is no reason to refuse.
 */
export function judgeRoom(opts: { dir: string; free: number; estimate: number; margin: DiskMargin; basis: string }): RoomVerdict {
  const needed = roomNeeded(opts.estimate, opts.margin);
  if (opts.estimate <= 0 || opts.free >= needed) return { ok: true, free: opts.free, needed, message: null };
  return {
    ok: false,
    free: opts.free,
    needed,
    message:
      `not enough free space in ${opts.dir}: ${both(opts.free)} free, ${both(needed)} needed ` +
      `(${opts.basis} ${humanBytes(opts.estimate)} + ${Math.round(opts.margin.ratio * 100)}% + ${humanBytes(opts.margin.bytes)} margin); ` +
      `nothing was written. Free space on that filesystem, or remove old backups with ` +
      `"npx zx scripts/prune.ts --dry-run" then without --dry-run (see retention in the config)`,
  };
}

/** Pure: the size to expect from the newest local backup of a kind (same role preferred), or null. */
export function estimateFromBackups(files: readonly BackupFile[], kind: BackupKind, role: BackupRole): number | null {
  // Downloaded copies of another environment say nothing about this one's size.
  const local = files.filter((f) => f.kind === kind && f.env === null);
  const newest = (list: BackupFile[]) =>
    list.reduce<BackupFile | null>((best, f) => (!best || f.time > best.time || (+f.time === +best.time && f.seq > best.seq) ? f : best), null);
  const pick = newest(local.filter((f) => f.role === role)) ?? newest(local);
  return pick ? pick.size : null;
}

/** Free bytes for an unprivileged writer on the filesystem holding `dir` (or its nearest existing parent). */
export async function measureFreeBytes(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const injected = env[FREE_BYTES_VARIABLE];
  if (injected !== undefined && injected !== '') {
    if (!/^\d+$/.test(injected)) throw new UsageError(`${FREE_BYTES_VARIABLE} must be a whole number of bytes, not "${injected}"`);
    return Number(injected);
  }
  // The backup folder may not exist yet; its parent's filesystem is where it will be made.
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

/** Throws FailedError (exit 1) when the filesystem of `dir` lacks room for `estimate` plus the margin. */
export async function ensureRoom(opts: EnsureRoomOptions): Promise<RoomVerdict> {
  if (opts.estimate <= 0) return { ok: true, free: NaN, needed: 0, message: null };
  const free = await (opts.freeBytes ?? measureFreeBytes)(opts.dir);
  const verdict = judgeRoom({ dir: opts.dir, free, estimate: opts.estimate, margin: opts.margin, basis: opts.basis ?? 'estimate' });
  if (!verdict.ok) throw new FailedError(verdict.message!);
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

/** The guard as writeBackup runs it: estimate from the newest backup of the kind, else the fallback. */
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
