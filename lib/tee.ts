// Where lib/tee-stdout.pl is, whether it can run, and the command line that runs a stage under it
// (the kernel copies a stage's output for Node; see that script for why).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// From the folder above this module's: lib/ when it runs as itself, scripts/ when the loader
// bundled it into an operation script (lib/loader/hooks.mjs); both sit in the project root.
export const TEE_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'tee-stdout.pl');
/** What tee-stdout.pl says when its command cannot start (it then exits 127). */
export const TEE_CANNOT_RUN = /^tee-stdout: cannot run .*?: (.*)$/m;

/** Pure apart from the file system: the first executable `name` in a PATH value, or null. */
export function findOnPath(name: string, pathValue: string | undefined, isExecutable: (file: string) => boolean = executable): string | null {
  for (const dir of (pathValue ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return null;
}

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Pure: a stage's command line run under tee-stdout.pl. */
export function teeArgv(perl: string, argv: string[]): string[] {
  return [perl, TEE_SCRIPT, '--', ...argv];
}
