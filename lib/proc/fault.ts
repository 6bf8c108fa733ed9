// Fault injection for the crash tests: `COMPOSE_BACKUP_CRASH_AT=<step>[:<n>]` makes a run SIGKILL
// its whole process group (as the OOM killer, a reboot or `docker stop` after its timeout would)
// the n-th time (default: the first) it passes the named step. Steps are named where they are
// passed (`crashPoint('restore-db:closed')`); an unset variable costs one lookup. Never set in
// production: it exists so that the promise "the next run repairs what a dead run left" is tested
// at the exact moments that matter, not only at random ones.
import fs from 'node:fs';

export const CRASH_VARIABLE = 'COMPOSE_BACKUP_CRASH_AT';

const passed = new Map<string, number>();

/** Pure: the step and count a crash variable names, or null when it names none. */
export function parseCrashAt(value: string | undefined): { step: string; n: number } | null {
  if (!value) return null;
  const m = /^([a-z0-9:-]+?)(?::(\d+))?$/.exec(value);
  if (!m) return null;
  return { step: m[1]!, n: m[2] ? Math.max(1, Number(m[2])) : 1 };
}

/** The process group this run belongs to (npx, its shell and this node share it; so do our children). */
export function processGroup(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  // After "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[2]);
}

/** SIGKILL the whole process group here if the crash variable names this step (and its count is reached). */
export function crashPoint(step: string, env: NodeJS.ProcessEnv = process.env): void {
  const at = parseCrashAt(env[CRASH_VARIABLE]);
  if (!at || at.step !== step) return;
  const count = (passed.get(step) ?? 0) + 1;
  passed.set(step, count);
  if (count < at.n) return;
  process.kill(-processGroup(), 'SIGKILL');
}
