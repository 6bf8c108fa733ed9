// What prune would keep and remove, and why: the retention policies (lib/core/retention) applied
// to the backup tree, with the command's safety rules on top of the pure policy: the newest backup
// of a group is never removed, and a plan that would remove every backup of a group is refused.
// The safety databases restore-db keeps follow the snapshots policy too, the newest kept. Pure;
// lib/ops/prune lists, checks and removes.
import type { SafetyDatabase } from '../db/safety-names.ts';
import type { BackupFile } from '../store/catalog.ts';
import { chainOf } from './chains.ts';
import { humanAge } from './format.ts';
import type { BackupKind, BackupName, BackupRole } from './naming.ts';
import { applyPolicy, describePolicy, newestFirstOrder, type Policy, type TieBreak } from './retention.ts';

export type PolicyName = 'database' | 'media' | 'snapshots';
export type Action = 'keep' | 'remove' | 'unmanaged';

export const NEWEST_REASON = 'newest';
export const UNMANAGED_REASON = 'other environment: not managed';
/** The reason an archive that no policy keeps stays: a kept incremental builds on it. */
export const NEEDED_BY = 'needed by ';

/** What a plan is made of: local backups (lib/store/catalog's files) or a target's copies. */
export interface PrunableBackup extends BackupName {
  size: number;
}

export interface PruneEntry<T extends PrunableBackup = BackupFile> {
  file: T;
  action: Action;
  reasons: string[];
}

/** Backups of one kind and role from one environment: a policy applies to each group on its own. */
export interface PruneGroup<T extends PrunableBackup = BackupFile> {
  kind: BackupKind;
  role: BackupRole;
  /** null: this environment's own backups; else the environment a downloaded copy came from. */
  env: string | null;
  /** The policy applied, or null for another environment's copies (never touched). */
  policyName: PolicyName | null;
  policy: Policy | null;
  /** Newest first. */
  entries: PruneEntry<T>[];
  /** Why this group may not be pruned as planned, or null. */
  refusal: string | null;
}

export interface PrunePlan<T extends PrunableBackup = BackupFile> {
  now: Date;
  groups: PruneGroup<T>[];
  /** Every backup the plan removes, across groups (their manifests go with them). */
  remove: T[];
  refusals: string[];
}

/** The three policies of an environment (settings.retention). */
export type Retention = Record<PolicyName, Policy>;

/** Same second: the higher sequence number is the newer backup, as lib/naming orders them. */
const bySeq: TieBreak<PrunableBackup> = (a, b) => b.seq - a.seq;
const newestFirst = newestFirstOrder(bySeq);

const KIND_ORDER: BackupKind[] = ['database', 'media'];
const ROLE_ORDER: BackupRole[] = ['backup', 'snapshot'];

/** Pure: "database backups", "media safety snapshots", "production database backups". */
export function groupLabel(g: Pick<PruneGroup, 'kind' | 'role' | 'env'>): string {
  return `${g.env ? `${g.env} ` : ''}${g.kind} ${g.role === 'snapshot' ? 'safety snapshots' : 'backups'}`;
}

export function policyNameFor(kind: BackupKind, role: BackupRole): PolicyName {
  return role === 'snapshot' ? 'snapshots' : kind;
}

function groupOrder(a: PruneGroup<PrunableBackup>, b: PruneGroup<PrunableBackup>): number {
  // This environment's own groups first, then other environments by name.
  if ((a.env === null) !== (b.env === null)) return a.env === null ? -1 : 1;
  return (
    (a.env ?? '').localeCompare(b.env ?? '') ||
    ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role) ||
    KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind)
  );
}

export interface PlanOptions<T> {
  /**
   * Which item the newest rule protects: the newest of the group that passes this (a target's
   * newest *verified* copy); default: the newest of all.
   */
  newestAmong?: (item: T) => boolean;
  /** The reason it is kept for (default: newest). */
  newestReason?: string;
}

/**
 * Pure: what prune would keep and remove, and why; `files` as lib/catalog lists them, or a
 * target's copies (lib/offsite, with the target's retention).
 */
export function planPrune<T extends PrunableBackup = BackupFile>(files: readonly T[], retention: Retention, now: Date, opts: PlanOptions<T> = {}): PrunePlan<T> {
  const byGroup = new Map<string, T[]>();
  for (const f of files) {
    const key = `${f.env ?? ''}\u0000${f.kind}\u0000${f.role}`;
    byGroup.set(key, [...(byGroup.get(key) ?? []), f]);
  }
  const groups: PruneGroup<T>[] = [];
  for (const list of byGroup.values()) {
    const sorted = [...list].sort(newestFirst);
    const { kind, role, env } = sorted[0]!;
    if (env !== null) {
      // Another environment's copies are that environment's business (and its own prune's).
      const entries = sorted.map((file) => ({ file, action: 'unmanaged' as const, reasons: [UNMANAGED_REASON] }));
      groups.push({ kind, role, env, policyName: null, policy: null, entries, refusal: null });
      continue;
    }
    const policyName = policyNameFor(kind, role);
    const policy = retention[policyName];
    const { keep, remove } = applyPolicy(sorted, policy, now, bySeq);
    const reasonsOf = new Map([...keep, ...remove].map((d) => [d.item, d.reasons]));
    const newest = sorted[0]!;
    const protectedItem = opts.newestAmong ? sorted.find(opts.newestAmong) : newest;
    const entries = sorted.map((file): PruneEntry<T> => {
      const reasons = [...(reasonsOf.get(file) ?? [])];
      if (file === protectedItem) reasons.push(opts.newestReason ?? NEWEST_REASON);
      return { file, action: reasons.length ? 'keep' : 'remove', reasons };
    });
    keepChains(entries);
    const group: PruneGroup<T> = { kind, role, env, policyName, policy, entries, refusal: null };
    // The newest is kept regardless, but a policy that keeps nothing at all is a mistake (or
    // backups stopped long ago): removing everything else on its word is what must not happen.
    if (keep.length === 0) {
      group.refusal =
        `${groupLabel(group)}: the ${policyName} policy (${describePolicy(policy)}) would remove all ${sorted.length} of them ` +
        `(the newest, ${newest.name}, is ${humanAge(newest.time, now)} old); widen the policy (for example keepLast: 1) or make a new backup first`;
    }
    groups.push(group);
  }
  groups.sort(groupOrder);
  return {
    now,
    groups,
    remove: groups.flatMap((g) => g.entries.filter((e) => e.action === 'remove').map((e) => e.file)),
    refusals: groups.flatMap((g) => (g.refusal ? [g.refusal] : [])),
  };
}

/**
 * An incremental restores only with every archive below it: each link that a kept restore point
 * needs is kept too, saying by which (the newest such point), so no incremental is ever orphaned.
 */
function keepChains<T extends PrunableBackup>(entries: PruneEntry<T>[]): void {
  if (!entries.some((e) => e.file.level > 0)) return;
  const files = entries.map((e) => e.file);
  const byFile = new Map(entries.map((e) => [e.file, e]));
  // Newest first: the first point to claim a link is the newest that needs it.
  for (const point of entries.filter((e) => e.action === 'keep')) {
    for (const link of chainOf(point.file, files).links) {
      const e = byFile.get(link)!;
      if (e.action === 'keep') continue;
      e.reasons.push(`${NEEDED_BY}${point.file.name}`);
      e.action = 'keep';
    }
  }
}

/** Pure: the groups whose newest backup must pass the completeness check before anything goes. */
export function groupsToPrune<T extends PrunableBackup>(plan: PrunePlan<T>): PruneGroup<T>[] {
  return plan.groups.filter((g) => g.policyName !== null && g.entries.some((e) => e.action === 'remove'));
}

export interface SafetyDbEntry {
  db: SafetyDatabase;
  action: 'keep' | 'remove';
  reasons: string[];
}

export interface SafetyDbPlan {
  /** The live database whose safety databases these are; null when the server did not answer. */
  live: string | null;
  /** Why the server could not be asked (printed once as a warning), else null. */
  unavailable: string | null;
  /** Newest first. */
  entries: SafetyDbEntry[];
  /** Names actually dropped; empty in a dry run or a refusal. */
  dropped: string[];
}

const safetyBySeq: TieBreak<SafetyDatabase> = (a, b) => b.seq - a.seq;

/**
 * Pure: which safety databases the snapshots policy keeps, and why. The newest is always kept
 * (it is the undo of the last restore); unlike files, a policy that keeps none of them is not a
 * refusal: restores are rare, so old safety databases are the normal case, not a stopped backup.
 */
export function planSafetyDatabases(dbs: readonly SafetyDatabase[], policy: Policy, now: Date): SafetyDbEntry[] {
  const sorted = [...dbs].sort(newestFirstOrder(safetyBySeq));
  const { keep, remove } = applyPolicy(sorted, policy, now, safetyBySeq);
  const reasonsOf = new Map([...keep, ...remove].map((d) => [d.item, d.reasons]));
  return sorted.map((db, i) => {
    const reasons = [...(reasonsOf.get(db) ?? [])];
    if (i === 0) reasons.push(NEWEST_REASON);
    return { db, action: reasons.length ? 'keep' : 'remove', reasons };
  });
}

export interface NewestCheck {
  group: string;
  name: string;
  path: string;
  /** Why the backup is not complete, or null when it is. */
  failure: string | null;
}

export interface PruneOutcome {
  dryRun: boolean;
  backupDir: string;
  plan: PrunePlan;
  checks: NewestCheck[];
  /** One line saying why nothing was removed, or null. */
  refusal: string | null;
  /** Paths removed (backups and their manifests), in order. */
  removed: string[];
  /** The safety databases, or null when the settings name no database (in-process callers). */
  databases: SafetyDbPlan | null;
}

/** Pure: the one line of a refusal, or null. */
export function refusalLine(plan: PrunePlan<PrunableBackup>, checks: readonly NewestCheck[]): string | null {
  const reasons = [
    ...plan.refusals,
    ...checks
      .filter((c) => c.failure !== null)
      .map((c) => `${c.group}: the newest, ${c.name}, fails the completeness check (${c.failure}); look into it and make a new backup first`),
  ];
  return reasons.length ? `refusing to prune, nothing was removed: ${reasons.join('; ')}` : null;
}

