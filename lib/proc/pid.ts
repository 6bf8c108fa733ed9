// Whether a process still runs on this host: decides if a lock, a temporary file or a drill
// database was left by a run that is gone. Only "no such process" (or a zombie: dead, waiting
// for its parent to collect its exit status) means gone; EPERM means it exists under another
// user, and any other doubt counts as alive, so nothing live is removed.
import fs from 'node:fs';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  // A killed run whose parent died too is reaped by init, which some container and VM inits do
  // late or never; until then kill(0) still finds it.
  return processState(pid) !== 'Z';
}

/** Pure: the state letter of a /proc/<pid>/stat line (after the command, which may hold ") "). */
export function statState(stat: string): string | null {
  const end = stat.lastIndexOf(')');
  return end < 0 ? null : (stat.slice(end + 2, end + 3) || null);
}

function processState(pid: number): string | null {
  try {
    return statState(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Who a run is, precisely enough to tell it from a later process that got the same pid: the pid,
 * the kernel's boot id (pids start again after a reboot, and the reboot is one of the crashes a
 * record must survive) and the process's start time in clock ticks since boot. Written into
 * records whose owner must be judged later (the media swap's journal).
 */
export interface RunId {
  pid: number;
  boot: string | null;
  start: string | null;
}

/** Pure: a run id as one word-safe string (`<pid>.<boot id>.<start>`, unknown parts as `-`). */
export function formatRunId(id: RunId): string {
  return `${id.pid}.${id.boot ?? '-'}.${id.start ?? '-'}`;
}

/** Pure: a run id read back, or null when the text is not one. */
export function parseRunId(text: string): RunId | null {
  const m = /^(\d+)\.([0-9a-f-]{1,64})\.(\d+|-)$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) return null;
  return { pid: Number(m[1]), boot: m[2] === '-' ? null : m[2]!, start: m[3] === '-' ? null : m[3]! };
}

/** Pure: the start time (field 22) of a /proc/<pid>/stat line. */
export function statStart(stat: string): string | null {
  const end = stat.lastIndexOf(')');
  if (end < 0) return null;
  // Fields after "(comm)": state is field 3, so starttime (22) is the 20th.
  const v = stat.slice(end + 2).split(' ')[19];
  return v && /^\d+$/.test(v) ? v : null;
}

export interface Liveness {
  boot: string | null;
  alive: (pid: number) => boolean;
  start: (pid: number) => string | null;
}

/**
 * Pure: is the run still going? Gone when the machine has booted since, when its pid is gone, or
 * when that pid now belongs to a process that started at another time. Whatever cannot be known
 * counts as alive, so nothing of a live run is ever touched.
 */
export function judgeRunAlive(id: RunId, now: Liveness): boolean {
  if (id.boot && now.boot && id.boot !== now.boot) return false;
  if (!now.alive(id.pid)) return false;
  const start = id.start ? now.start(id.pid) : null;
  return !(id.start && start && start !== id.start);
}

function readOr(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** This machine's liveness facts, from /proc. */
export function systemLiveness(): Liveness {
  return {
    boot: readOr('/proc/sys/kernel/random/boot_id')?.trim() || null,
    alive: processAlive,
    start: (pid) => statStart(readOr(`/proc/${pid}/stat`) ?? ''),
  };
}

/** This run's id. */
export function thisRun(): RunId {
  const now = systemLiveness();
  return { pid: process.pid, boot: now.boot, start: now.start(process.pid) };
}
