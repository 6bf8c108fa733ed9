// The first thing every operation that touches the media folder does (backup-media, restore-media,
// verify, the scheduled run): look at it once and finish or undo what a restore killed at the
// wrong moment left there — a swap cut half-way, which its journal lets us complete or roll back,
// and staging folders of runs that never reached their swap — saying in one line what it did.
// Work of a run that is still going is never touched. The plan is pure; lib/media/swap runs it.
import fsp from 'node:fs/promises';
import { errorMessage, FailedError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { MediaTarget } from '../config/resolve.ts';
import { judgeRunAlive, parseRunId, systemLiveness, type Liveness, type RunId } from '../proc/pid.ts';
import { actionError, parseSettled, runAction, surveyMedia, type MediaSurvey, type RepairOutcome } from './swap.ts';
import { OLD_PREFIX, STAGING_PREFIX, SWAP_PREFIX, WORK_PREFIXES, type Via } from './tar.ts';

export interface WorkRun {
  token: string;
  /** Who made it: from its journal, else the pid in its token. */
  run: RunId | null;
  /** The swap had started (a journal exists). */
  swapping: boolean;
  names: string[];
}

export interface MediaRepairPlan {
  /** Tokens of dead runs, for the repair action. */
  repair: WorkRun[];
  /** Runs still going: their work is theirs. */
  live: WorkRun[];
}

/** Pure: the token a work entry belongs to and, for a journal, its phase; null for other names. */
export function parseWorkName(name: string): { token: string; journal: boolean } | null {
  for (const prefix of [STAGING_PREFIX, OLD_PREFIX]) {
    if (name.startsWith(prefix) && name.length > prefix.length) return { token: name.slice(prefix.length), journal: false };
  }
  const j = new RegExp(`^${SWAP_PREFIX.replace(/\./g, '\\.')}(.+)\\.(out|in|done)$`).exec(name);
  return j ? { token: j[1]!, journal: true } : null;
}

/** Pure: the pid at the end of a token (`<stamp>-<pid>`), or null. */
export function tokenPid(token: string): number | null {
  const m = /-(\d+)$/.exec(token);
  return m && Number(m[1]) > 0 ? Number(m[1]) : null;
}

/** Pure: which runs left work in the media folder, and which of them are gone. */
export function planMediaRepair(survey: Pick<MediaSurvey, 'work'>, alive: (run: RunId) => boolean): MediaRepairPlan {
  const runs = new Map<string, WorkRun>();
  for (const w of survey.work) {
    const parsed = parseWorkName(w.name);
    if (!parsed) continue;
    const r = runs.get(parsed.token) ?? { token: parsed.token, run: null, swapping: false, names: [] };
    r.names.push(w.name);
    if (parsed.journal) {
      r.swapping = true;
      r.run = (w.content ? parseRunId(w.content) : null) ?? r.run;
    }
    runs.set(parsed.token, r);
  }
  const plan: MediaRepairPlan = { repair: [], live: [] };
  for (const r of runs.values()) {
    if (!r.run) {
      const pid = tokenPid(r.token);
      r.run = pid ? { pid, boot: null, start: null } : null;
    }
    // Work whose owner cannot be told is left alone (and stays visible in the survey).
    if (r.run && !alive(r.run)) plan.repair.push(r);
    else plan.live.push(r);
  }
  return plan;
}

/** Pure: one phrase per repaired run. */
export function describeRepair(outcome: RepairOutcome, run: WorkRun, media: string): string {
  const who = `the restore of run ${run.run?.pid ?? run.token}`;
  switch (outcome) {
    case 'completed':
      return `completed the swap that ${who} was killed in: ${media} is the backup that run restored`;
    case 'rolled-back':
      return `rolled back the swap that ${who} was killed in: ${media} is as it was before that restore`;
    case 'finished':
      return `removed what ${who} left after its swap had finished`;
    case 'discarded':
      return `removed the staging folder of ${who}, which was killed before its swap`;
  }
}

export interface MediaLook {
  survey: MediaSurvey;
  /** Runs still going that have work in the media folder. */
  live: WorkRun[];
}

/**
 * Survey the media folder and repair what dead runs left, saying so in one line. Throws when a
 * repair fails: the media folder may then be a mix, and nothing should be built on it.
 */
export async function lookAndRepairMedia(target: MediaTarget, via: Via, liveness: Liveness = systemLiveness()): Promise<MediaLook> {
  const survey = await surveyMedia(target, via);
  const plan = planMediaRepair(survey, (run) => judgeRunAlive(run, liveness));
  if (!plan.repair.length) return { survey, live: plan.live };
  const out = await runAction(target, via, 'settle', plan.repair.map((r) => r.token));
  const done = parseSettled(out.stdout);
  const said = plan.repair.flatMap((r) => {
    const outcome = done.get(r.token);
    return outcome ? [describeRepair(outcome, r, target.path)] : [];
  });
  if (said.length) log.info(`repaired what an interrupted run left: ${said.join('; ')}`);
  if (out.code !== 0) {
    throw new FailedError(
      `could not repair what an interrupted restore left in the media folder ${target.path}: ${actionError(out)}; ` +
        `look at the .compose-backup-* entries there before anything else runs`,
    );
  }
  return { survey: await surveyMedia(target, via), live: plan.live };
}

/**
 * What a backup needs to know before archiving: repaired, and who is restoring right now. In host
 * mode a folder without any restore work entry at its top has nothing to repair and nobody
 * swapping, which one readdir tells without starting the survey's processes (the common case,
 * and a tenth of a second of every backup's start-up).
 */
export async function lookBeforeBackup(target: MediaTarget, via: Via): Promise<Pick<MediaLook, 'live'>> {
  if (target.mode === 'host') {
    const names = await fsp.readdir(target.path).catch(() => null);
    if (names && !names.some((n) => WORK_PREFIXES.some((p) => n.startsWith(p)))) return { live: [] };
  }
  return lookAndRepairMedia(target, via);
}

/** Pure: the refusal when another run is restoring the media right now, or null. */
export function busyRefusal(live: WorkRun[], what: string, onlySwapping = false): string | null {
  const busy = live.find((r) => r.swapping || !onlySwapping);
  if (!busy) return null;
  return `${what}: a restore of the media folder is in progress (run ${busy.run?.pid ?? busy.token}); try again when it has finished`;
}

/**
 * For verify, which reads backup files and looks at the media folder only on the side: repair
 * what dead runs left there when the folder can be reached; a failure is a warning, not verify's.
 */
export async function repairMediaOnTheSide(target: MediaTarget): Promise<void> {
  try {
    await lookAndRepairMedia(target, 'exec');
  } catch (err) {
    log.warn(`could not look at the media folder for what an interrupted restore left: ${errorMessage(err)}`);
  }
}
