// Resolution: one environment of the (already validated) config, with `${VAR}`s expanded, the
// contract's environment variables layered on top and every path made absolute. Pure: the
// file's text, the variables and the working directory come in, so it is table-tested.
import path from 'node:path';
import { UsageError } from '../cli/errors.ts';
import type { Codec } from '../core/naming.ts';
import { checkPingUrl } from '../monitor/ping-url.ts';
import { defaultEnvironment, type ConfigFile, type EnvironmentConfig } from './schema.ts';

export interface ComposeRef {
  file: string;
  projectDirectory: string | null;
}

export type DatabaseTarget =
  | { mode: 'direct'; url: string | null }
  | { mode: 'compose'; service: string; compose: ComposeRef };

export type MediaTarget =
  | { mode: 'host'; path: string; exclude: string[]; configured: boolean }
  | { mode: 'compose'; service: string; path: string; exclude: string[]; compose: ComposeRef; configured: true };

export type SshTarget = Omit<NonNullable<EnvironmentConfig['ssh']>, 'remoteEnv' | 'port' | 'identityFile' | 'knownHostsFile'> & {
  port: number | null;
  identityFile: string | null;
  knownHostsFile: string | null;
  remoteEnv: string;
};

/**
 * Everything an operation needs about one environment. The parts the file and the defaults
 * decide are the schema's own types; the parts below them are resolved here.
 */
export type Settings = Pick<EnvironmentConfig, 'compression' | 'compressionLevel' | 'retention' | 'verify' | 'restore' | 'log' | 'diskMargin'> & {
  envName: string;
  configPath: string | null;
  backupDir: string;
  database: DatabaseTarget;
  media: MediaTarget;
  ssh: SshTarget | null;
  healthchecks: Omit<EnvironmentConfig['healthchecks'], 'url'> & { url: string | null };
  prometheusTextfile: string | null;
};

/** Expand `${VAR}` and `${VAR:-default}` in one string; unset variables are reported by path. */
export function expandVars(value: string, env: NodeJS.ProcessEnv, where: string, problems: string[]): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_all, name: string, fallback?: string) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    problems.push(`${where}: environment variable ${name} is not set`);
    return '';
  });
}

function expandTree<T>(value: T, env: NodeJS.ProcessEnv, where: string, problems: string[]): T {
  if (typeof value === 'string') return expandVars(value, env, where, problems) as T;
  if (Array.isArray(value)) return value.map((v, i) => expandTree(v, env, `${where}.${i}`, problems)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandTree(v, env, `${where}.${k}`, problems)])) as T;
  }
  return value;
}

export interface ResolveInput {
  config: ConfigFile | null;
  configPath: string | null;
  envName: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Pure: the settings of one environment, with variables applied. Throws UsageError listing every problem. */
export function resolveSettings({ config, configPath, envName: name, env, cwd }: ResolveInput): Settings {
  const problems: string[] = [];
  let raw: EnvironmentConfig;
  if (config) {
    const found = config.environments[name];
    if (!found) {
      const known = Object.keys(config.environments);
      throw new UsageError(
        `no environment "${name}" in ${configPath}; it has: ${known.length ? known.join(', ') : '(none)'}; pick one with --env`,
      );
    }
    // A run started over ssh (COMPOSE_BACKUP_ON_HOST=1, see lib/remote/ssh) is already on the
    // target host: the ssh section names this very machine, so it is dropped before its variables
    // are expanded; the same config file then works on the laptop and, cloned, on the server.
    const own = env.COMPOSE_BACKUP_ON_HOST === '1' ? { ...found, ssh: undefined } : found;
    raw = expandTree(own, env, `environments.${name}`, problems);
  } else {
    if (name !== 'local') {
      throw new UsageError(`environment "${name}" needs a config file (copy backup.config.example.yaml to backup.config.yaml)`);
    }
    raw = defaultEnvironment();
  }
  // Paths in the file are relative to the file; paths from variables to the working directory.
  const base = configPath ? path.dirname(configPath) : cwd;
  const fromFile = (p: string) => path.resolve(base, p);
  const fromEnv = (p: string) => path.resolve(cwd, p);
  const at = `environments.${name}`;

  const compression = env.BACKUP_COMPRESSION || raw.compression;
  if (compression !== 'zstd' && compression !== 'gzip') {
    problems.push(`BACKUP_COMPRESSION: must be zstd or gzip, not "${compression}"`);
  }
  const compose: ComposeRef | null = raw.compose
    ? { file: fromFile(raw.compose.file), projectDirectory: raw.compose.projectDirectory ? fromFile(raw.compose.projectDirectory) : null }
    : null;
  const needCompose = (what: string): ComposeRef => {
    problems.push(`${at}.compose.file: required when ${what} mode is compose`);
    return { file: '', projectDirectory: null };
  };

  const db = raw.database;
  const database: DatabaseTarget =
    db.mode === 'direct'
      ? { mode: 'direct', url: env.DATABASE_URL || db.url || null }
      : { mode: 'compose', service: db.service, compose: compose ?? needCompose('database') };

  const m = raw.media;
  let media: MediaTarget;
  if (m.mode === 'host') {
    // `configured`: the folder was named (MEDIA_DIR or media.path), so a missing one is an error;
    // the built-in ./media may simply not exist on a fresh clone.
    const configured = Boolean(env.MEDIA_DIR || m.path);
    const p = env.MEDIA_DIR ? fromEnv(env.MEDIA_DIR) : m.path ? fromFile(m.path) : fromEnv('media');
    media = { mode: 'host', path: p, exclude: m.exclude, configured };
  } else {
    media = { mode: 'compose', service: m.service, path: m.path, exclude: m.exclude, compose: compose ?? needCompose('media'), configured: true };
  }

  const s = raw.ssh;
  const ssh: SshTarget | null = s
    ? {
        ...s,
        port: s.port ?? null,
        identityFile: s.identityFile ?? null,
        knownHostsFile: s.knownHostsFile ?? null,
        remoteEnv: s.remoteEnv ?? name,
      }
    : null;
  if (ssh && ssh.target !== '' && !/^[A-Za-z0-9._-]+@[A-Za-z0-9.:_-]+$|^[A-Za-z0-9.:_-]+$/.test(ssh.target)) {
    problems.push(`${at}.ssh.target: "${ssh.target}" is not user@host`);
  }

  const pingUrl = env.HEALTHCHECKS_URL || raw.healthchecks.url || null;
  const pingProblem = pingUrl ? checkPingUrl(pingUrl) : null;
  if (pingProblem) problems.push(`${env.HEALTHCHECKS_URL ? 'HEALTHCHECKS_URL' : `${at}.healthchecks.url`}: ${pingProblem}`);
  for (const [op, url] of Object.entries(raw.healthchecks.checks)) {
    const why = url ? checkPingUrl(url) : null;
    if (why) problems.push(`${at}.healthchecks.checks.${op}: ${why}`);
  }

  if (problems.length) throw new UsageError(`${configPath ?? 'configuration'} is invalid: ${problems.join('; ')}`);

  return {
    envName: name,
    configPath,
    backupDir: env.BACKUP_DIR ? fromEnv(env.BACKUP_DIR) : raw.backupDir ? fromFile(raw.backupDir) : fromEnv('backups'),
    compression: compression as Codec,
    compressionLevel: raw.compressionLevel,
    database,
    media,
    ssh,
    retention: raw.retention,
    healthchecks: { ...raw.healthchecks, url: pingUrl },
    verify: raw.verify,
    restore: raw.restore,
    log: raw.log,
    prometheusTextfile: raw.prometheusTextfile ? fromFile(raw.prometheusTextfile) : null,
    diskMargin: raw.diskMargin,
  };
}
