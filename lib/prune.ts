// Prune: the retention policies applied to the backup tree, with the command's safety rules on
// top of the pure policy (lib/retention): the newest backup of a group is never removed, a plan
// that would remove every backup of a group is refused, and nothing is removed unless the newest
// backup of each group being pruned reads back complete. The safety databases restore-db keeps
// (lib/safety-name) follow the snapshots policy too, newest kept, asked of the server on the side:
// an unreachable server leaves them for the next run and does not stop the files' prune.
// Planning and formatting are pure; listing, checking, removing and dropping are the effects, in
// runPrune, which the scheduled run calls directly.
import fsp from 'node:fs/promises';
import { checkArchive } from './archive.ts';
import { humanAge, humanBytes, listAll, type BackupFile } from './catalog.ts';
import type { Policy, Settings } from './config.ts';
import { FOOTER } from './dump-inspector.ts';
import { scanDump } from './verify.ts';
import { errorMessage, FailedError } from './errors.ts';
import { log } from './log.ts';
import { setKey, type BackupKind, type BackupRole } from './naming.ts';
import type { PgConnection } from './pg.ts';
import { applyPolicy, describePolicy, newestFirstOrder, type TieBreak } from './retention.ts';
import { dropSafetyDatabase, lookUpSafetyDatabases } from './safety-db.ts';
import type { SafetyDatabase } from './safety-name.ts';

export type PolicyName = 'database' | 'media' | 'snapshots';
export type Action = 'keep' | 'remove' | 'unmanaged';

export const NEWEST_REASON = 'newest';
export const UNMANAGED_REASON = 'other environment: not managed';

export interface PruneEntry {
  file: BackupFile;
  action: Action;
  reasons: string[];
}

/** Backups of one kind and role from one environment: a policy applies to each group on its own. */
export interface PruneGroup {
  kind: BackupKind;
  role: BackupRole;
  /** null: this environment's own backups; else the environment a downloaded copy came from. */
  env: string | null;
  /** The policy applied, or null for another environment's copies (never touched). */
  policyName: PolicyName | null;
  policy: Policy | null;
  /** Newest first. */
  entries: PruneEntry[];
  /** Why this group may not be pruned as planned, or null. */
  refusal: string | null;
}

export interface PrunePlan {
  now: Date;
  groups: PruneGroup[];
  /** Every backup the plan removes, across groups (their manifests go with them). */
  remove: BackupFile[];
  refusals: string[];
}

export type Retention = Settings['retention'];

/** Same second: the higher sequence number is the newer backup, as lib/naming orders them. */
const bySeq: TieBreak<BackupFile> = (a, b) => b.seq - a.seq;
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

function groupOrder(a: PruneGroup, b: PruneGroup): number {
  // This environment's own groups first, then other environments by name.
  if ((a.env === null) !== (b.env === null)) return a.env === null ? -1 : 1;
  return (
    (a.env ?? '').localeCompare(b.env ?? '') ||
    ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role) ||
    KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind)
  );
}

/** Pure: what prune would keep and remove, and why; `files` as lib/catalog lists them. */
export function planPrune(files: readonly BackupFile[], retention: Retention, now: Date): PrunePlan {
  const byGroup = new Map<string, BackupFile[]>();
  for (const f of files) {
    const key = `${f.env ?? ''}\u0000${f.kind}\u0000${f.role}`;
    byGroup.set(key, [...(byGroup.get(key) ?? []), f]);
  }
  const groups: PruneGroup[] = [];
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
    const entries = sorted.map((file): PruneEntry => {
      const reasons = [...(reasonsOf.get(file) ?? [])];
      if (file === newest) reasons.push(NEWEST_REASON);
      return { file, action: reasons.length ? 'keep' : 'remove', reasons };
    });
    const group: PruneGroup = { kind, role, env, policyName, policy, entries, refusal: null };
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

/** Pure: the groups whose newest backup must pass the completeness check before anything goes. */
export function groupsToPrune(plan: PrunePlan): PruneGroup[] {
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

/**
 * Read a backup to its end: a dump must decompress fully and end with pg_dump's completion
 * footer; a media archive must decompress and list fully. Returns why not, or null.
 */
export async function checkComplete(file: Pick<BackupFile, 'path' | 'kind' | 'codec'>): Promise<string | null> {
  if (file.kind === 'media') return (await checkArchive(file.path, file.codec)).failure;
  const pass = await scanDump(file.path, file.codec, undefined, `${file.codec} -d`);
  if (pass.failure) return pass.failure;
  return pass.info.complete ? null : `it ends without "${FOOTER}" (cut short)`;
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

/** Nothing was removed: the plan or the completeness check refused. Carries the outcome for display. */
export class PruneRefusedError extends FailedError {
  constructor(readonly outcome: PruneOutcome) {
    super(outcome.refusal ?? 'prune refused');
  }
}

/** Pure: the one line of a refusal, or null. */
export function refusalLine(plan: PrunePlan, checks: readonly NewestCheck[]): string | null {
  const reasons = [
    ...plan.refusals,
    ...checks
      .filter((c) => c.failure !== null)
      .map((c) => `${c.group}: the newest, ${c.name}, fails the completeness check (${c.failure}); look into it and make a new backup first`),
  ];
  return reasons.length ? `refusing to prune, nothing was removed: ${reasons.join('; ')}` : null;
}

export interface RunPruneOptions {
  dryRun?: boolean;
  /** Called with each path right after it is removed (the script prints it). */
  onRemoved?: (path: string) => void;
  /** Called with each safety database's name right after it is dropped. */
  onDropped?: (name: string) => void;
}

/**
 * List, plan, check and (unless dry-run) remove; then drop the safety databases the plan drops.
 * Throws PruneRefusedError when the plan or a check refuses (nothing removed, nothing dropped); a
 * dry run checks too, so it predicts the real run's outcome.
 */
export async function runPrune(
  settings: Pick<Settings, 'backupDir' | 'retention'> & Partial<Pick<Settings, 'database'>>,
  now: Date,
  opts: RunPruneOptions = {},
): Promise<PruneOutcome> {
  const files = await listAll(settings.backupDir);
  const plan = planPrune(files, settings.retention, now);
  const outcome: PruneOutcome = { dryRun: !!opts.dryRun, backupDir: settings.backupDir, plan, checks: [], refusal: null, removed: [], databases: null };
  if (plan.refusals.length === 0) {
    for (const g of groupsToPrune(plan)) {
      const newest = g.entries[0]!.file;
      outcome.checks.push({ group: groupLabel(g), name: newest.name, path: newest.path, failure: await checkComplete(newest) });
    }
  }
  outcome.refusal = refusalLine(plan, outcome.checks);

  let conn: PgConnection | null = null;
  if (settings.database) {
    const found = await lookUpSafetyDatabases(settings.database);
    if (found.ok) {
      conn = found.conn;
      outcome.databases = { live: found.live, unavailable: null, entries: planSafetyDatabases(found.databases, settings.retention.snapshots, now), dropped: [] };
    } else {
      outcome.databases = { live: null, unavailable: found.reason, entries: [], dropped: [] };
      log.warn(`safety databases not pruned (files are): ${found.reason}`);
    }
  }
  try {
    if (outcome.refusal) throw new PruneRefusedError(outcome);
    if (opts.dryRun) return outcome;

    for (const f of plan.remove) {
      // The manifest first: an interruption then leaves a backup without its manifest, which the
      // next prune removes, rather than a manifest whose backup is gone, which nothing would.
      for (const p of [f.manifestPath, f.path]) {
        if (!p) continue;
        try {
          await fsp.unlink(p);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw new FailedError(`could not remove ${p}: ${(err as Error).message}; ${outcome.removed.length} files were removed before it`);
        }
        outcome.removed.push(p);
        opts.onRemoved?.(p);
      }
    }
    for (const e of outcome.databases?.entries ?? []) {
      if (e.action !== 'remove' || !conn) continue;
      try {
        await dropSafetyDatabase(conn, e.db.name);
      } catch (err) {
        // Someone may be reading it (to copy data back): it stays until a later prune.
        log.warn(`safety database "${e.db.name}" was not dropped (${errorMessage(err)}); the next prune tries again`);
        continue;
      }
      outcome.databases!.dropped.push(e.db.name);
      opts.onDropped?.(e.db.name);
    }
    return outcome;
  } finally {
    conn?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Presentation (pure).

export interface PruneJson {
  environment: string;
  backupDir: string;
  now: string;
  dryRun: boolean;
  refusal: string | null;
  policies: Record<PolicyName, { policy: Policy; text: string }>;
  groups: {
    kind: BackupKind;
    role: BackupRole;
    environment: string;
    managed: boolean;
    policy: PolicyName | null;
    refusal: string | null;
    newestCheck: { name: string; ok: boolean; failure: string | null } | null;
    backups: { name: string; path: string; set: string; time: string; size: number; action: Action; reasons: string[] }[];
  }[];
  /** Paths of the backups the plan removes (their manifests go with them). */
  remove: string[];
  /** Paths actually removed (backups and manifests); empty in a dry run or a refusal. */
  removed: string[];
  summary: { keep: number; remove: number; unmanaged: number; removeBytes: number };
  /** The safety databases restore-db kept (snapshots policy); null when no database is configured. */
  safetyDatabases: {
    /** The live database they are safety copies of; null when the server did not answer. */
    database: string | null;
    /** Why they were not looked at (the server did not answer), else null. */
    unavailable: string | null;
    databases: { name: string; time: string; size: number | null; action: 'keep' | 'remove'; reasons: string[] }[];
    /** Names the plan drops. */
    drop: string[];
    /** Names actually dropped; empty in a dry run or a refusal. */
    dropped: string[];
  } | null;
}

function dbCounts(outcome: PruneOutcome) {
  const entries = outcome.databases?.entries ?? [];
  return { keep: entries.filter((e) => e.action === 'keep').length, remove: entries.filter((e) => e.action === 'remove').length };
}

function counts(plan: PrunePlan) {
  const all = plan.groups.flatMap((g) => g.entries);
  return {
    keep: all.filter((e) => e.action === 'keep').length,
    remove: plan.remove.length,
    unmanaged: all.filter((e) => e.action === 'unmanaged').length,
    removeBytes: plan.remove.reduce((n, f) => n + f.size, 0),
  };
}

export function pruneJson(outcome: PruneOutcome, localEnv: string, retention: Retention): PruneJson {
  const { plan } = outcome;
  return {
    environment: localEnv,
    backupDir: outcome.backupDir,
    now: plan.now.toISOString(),
    dryRun: outcome.dryRun,
    refusal: outcome.refusal,
    policies: {
      database: { policy: retention.database, text: describePolicy(retention.database) },
      media: { policy: retention.media, text: describePolicy(retention.media) },
      snapshots: { policy: retention.snapshots, text: describePolicy(retention.snapshots) },
    },
    groups: plan.groups.map((g) => {
      const check = outcome.checks.find((c) => c.group === groupLabel(g));
      return {
        kind: g.kind,
        role: g.role,
        environment: g.env ?? localEnv,
        managed: g.policyName !== null,
        policy: g.policyName,
        refusal: g.refusal,
        newestCheck: check ? { name: check.name, ok: check.failure === null, failure: check.failure } : null,
        backups: g.entries.map((e) => ({
          name: e.file.name,
          path: e.file.path,
          set: setKey(e.file),
          time: e.file.time.toISOString(),
          size: e.file.size,
          action: e.action,
          reasons: e.reasons,
        })),
      };
    }),
    remove: plan.remove.map((f) => f.path),
    removed: outcome.removed,
    summary: counts(plan),
    safetyDatabases: outcome.databases && {
      database: outcome.databases.live,
      unavailable: outcome.databases.unavailable,
      databases: outcome.databases.entries.map((e) => ({
        name: e.db.name,
        time: e.db.time.toISOString(),
        size: e.db.size,
        action: e.action,
        reasons: e.reasons,
      })),
      drop: outcome.databases.entries.filter((e) => e.action === 'remove').map((e) => e.db.name),
      dropped: outcome.databases.dropped,
    },
  };
}

function cell(e: Pick<PruneEntry, 'action' | 'reasons'> | undefined): string {
  if (!e) return '-';
  return e.action === 'keep' ? `keep    ${e.reasons.join(', ')}` : e.action;
}

function table(rows: string[][], indent = '  '): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd());
}

/**
 * Pure: the dry run for people. Database and media backups side by side, one row per set, so a
 * user sees which database dumps keep their media; then safety snapshots; then other environments.
 */
export function formatPlan(outcome: PruneOutcome, localEnv: string, retention: Retention): string {
  const { plan } = outcome;
  const out: string[] = [];
  out.push(`Retention for environment "${localEnv}" in ${outcome.backupDir} (now ${plan.now.toISOString().replace('.000Z', 'Z')}):`);
  out.push(
    ...table([
      ['database backups', describePolicy(retention.database)],
      ['media backups', describePolicy(retention.media)],
      ['safety snapshots', `${describePolicy(retention.snapshots)} (database, media and safety databases, each apart)`],
    ]),
  );
  const safetyDbs = outcome.databases?.entries ?? [];
  if (plan.groups.length === 0 && safetyDbs.length === 0) {
    out.push('', 'No backups here: nothing to prune.');
    return out.join('\n');
  }

  const own = (kind: BackupKind, role: BackupRole) =>
    plan.groups.find((g) => g.env === null && g.kind === kind && g.role === role)?.entries ?? [];
  const db = own('database', 'backup');
  const media = own('media', 'backup');
  if (db.length || media.length) {
    // Rows per set, newest set first; a set with two files of one kind (.zst and .gz) takes two rows.
    const sets = new Map<string, { time: number; seq: number; db: PruneEntry[]; media: PruneEntry[] }>();
    for (const [list, side] of [[db, 'db'], [media, 'media']] as const) {
      for (const e of list) {
        const key = setKey(e.file);
        const s = sets.get(key) ?? { time: e.file.time.getTime(), seq: e.file.seq, db: [], media: [] };
        s[side].push(e);
        sets.set(key, s);
      }
    }
    const rows: string[][] = [['set', 'database', 'media']];
    const ordered = [...sets].sort(([, a], [, b]) => b.time - a.time || b.seq - a.seq);
    for (const [key, s] of ordered) {
      for (let i = 0; i < Math.max(s.db.length, s.media.length); i++) rows.push([i ? '' : key, cell(s.db[i]), cell(s.media[i])]);
    }
    out.push('', 'Backup sets, newest first (database | media):', ...table(rows));
  }

  const snapshots = [...own('database', 'snapshot'), ...own('media', 'snapshot')];
  if (snapshots.length) {
    out.push('', 'Safety snapshots (taken before restores):', ...table(snapshots.map((e) => [e.file.name, cell(e)])));
  }

  if (safetyDbs.length) {
    out.push(
      '',
      `Safety databases of "${outcome.databases!.live}" (the databases restores replaced, kept on the server):`,
      ...table(safetyDbs.map((e) => [e.db.name, cell(e)])),
    );
  }

  const others = plan.groups.filter((g) => g.policyName === null).flatMap((g) => g.entries);
  if (others.length) {
    out.push('', 'Other environments (downloaded copies):', ...table(others.map((e) => [e.file.name, UNMANAGED_REASON])));
  }

  const failed = outcome.checks.filter((c) => c.failure !== null);
  const passed = outcome.checks.filter((c) => c.failure === null);
  if (outcome.checks.length) {
    out.push('', 'Completeness check of the newest backup of each group being pruned:');
    out.push(...passed.map((c) => `  ok       ${c.name}`), ...failed.map((c) => `  FAILED   ${c.name}: ${c.failure}`));
  }

  const c = counts(plan);
  const d = dbCounts(outcome);
  out.push('');
  if (outcome.refusal) out.push(outcome.refusal.replace(/^r/, 'R'));
  else if (c.remove === 0 && d.remove === 0) {
    out.push(`Nothing to remove: all ${c.keep} backups${d.keep ? ` and ${d.keep} safety databases` : ''} are kept.`);
  } else {
    if (c.remove) out.push(`${outcome.dryRun ? 'Would remove' : 'Removed'} ${c.remove} backups (${humanBytes(c.removeBytes)}) with their manifests and keep ${c.keep}.`);
    if (d.remove && outcome.dryRun) out.push(`Would drop ${d.remove} safety databases and keep ${d.keep}.`);
    else if (d.remove) out.push(`Dropped ${outcome.databases!.dropped.length} of ${d.remove} safety databases and kept ${d.keep}.`);
  }
  if (outcome.dryRun) out.push('Dry run: nothing was changed.');
  return out.join('\n');
}
