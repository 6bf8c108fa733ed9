// Where a command is on PATH, found the way execvp(3) finds it, without starting a process: for
// optional helpers that a run uses when they are there (coreutils' stdbuf in lib/db/dump).
import fs from 'node:fs';
import path from 'node:path';

/** Pure over `isExecutable`: the first PATH entry holding an executable `name`, or null. */
export function findOnPath(name: string, pathVar: string | undefined, isExecutable: (file: string) => boolean): string | null {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of (pathVar ?? '').split(':')) {
    // An empty entry means the current folder (execvp's rule), which a backup run never wants.
    if (!dir || !path.isAbsolute(dir)) continue;
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return null;
}

/** Whether `file` is a regular file this process may execute. */
export function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The command `name` on this process's PATH, or null. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  return findOnPath(name, env.PATH, isExecutableFile);
}
