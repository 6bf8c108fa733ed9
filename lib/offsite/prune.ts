// A target's retention: the local prune's plan (lib/core/prune-plan, through lib/core/offsite-plan)
// on the target's copies with the target's policy. The newest verified copy of each kind is always
// kept; a copy under S3 Object Lock is kept until its date, with that reason (asked of the storage
// itself, so a bucket's default retention counts too). Removing a copy removes its data first, so
// an interruption leaves only a checksum record or a manifest, which the next prune removes.
import { FailedError } from '../cli/errors.ts';
import type { Settings } from '../config/resolve.ts';
import { collectCopies, type RemoteCopy, type StoredObject } from '../core/offsite-names.ts';
import { applyLocks, copyIncomplete, planTargetPrune, receiptMismatch } from '../core/offsite-plan.ts';
import { refusalLine, type PrunePlan } from '../core/prune-plan.ts';
import { appendReceipt, readReceipts } from './receipts.ts';
import type { OffsiteStore } from './store.ts';

export interface TargetPruneOutcome {
  target: string;
  where: string;
  dryRun: boolean;
  plan: PrunePlan<RemoteCopy>;
  refusal: string | null;
  /** Copies removed (by backup name). */
  removed: string[];
  /** Checksum records and manifests whose copy is gone (an interrupted push or prune), removed. */
  orphans: string[];
}

/** Nothing was removed at the target: its plan refused. */
export class TargetPruneRefusedError extends FailedError {
  readonly outcome: TargetPruneOutcome;

  constructor(outcome: TargetPruneOutcome) {
    super(outcome.refusal ?? 'prune refused');
    this.outcome = outcome;
  }
}

export async function pruneTarget(
  store: OffsiteStore,
  settings: Pick<Settings, 'backupDir'>,
  now: Date,
  opts: { dryRun: boolean; listed?: StoredObject[] },
): Promise<TargetPruneOutcome> {
  const { target } = store;
  const [objects, receipts] = await Promise.all([opts.listed ?? store.list(), readReceipts(settings.backupDir, target.name)]);
  const { copies, orphans } = collectCopies(objects);
  const verified = (c: RemoteCopy) => copyIncomplete(c) === null && receiptMismatch(c, receipts.byName.get(c.name)) === null;
  let plan = planTargetPrune(copies, verified, target.retention, now);
  // Only the storage knows a copy's lock (a bucket's default retention included): asked for the ones the policy would remove.
  const locks = new Map<string, Date | null>();
  for (const c of plan.remove) locks.set(c.name, await store.lockedUntil(c.key));
  plan = applyLocks(plan, locks, now);
  const outcome: TargetPruneOutcome = { target: target.name, where: store.where, dryRun: opts.dryRun, plan, refusal: refusalLine(plan, []), removed: [], orphans: [] };
  if (outcome.refusal) throw new TargetPruneRefusedError(outcome);
  if (opts.dryRun) return outcome;
  for (const c of plan.remove) {
    for (const key of [c.keys.data, c.keys.checksum, c.keys.manifest]) await store.remove(key);
    await appendReceipt(settings.backupDir, target.name, { event: 'removed', name: c.name, at: now.toISOString() });
    outcome.removed.push(c.name);
  }
  outcome.orphans = await removeOrphans(store, orphans, now);
  return outcome;
}

/** Orphaned records and manifests, unless locked (they then wait for their date like copies). */
async function removeOrphans(store: OffsiteStore, orphans: StoredObject[], now: Date): Promise<string[]> {
  const removed: string[] = [];
  for (const o of orphans) {
    const until = await store.lockedUntil(o.key);
    if (until && until.getTime() > now.getTime()) continue;
    await store.remove(o.key);
    removed.push(o.key);
  }
  return removed;
}

/** The --json document of a target's prune. */
export function targetPruneJson(o: TargetPruneOutcome) {
  return {
    target: o.target,
    where: o.where,
    now: o.plan.now.toISOString(),
    dryRun: o.dryRun,
    refusal: o.refusal,
    copies: o.plan.groups
      .flatMap((g) => g.entries)
      .map((e) => ({ name: e.file.name, kind: e.file.kind, key: e.file.key, time: e.file.time.toISOString(), size: e.file.size, action: e.action, reasons: e.reasons })),
    remove: o.plan.remove.map((c) => c.name),
    removed: o.removed,
    orphans: o.orphans,
  };
}
