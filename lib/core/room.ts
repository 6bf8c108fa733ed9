// Disk arithmetic for the space guards: how much room a backup or a restore asks for, and whether
// there is that much. Pure; measuring free space is lib/store/disk's.
import { bytesExact, humanBytes } from './format.ts';
import type { BackupKind, BackupName, BackupRole } from './naming.ts';

export interface DiskMargin {
  /** Fraction of the estimate added on top (0.1 = 10 %). */
  ratio: number;
  /** Bytes added on top, for small backups and whatever else writes to the disk meanwhile. */
  bytes: number;
}

/** The free space something of about `estimate` bytes asks for. */
export function roomNeeded(estimate: number, margin: DiskMargin): number {
  return Math.ceil(estimate * (1 + margin.ratio)) + margin.bytes;
}

export interface RoomVerdict {
  ok: boolean;
  free: number;
  needed: number;
  /** The line a refusal prints; null when there is room. */
  message: string | null;
}

/**
 * Is there room? An estimate of 0 (nothing to go by, such as a first media backup) skips the
 * guard: the margin alone is no reason to refuse. `what` prefixes the message, `advice` ends it.
 */
export function judgeRoom(opts: {
  dir: string;
  free: number;
  estimate: number;
  margin: DiskMargin;
  basis: string;
  what?: string;
  advice?: string;
}): RoomVerdict {
  const needed = roomNeeded(opts.estimate, opts.margin);
  if (opts.estimate <= 0 || opts.free >= needed) return { ok: true, free: opts.free, needed, message: null };
  const what = opts.what ? `${opts.what}: ` : '';
  const advice =
    opts.advice ??
    'nothing was written. Free space on that filesystem, or remove old backups with "npx zx scripts/prune.ts --dry-run" then without --dry-run (see retention in the config)';
  return {
    ok: false,
    free: opts.free,
    needed,
    message:
      `${what}not enough free space in ${opts.dir}: ${bytesExact(opts.free)} free, ${bytesExact(needed)} needed ` +
      `(${opts.basis} ${humanBytes(opts.estimate)} + ${Math.round(opts.margin.ratio * 100)}% + ${humanBytes(opts.margin.bytes)} margin); ${advice}`,
  };
}

/** The size to expect from the newest local backup of a kind (same role preferred), or null. */
export function estimateFromBackups(files: readonly (BackupName & { size: number })[], kind: BackupKind, role: BackupRole): number | null {
  // Downloaded copies of another environment say nothing about this one's size.
  const local = files.filter((f) => f.kind === kind && f.env === null);
  const newest = <T extends BackupName>(list: T[]) =>
    list.reduce<T | null>((best, f) => (!best || f.time > best.time || (+f.time === +best.time && f.seq > best.seq) ? f : best), null);
  const pick = newest(local.filter((f) => f.role === role)) ?? newest(local);
  return pick ? pick.size : null;
}

/** `df -P -k` output: the Available column of its last line, in bytes; null when it is not df's. */
export function parseDfAvailable(text: string): number | null {
  const last = text.trim().split('\n').pop() ?? '';
  const fields = last.trim().split(/\s+/);
  // Filesystem 1024-blocks Used Available Capacity Mounted-on (the filesystem's name may hold spaces).
  const available = fields[fields.length - 3];
  return available !== undefined && /^\d+$/.test(available) && fields.length >= 6 ? Number(available) * 1024 : null;
}
