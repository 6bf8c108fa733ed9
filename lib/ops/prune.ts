// Prune: removes what lib/core/prune-plan says no policy keeps, with their manifests, and drops
// the safety databases the snapshots policy does not keep. Nothing is removed unless the newest
// backup of each group being pruned reads back complete. The safety databases are asked of the
// server on the side: an unreachable server leaves them for the next run and does not stop the
// files' prune. The scheduled run calls runPrune directly.
import fsp from 'node:fs/promises';
import { errorMessage, FailedError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { Settings } from '../config/resolve.ts';
import { groupLabel, groupsToPrune, planPrune, planSafetyDatabases, refusalLine, type PruneOutcome } from '../core/prune-plan.ts';
import { FOOTER } from '../db/dump-scanner.ts';
import type { PgConnection } from '../db/pg.ts';
import { dropSafetyDatabase, lookUpSafetyDatabases } from '../db/safety-dbs.ts';
import { checkArchiveFile } from '../media/check.ts';
import { listAll, snapshotPathFor, type BackupFile } from '../store/catalog.ts';
import { scanDump } from './verify.ts';

/**
 * Read a backup to its end: a dump must decompress fully and end with pg_dump's completion
 * footer; a media archive must decompress and list fully. Returns why not, or null.
 */
export async function checkComplete(file: Pick<BackupFile, 'path' | 'kind' | 'codec'>): Promise<string | null> {
  if (file.kind === 'media') return (await checkArchiveFile(file.path, file.codec)).failure;
  const pass = await scanDump(file.path, file.codec, undefined, `${file.codec} -d`);
  if (pass.failure) return pass.failure;
  return pass.info.complete ? null : `it ends without "${FOOTER}" (cut short)`;
}

/** Nothing was removed: the plan or the completeness check refused. Carries the outcome for display. */
export class PruneRefusedError extends FailedError {
  readonly outcome: PruneOutcome;

  constructor(outcome: PruneOutcome) {
    super(outcome.refusal ?? 'prune refused');
    this.outcome = outcome;
  }
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
  if (outcome.refusal) throw new PruneRefusedError(outcome);
  if (opts.dryRun) return outcome;

  for (const f of plan.remove) {
    // The manifest first: an interruption then leaves a backup without its manifest, which the
    // next prune removes, rather than a manifest whose backup is gone, which nothing would.
    // Newest first, so an interrupted prune never leaves an incremental whose parent is gone.
    for (const p of [f.kind === 'media' ? snapshotPathFor(f.path) : null, f.manifestPath, f.path]) {
      if (!p) continue;
      try {
        await fsp.unlink(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new FailedError(`could not remove ${p}: ${(err as Error).message}; ${outcome.removed.length} files were removed before it`, { cause: err });
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
}
