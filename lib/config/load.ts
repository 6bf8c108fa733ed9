// Loading: the config file is read and validated once per run; every environment's settings
// are then resolved from that one reading (an operation that needs two, like download-backup's
// remote environment and this machine's tree, asks the same Config).
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage, UsageError } from '../cli/errors.ts';
import { formatIssues } from '../core/format.ts';
import { ConfigSchema, type ConfigFile } from './schema.ts';
import { resolveSettings, type Settings } from './resolve.ts';
import { yaml } from './yaml.ts';

/** More aliases than any hand-written config has; a YAML "billion laughs" stops here. */
const MAX_ALIASES = 100;

/** Pure: the file's text as a validated config, or a UsageError listing every problem. */
export function parseConfig(text: string, source: string): ConfigFile {
  const doc = yaml().parseDocument(text, { prettyErrors: false });
  if (doc.errors.length) {
    throw new UsageError(`${source}: invalid YAML: ${doc.errors.map((e) => e.message.split('\n')[0]).join('; ')}`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    // The yaml package refuses documents whose aliases would expand without bound.
    throw new UsageError(`${source}: invalid YAML: ${errorMessage(err).split('\n')[0]}`, { cause: err });
  }
  const parsed = ConfigSchema.safeParse(data ?? { environments: {} });
  if (!parsed.success) throw new UsageError(`${source} is invalid: ${formatIssues(parsed.error.issues).join('; ')}`);
  return parsed.data;
}

export interface Config {
  /** The file read, or null when running on built-in defaults. */
  path: string | null;
  file: ConfigFile | null;
  /** One environment's settings, resolved from this reading. */
  settings(envName: string): Settings;
  /**
   * This machine's own backup tree: the one list-backups and restore-* use by default, i.e. the
   * `local` environment's (BACKUP_DIR, else its backupDir, else ./backups). Downloads land there.
   */
  localBackupDir(): string;
}

/** Read the config file once: the one named by --config, else ./backup.config.yaml when it exists. */
export function loadConfig(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const configPath = path.resolve(cwd, explicit ?? 'backup.config.yaml');
  let file: ConfigFile | null = null;
  let found: string | null = configPath;
  try {
    file = parseConfig(fs.readFileSync(configPath, 'utf8'), configPath);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || explicit !== undefined) {
      throw new UsageError(`cannot read config ${configPath}: ${errorMessage(err)}`, { cause: err });
    }
    found = null;
  }
  const settings = (envName: string) => resolveSettings({ config: file, configPath: found, envName, env, cwd });
  return {
    path: found,
    file,
    settings,
    localBackupDir() {
      if (!file || file.environments.local) return settings('local').backupDir;
      return path.resolve(cwd, env.BACKUP_DIR || 'backups');
    },
  };
}
