// Whether a process still runs on this host: decides if a lock, a temporary file or a drill
// database was left by a run that is gone. Only "no such process" means gone; EPERM means it
// exists under another user, and any other doubt counts as alive, so nothing live is removed.
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
