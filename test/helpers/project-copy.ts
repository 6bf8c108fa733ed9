// A second copy of the project in a temp folder, with its own backup.config.yaml: the checkout
// on "the production server" of the SSH tests (reached over loopback), a user's app folder for
// the justfile, or (without a config) a fresh clone after `npm install`. The code is copied from
// the tree under test, so a test may change a copied file; node_modules is linked.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from './cli.ts';

const COPIED = ['lib', 'scripts', 'package.json', '.npmrc', 'tsconfig.json', 'justfile'];

export interface ProjectCopy {
  dir: string;
  /** Its backup.config.yaml (absent when the copy was made without one). */
  configPath: string;
  /** The backup tree the copy's config points at (`<dir>/backups`, by convention of callers). */
  backupDir: string;
  remove(): void;
}

/** `config` is the YAML text of the copy's backup.config.yaml; null for none, as in a fresh clone. */
export function projectCopy(config: string | null, prefix = 'cbt-project-'): ProjectCopy {
  const dir = tempDir(prefix);
  for (const name of COPIED) {
    const from = path.join(ROOT, name);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(dir, name), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  const configPath = path.join(dir, 'backup.config.yaml');
  if (config !== null) fs.writeFileSync(configPath, config);
  return {
    dir,
    configPath,
    backupDir: path.join(dir, 'backups'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
