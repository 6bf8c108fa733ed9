// What happens when a run is told to stop (Ctrl-C, SIGTERM from `timeout`/systemd/docker stop,
// SIGHUP, or its launcher dying): every child it started is stopped, temporary files are removed by
// their exit hooks, and the exit code is 128+n. A step that must not be cut in two (the media swap)
// runs as a critical section: a signal that arrives meanwhile waits until the step has finished
// (or rolled back), and the message then says which.
import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();

/** Count a child among those a stop signal stops, until it exits. Every spawn in lib/proc does this. */
export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', () => running.delete(child));
}

/** Stop every child still running. */
export function stopChildren(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const child of running) child.kill(signal);
}

let stopping: { signal: NodeJS.Signals; why: string } | null = null;
let critical: { label: string; done: Promise<string> } | null = null;
type Say = (level: 'error' | 'warn', message: string) => void;
let announce: Say = (level, message) => process.stderr.write(`${level === 'error' ? 'error' : 'warning'}: ${message}\n`);

/** Whether a stop was asked for (children killed by it are not failures of their own). */
export function stopRequested(): boolean {
  return stopping !== null;
}

function exitCodeFor(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : signal === 'SIGHUP' ? 129 : 143;
}

function stopNow(signal: NodeJS.Signals, why: string, outcome?: string): void {
  announce('error', `${why}; ${outcome ? `${outcome}; ` : ''}stopping and removing work in progress`);
  stopChildren('SIGTERM');
  // Exit hooks (lib/store/publish) remove temporary files; 128+n is the shell's convention.
  process.exitCode = exitCodeFor(signal);
  setTimeout(() => process.exit(), 200).unref();
}

/** A stop signal or a gone launcher: stop at once, or after the critical section in progress. */
export function requestStop(signal: NodeJS.Signals, why = `interrupted by ${signal}`): void {
  if (stopping) return;
  stopping = { signal, why };
  if (!critical) return stopNow(signal, why);
  const { label, done } = critical;
  announce('warn', `${why} during ${label}: finishing it first`);
  void done.then((outcome) => stopNow(signal, why, outcome));
}

/**
 * Run `fn` so that a stop signal cannot cut it short: the signal is acted on when it has returned,
 * and the line then printed says what became of the step (`fn`'s result, e.g. "the swap was
 * completed"). Its children must ignore the signal too (the media script traps it).
 */
export async function runCritical<T>(label: string, fn: () => Promise<T>, describe: (result: T | Error) => string): Promise<T> {
  let settle!: (outcome: string) => void;
  critical = { label, done: new Promise<string>((resolve) => (settle = resolve)) };
  try {
    const value = await fn();
    settle(describe(value));
    return value;
  } catch (err) {
    settle(describe(err instanceof Error ? err : new Error(String(err))));
    throw err;
  } finally {
    critical = null;
  }
}

/**
 * Listen for the stop signals, and for the launcher going away: npx runs the script under `sh -c`,
 * and a SIGTERM sent to npx alone (`kill <pid>`) stops npx and that shell but never reaches this
 * process, which would go on as an orphan. (Ctrl-C, `timeout` and systemd signal the whole group.)
 */
export function installStopHandlers(say: Say): void {
  announce = say;
  // Node passes the signal's number as a second argument: not a reason to print.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => requestStop(signal));
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    // A signal to the whole group reaches npx and this process together, and npx may be gone
    // before Node has run this process's signal handler: give that signal a moment to be the
    // reason named, so the line says what really happened.
    setTimeout(() => requestStop('SIGTERM', `the process that started this run (pid ${parent}) is gone`), 300).unref();
  }, 500);
  timer.unref();
}
