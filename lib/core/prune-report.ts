// How a prune is shown: the dry run's table for people (database and media side by side, one row
// per set) and the --json document. Pure.
import type { Policy } from './retention.ts';
import { describePolicy } from './retention.ts';
import { humanBytes } from './format.ts';
import { setKey, type BackupKind, type BackupRole } from './naming.ts';
import { groupLabel, UNMANAGED_REASON, type Action, type PolicyName, type PruneEntry, type PruneOutcome, type PrunePlan, type Retention } from './prune-plan.ts';

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

