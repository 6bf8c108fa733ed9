// The decisions about offsite copies: which local backups a push sends (every one not at the
// target yet, unless the target's own retention would not keep it anyway), what a target's prune
// removes (the local prune's plan, lib/core/prune-plan, on the target's copies with the target's
// policy; the newest verified copy of each kind kept; Object Lock honoured), and which set a
// recovery restores. Pure, table-tested; lib/offsite does the effects.
import { UsageError } from '../cli/errors.ts';
import type { OffsiteRetention } from '../config/resolve.ts';
import type { BackupFile } from '../store/catalog.ts';
import type { RemoteCopy } from './offsite-names.ts';
import { chainOf } from './chains.ts';
import { formatStamp, parseStamp, setKey, type BackupKind } from './naming.ts';
import { planPrune, type PrunableBackup, type PrunePlan } from './prune-plan.ts';
import type { Receipt, ReceiptBook } from './receipts.ts';
import { describePolicy } from './retention.ts';

/** Copies are never safety snapshots: the snapshots policy is never consulted for them. */
function asRetention(r: OffsiteRetention) {
  return { ...r, snapshots: {} };
}

/** Pure: why a copy at the target is not the one this machine pushed, or null when it is (or nothing was recorded). */
export function receiptMismatch(copy: Pick<RemoteCopy, 'size'>, receipt: Receipt | undefined, sidecarSha256?: string | null): string | null {
  if (!receipt) return null;
  if (copy.size !== receipt.size) return `${copy.size} bytes there, ${receipt.size} pushed`;
  if (sidecarSha256 && sidecarSha256 !== receipt.sha256) return `its recorded sha256 is ${sidecarSha256.slice(0, 12)}…, ${receipt.sha256.slice(0, 12)}… was pushed`;
  return null;
}

/** Pure: why a copy at the target is not complete, or null. */
export function copyIncomplete(copy: Pick<RemoteCopy, 'hasChecksum' | 'hasManifest'>, manifestExpected = true): string | null {
  if (!copy.hasChecksum) return 'no checksum record (an interrupted push)';
  if (manifestExpected && !copy.hasManifest) return 'no manifest (an interrupted push)';
  return null;
}

export type PushAction = 'push' | 'there' | 'skip';

export interface PushDecision {
  file: BackupFile;
  action: PushAction;
  reason: string;
}

export interface PushInput {
  /** The local tree (lib/store/catalog), any order. */
  local: readonly BackupFile[];
  /** The target's copies. */
  remote: readonly RemoteCopy[];
  receipts: ReceiptBook;
  retention: OffsiteRetention;
  now: Date;
  /** Names not to push (the scheduled run's backups that failed their checks), with why. */
  exclude?: ReadonlyMap<string, string>;
}

/**
 * Pure: what a push does with each of this environment's own backups, newest first. A copy is
 * there when it is complete (data, checksum record, manifest) and is what the record says was
 * pushed; an incomplete or different one is pushed again. A backup the target's retention would
 * remove at once (judged together with the copies already there) is not sent.
 */
export function planPush(input: PushInput): PushDecision[] {
  const { now } = input;
  const remote = new Map(input.remote.map((c) => [c.name, c]));
  const own = input.local.filter((f) => f.env === null && f.role === 'backup');
  const decisions = new Map<BackupFile, PushDecision>();
  const candidates: BackupFile[] = [];
  for (const file of own) {
    const copy = remote.get(file.name);
    const why = copy ? (copyIncomplete(copy, file.manifestPath !== null) ?? receiptMismatch(copy, input.receipts.byName.get(file.name))) : null;
    const excluded = input.exclude?.get(file.name);
    if (copy && !why) decisions.set(file, { file, action: 'there', reason: 'already there' });
    else if (excluded) decisions.set(file, { file, action: 'skip', reason: excluded });
    else {
      candidates.push(file);
      decisions.set(file, { file, action: 'push', reason: copy ? `the copy there is not complete (${why}); pushing it again` : 'not there yet' });
    }
  }
  // The target's retention, over what it would hold after the push: a backup it would remove at
  // once is not worth sending (an old local backup, after the target's policy was narrowed).
  const there = input.remote.filter((c) => !candidates.some((f) => f.name === c.name));
  const union: PrunableBackup[] = [...there, ...candidates];
  const plan = planPrune(union, asRetention(input.retention), now);
  const removed = new Set(plan.remove.map((r) => r.name));
  for (const file of candidates) {
    if (!removed.has(file.name)) continue;
    const policy = input.retention[file.kind as BackupKind];
    decisions.set(file, { file, action: 'skip', reason: `outside the target's retention (${describePolicy(policy)})` });
  }
  return [...decisions.values()].sort((a, b) => b.file.time.getTime() - a.file.time.getTime() || b.file.seq - a.file.seq || (a.file.name < b.file.name ? -1 : 1));
}

export const VERIFIED_NEWEST_REASON = 'newest verified copy';

/**
 * Pure: a target's prune plan: lib/core/prune-plan's, with the target's retention; the newest
 * *verified* copy of each kind (complete, and what was pushed) is the one always kept.
 */
export function planTargetPrune(copies: readonly RemoteCopy[], verified: (c: RemoteCopy) => boolean, retention: OffsiteRetention, now: Date): PrunePlan<RemoteCopy> {
  return planPrune(copies, asRetention(retention), now, { newestAmong: verified, newestReason: VERIFIED_NEWEST_REASON });
}

/** Pure: the reason a locked copy is kept. */
export function lockedReason(until: Date): string {
  return `locked until ${until.toISOString().slice(0, 10)} (Object Lock)`;
}

/**
 * Pure: the plan with Object Lock honoured: a copy the policy would remove but whose retention
 * date is still ahead is kept, with that reason (a delete would be refused, or only hide it).
 */
export function applyLocks(plan: PrunePlan<RemoteCopy>, locks: ReadonlyMap<string, Date | null>, now: Date): PrunePlan<RemoteCopy> {
  const groups = plan.groups.map((g) => ({
    ...g,
    entries: g.entries.map((e) => {
      const until = locks.get(e.file.name);
      if (e.action !== 'remove' || !until || until.getTime() <= now.getTime()) return e;
      return { ...e, action: 'keep' as const, reasons: [lockedReason(until)] };
    }),
  }));
  return { ...plan, groups, remove: groups.flatMap((g) => g.entries.filter((e) => e.action === 'remove').map((e) => e.file)) };
}

/**
 * Pure: `--at` as a time: an ISO time (`2026-11-28T02:00:00Z`, `2026-11-28`: the end of that
 * UTC day) or a backup stamp (`2026_11_28T02_00_00`).
 */
export function parseAtTime(text: string): Date {
  const stamp = parseStamp(text);
  if (stamp) return stamp;
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const day = new Date(`${text}T23:59:59Z`);
    if (!Number.isNaN(day.getTime()) && day.toISOString().startsWith(text)) return day;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.test(text)) {
    const t = new Date(text);
    if (!Number.isNaN(t.getTime())) return t;
  }
  throw new UsageError(`--at "${text}" is not a time: give a UTC time such as 2026-11-28T02:00:00Z, a day (2026-11-28), or a backup's stamp (2026_11_28T02_00_00)`);
}

export interface RecoverySet {
  database: RemoteCopy | null;
  media: RemoteCopy | null;
  /** Said before anything is fetched: a half missing, or halves from different sets. */
  notes: string[];
}

/**
 * Pure: what a recovery restores: the newest complete database copy made at or before `at` (the
 * newest of all without it) and the media copy of the same set; when that set has no media copy,
 * the newest media copy before it, said in a note. Refuses when nothing fits.
 */
export function chooseRecoverySet(copies: readonly RemoteCopy[], at: Date | null, where: string): RecoverySet {
  const complete = copies.filter((c) => !copyIncomplete(c));
  // An incremental is a point to recover only when every archive below it is there, complete.
  const usable = complete.filter((c) => (at === null || c.time.getTime() <= at.getTime()) && chainOf(c, complete).broken === null);
  const newest = (kind: BackupKind, not?: (c: RemoteCopy) => boolean) => usable.filter((c) => c.kind === kind && (!not || not(c)))[0] ?? null;
  const notes: string[] = [];
  const database = newest('database');
  let media: RemoteCopy | null;
  if (database) {
    media = usable.find((c) => c.kind === 'media' && setKey(c) === setKey(database)) ?? null;
    if (!media) {
      media = newest('media', (c) => c.time.getTime() <= database.time.getTime());
      notes.push(
        media
          ? `set ${setKey(database)} has no media copy at ${where}; the media comes from ${media.name}, made ${formatStamp(media.time)}`
          : `no media copy at ${where} made before the database copy ${database.name}; only the database is recovered`,
      );
    }
  } else {
    media = newest('media');
    if (media) notes.push(`no database copy at ${where}${at ? ` made before ${at.toISOString()}` : ''}; only the media is recovered`);
  }
  if (!database && !media) {
    const when = at ? ` made at or before ${at.toISOString()}` : '';
    throw new UsageError(`no complete copy at ${where}${when}; run list-backups --offsite to see what is there`);
  }
  return { database, media, notes };
}
