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
