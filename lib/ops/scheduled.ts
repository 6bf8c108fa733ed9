// The scheduled run, as cron starts it: lock, start ping, the backup set, checks of the new
// files, sanity gates, an optional restore drill, retention (only after full success), the push
// to each offsite target, the Prometheus textfile, backup.log lines, and the final ping with the
// run's log.
import path from 'node:path';
import { errorMessage, failure, LockedError } from '../cli/errors.ts';
import { addSink, log } from '../cli/output.ts';
import type { Settings } from '../config/resolve.ts';
import { isDrillDay, stepLine, summarize, type StepResult } from '../core/schedule.ts';
import { formatDrillLine } from '../core/verdicts.ts';
import { openConnection } from '../db/pg.ts';
import { writePrometheusTextfile } from '../monitor/collect.ts';
import { pingerFor } from '../monitor/operation.ts';
import { acquireLock, lockHolder, type LockHandle } from '../store/lock.ts';
import { appendLog, formatLogLine, rotateIfNeeded } from '../store/logfile.ts';
import { ensurePrivateDir } from '../store/publish.ts';
import { backupSet } from './backup-set.ts';
import { runDrill } from './drill.ts';
import { runPrune } from './prune.ts';
import { gate } from './sanity.ts';
import { backupFileAt, parentLinkProblem, verifyBackup } from './verify.ts';

export const LOG_NAME = 'backup.log';
export const LOCK_NAME = '.scheduled-backup.lock';

/** Time one step; a thrown error makes it a failed step with the error as its detail. */
async function step(
  results: StepResult[],
  name: string,
  fn: () => Promise<Omit<StepResult, 'step' | 'durationMs'>>,
): Promise<StepResult> {
  const started = Date.now();
  let r: StepResult;
  try {
    r = { step: name, durationMs: 0, ...(await fn()) };
  } catch (err) {
    r = { step: name, status: 'failed', durationMs: 0, detail: errorMessage(err) };
  }
  r.durationMs = Date.now() - started;
  results.push(r);
  (r.status === 'failed' ? log.error : r.status === 'warning' ? log.warn : log.info)(stepLine(r));
  return r;
}

export interface ScheduledOutcome {
  ok: boolean;
  environment: string;
  /** The run id of its pings (Healthchecks.io's rid). */
  rid: string;
  steps: StepResult[];
  summary: string;
}

/**
 * One scheduled run. The order matters for monitoring: a lock held by a live run is seen without
 * writing anything (exit 75, no ping: overlapping runs are not failures); then the start ping goes
 * out before anything is written, so a full disk, an unwritable folder or a failing lock file is
 * a failure Healthchecks.io hears about at once (/fail with the reason), not after the grace time.
 */
export async function runScheduled(settings: Settings, now: () => Date): Promise<ScheduledOutcome> {
  const logPath = path.join(settings.backupDir, LOG_NAME);
  const lockPath = path.join(settings.backupDir, LOCK_NAME);
  const pending: string[] = [];
  const runLines: string[] = [];
  const detach = addSink((line) => {
    const l = formatLogLine(new Date(), line);
    pending.push(l);
    runLines.push(l);
  });
  const flush = async () => {
    if (pending.length) await appendLog(logPath, pending.splice(0));
  };
  const held = await lockHolder(lockPath);
  if (held) {
    log.warn(held);
    await flush().catch(() => undefined);
    detach();
    throw new LockedError(held);
  }

  const pinger = pingerFor(settings, settings.healthchecks.url);
  const started = Date.now();
  const results: StepResult[] = [];
  let ok = false;
  let summaryLine = '';
  let lock: LockHandle | null = null;
  log.info(`scheduled backup started (environment ${settings.envName}, run ${pinger.rid})`);
  await pinger.start(runLines.join('\n'));
  try {
    await ensurePrivateDir(settings.backupDir);
    try {
      lock = await acquireLock(lockPath, { env: settings.envName });
    } catch (err) {
      // Another run took the lock between the look and the start ping: this one did nothing.
      if (err instanceof LockedError) {
        log.warn(err.message);
        await pinger.log(runLines.join('\n'));
      }
      throw err;
    }
    await rotateIfNeeded(logPath, { maxBytes: settings.log.maxBytes, now: now() });
    const conn = openConnection(settings.database);
    const halves = await backupSet(settings, conn, now());
    for (const h of halves) {
      const r: StepResult = {
        step: `backup-${h.half === 'database' ? 'db' : 'media'}`,
        status: h.backup ? 'ok' : h.skipped ? 'skipped' : 'failed',
        durationMs: h.durationMs,
        bytes: h.backup?.size,
        detail: h.backup ? h.backup.name : (h.error ?? h.skipped ?? ''),
      };
      results.push(r);
      (h.backup ? log.info : h.skipped ? log.warn : log.error)(stepLine(r));
    }
    const written = halves.flatMap((h) => (h.backup ? [h.backup] : []));
    /** New backups that failed their checks: never pushed offsite. */
    const unfit = new Map<string, string>();
    for (const b of written) {
      const r = await step(results, `verify-${b.manifest.kind === 'database' ? 'db' : 'media'}`, async () => {
        const v = await verifyBackup(b.path, { requireManifest: true });
        if (!v.ok) throw new Error(`${b.name}: ${v.problems.join('; ')}`);
        // An incremental is only as good as its chain: its parent must still be the archive it
        // was made on (the parent itself was verified by the run that made it).
        const link = b.manifest.media?.level ? await parentLinkProblem(b.path, b.manifest) : null;
        if (link) throw new Error(`${b.name}: ${link}`);
        return { status: 'ok', detail: `${b.name} (${v.checks.join(', ')}${b.manifest.media?.level ? `, builds on ${b.manifest.media.parent?.name}` : ''})` };
      });
      if (r.status === 'failed') unfit.set(b.name, 'it failed its checks in this run');
    }
    if (written.length) {
      await step(results, 'sanity', async () => {
        const verdicts = await gate(settings, written);
        const warned = verdicts.filter((v) => v.level === 'warn');
        // gate() has logged each warning already.
        return { status: warned.length ? 'warning' : 'ok', detail: warned.length ? `${warned.length} warning(s) above` : '' };
      });
    }
    const failedSoFar = () => results.some((r) => r.status === 'failed');
    if (isDrillDay(settings.verify.drill, now()) && written.length) {
      await step(results, 'drill', async () => {
        // What this run just made, not whatever name sorts newest in the folder.
        const d = await runDrill(conn, await Promise.all(written.map((b) => backupFileAt(b.path))));
        const lines = d.parts.map(formatDrillLine);
        if (!d.ok) throw new Error(lines.filter((l) => l.startsWith('FAIL')).join('; '));
        return { status: 'ok', detail: lines.join('; ') };
      });
    }
    if (failedSoFar()) {
      results.push({ step: 'prune', status: 'skipped', durationMs: 0, detail: 'because a step failed: backups are kept until a run succeeds' });
      log.warn(stepLine(results[results.length - 1]!));
    } else {
      await step(results, 'prune', async () => {
        const outcome = await runPrune(settings, now());
        const n = outcome.plan.remove.length;
        return { status: 'ok', detail: n ? `removed ${n} old backup${n === 1 ? '' : 's'}` : 'nothing to remove' };
      });
    }
    // Offsite copies: a catch-up of every backup not there yet, even after a failed step (what was
    // made before is worth having offsite); the targets' retention only after full success, like prune.
    const targets = Object.keys(settings.offsite);
    if (targets.length) {
      const prune = !failedSoFar();
      const { pushSummary, withTarget } = await import('./offsite.ts');
      const { pushToTarget } = await import('../offsite/push.ts');
      for (const name of targets) {
        await step(results, `offsite-${name}`, async () => {
          const o = await withTarget(settings, settings.offsite[name]!(), (store) => pushToTarget(store, settings, now, { prune, exclude: unfit }));
          return { status: 'ok', detail: `${pushSummary(o)}${prune ? '' : '; its retention not applied because a step failed'}` };
        });
      }
    }
    if (settings.prometheusTextfile) {
      await step(results, 'metrics', async () => ({ status: 'ok', detail: (await writePrometheusTextfile(settings, now())) ?? '' }));
    }
    const summary = summarize(results, Date.now() - started);
    ok = summary.ok;
    summaryLine = summary.line;
    (ok ? log.success : log.error)(summary.line);
  } catch (err) {
    if (err instanceof LockedError) {
      detach();
      throw err;
    }
    summaryLine = `scheduled backup stopped: ${errorMessage(failure('the scheduled backup', err, settings.backupDir))}`;
    log.error(summaryLine);
    ok = false;
  }
  // The log file may be what failed (a full disk): the ping still carries every line, and says so.
  await flush().catch((err) => {
    const line = `cannot write ${logPath}: ${errorMessage(failure('writing backup.log', err, settings.backupDir))}`;
    runLines.push(formatLogLine(new Date(), `error: ${line}`));
    process.stderr.write(`error: ${line}\n`);
    ok = false;
  });
  const body = runLines.join('\n');
  if (ok) await pinger.success(body);
  else await pinger.fail(body);
  detach();
  await lock?.release();
  return { ok, environment: settings.envName, rid: pinger.rid, steps: results, summary: summaryLine };
}
