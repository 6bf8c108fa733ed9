// Resolution: one environment of the (already validated) config, with `${VAR}`s expanded, the
// contract's environment variables layered on top and every path made absolute. Pure: the
// file's text, the variables and the working directory come in, so it is table-tested.
import path from 'node:path';
import { UsageError } from '../cli/errors.ts';
import type { Codec } from '../core/naming.ts';
import type { Policy } from '../core/retention.ts';
import { checkRecipient } from '../core/recipients.ts';
import { checkPingUrl } from '../monitor/ping-url.ts';
import { defaultEnvironment, type ConfigFile, type EnvironmentConfig, type IncrementalPolicy, type OffsiteTargetConfig } from './schema.ts';

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

/** How ssh reaches a host (the environment's own, or an offsite target's): what sshArgv needs. */
export type SshEndpoint = Pick<SshTarget, 'target' | 'port' | 'identityFile' | 'knownHostsFile' | 'connectTimeout'>;

/** A target's retention, per kind (copies are never safety snapshots). */
export type OffsiteRetention = Record<'database' | 'media', Policy>;

type OffsiteCommon = { name: string; recipients: string[]; retention: OffsiteRetention };
type KindConfig<K extends OffsiteTargetConfig['kind']> = Omit<Extract<OffsiteTargetConfig, { kind: K }>, 'retention' | 'recipients'>;

/** An offsite target, resolved: recipients checked, a path made absolute, retention filled in. */
export type OffsiteTarget =
  | (KindConfig<'s3'> & OffsiteCommon)
  | (Omit<KindConfig<'ssh'>, 'port' | 'identityFile' | 'knownHostsFile'> & SshEndpoint & OffsiteCommon)
  | (KindConfig<'path'> & OffsiteCommon);

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
  /** Incremental media backups, or null: every media backup is a full. */
  mediaIncremental: IncrementalPolicy | null;
  ssh: SshTarget | null;
  healthchecks: Omit<EnvironmentConfig['healthchecks'], 'url'> & { url: string | null };
  prometheusTextfile: string | null;
  /**
   * By name, in the config's order. Each resolves when used: a target whose `${VAR}`s are unset
   * (credentials a laptop does not have) throws a UsageError naming them then, not at start.
   */
  offsite: Record<string, () => OffsiteTarget>;
};

const SSH_TARGET = /^[A-Za-z0-9._-]+@[A-Za-z0-9.:_-]+$|^[A-Za-z0-9.:_-]+$/;

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
    // Offsite targets' variables (storage credentials, usually) are expanded below, each apart:
    // a laptop that only dispatches to the server need not have them.
    raw = { ...expandTree({ ...own, offsite: {} }, env, `environments.${name}`, problems), offsite: own.offsite };
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
  if (ssh && ssh.target !== '' && !SSH_TARGET.test(ssh.target)) {
    problems.push(`${at}.ssh.target: "${ssh.target}" is not user@host`);
  }

  const pingUrl = env.HEALTHCHECKS_URL || raw.healthchecks.url || null;
  const pingProblem = pingUrl ? checkPingUrl(pingUrl) : null;
  if (pingProblem) problems.push(`${env.HEALTHCHECKS_URL ? 'HEALTHCHECKS_URL' : `${at}.healthchecks.url`}: ${pingProblem}`);
  for (const [op, url] of Object.entries(raw.healthchecks.checks)) {
    const why = url ? checkPingUrl(url) : null;
    if (why) problems.push(`${at}.healthchecks.checks.${op}: ${why}`);
  }

  const backupDir = env.BACKUP_DIR ? fromEnv(env.BACKUP_DIR) : raw.backupDir ? fromFile(raw.backupDir) : fromEnv('backups');
  const offsite: Record<string, () => OffsiteTarget> = {};
  for (const [targetName, t] of Object.entries(raw.offsite)) {
    const where = `${at}.offsite.${targetName}`;
    const unset: string[] = [];
    const expanded = expandTree(t, env, where, unset);
    const own: string[] = [];
    const target = resolveOffsite(targetName, expanded, raw.retention, fromFile, where, own);
    // Copies beside the backups they copy are not offsite, and the tree's own prune would never see them.
    if (target.kind === 'path' && (target.path === backupDir || target.path.startsWith(backupDir + path.sep) || backupDir.startsWith(target.path + path.sep))) {
      own.push(`${where}.path: ${target.path} overlaps the backup folder ${backupDir}; an offsite copy belongs on another disk`);
    }
    // Every other problem of the file is reported at start, as always; unset variables wait.
    if (unset.length) offsite[targetName] = () => {
      throw new UsageError(`offsite target "${targetName}" cannot be used: ${unset.join('; ')}`);
    };
    else {
      problems.push(...own);
      offsite[targetName] = () => target;
    }
  }

  if (problems.length) throw new UsageError(`${configPath ?? 'configuration'} is invalid: ${problems.join('; ')}`);

  return {
    envName: name,
    configPath,
    backupDir,
    compression: compression as Codec,
    compressionLevel: raw.compressionLevel,
    database,
    media,
    mediaIncremental: m.incremental ?? null,
    ssh,
    retention: raw.retention,
    healthchecks: { ...raw.healthchecks, url: pingUrl },
    verify: raw.verify,
    restore: raw.restore,
    log: raw.log,
    prometheusTextfile: raw.prometheusTextfile ? fromFile(raw.prometheusTextfile) : null,
    diskMargin: raw.diskMargin,
    offsite,
  };
}

/** Pure: one offsite target of the file, its recipients checked and its defaults filled in. */
function resolveOffsite(
  name: string,
  t: OffsiteTargetConfig,
  local: EnvironmentConfig['retention'],
  fromFile: (p: string) => string,
  at: string,
  problems: string[],
): OffsiteTarget {
  const recipients: string[] = [];
  t.recipients.forEach((r, i) => {
    const checked = checkRecipient(r);
    if (checked.ok) recipients.push(checked.recipient);
    else problems.push(`${at}.recipients.${i}: ${checked.problem}`);
  });
  if (t.encryption === 'age' && t.recipients.length === 0) {
    problems.push(`${at}.recipients: copies are encrypted with age: give at least one public key (age1… from age-keygen, or ssh-ed25519 …); for unencrypted copies say encryption: none`);
  }
  if (t.encryption === 'none' && t.recipients.length) problems.push(`${at}.recipients: encryption is none; remove the recipients or the encryption line`);
  const common = {
    name,
    recipients,
    retention: { database: t.retention.database ?? local.database, media: t.retention.media ?? local.media },
  };
  if (t.kind === 'path') return { ...t, ...common, path: fromFile(t.path) };
  if (t.kind === 'ssh') {
    if (t.target !== '' && !SSH_TARGET.test(t.target)) problems.push(`${at}.target: "${t.target}" is not user@host`);
    return { ...t, ...common, port: t.port ?? null, identityFile: t.identityFile ?? null, knownHostsFile: t.knownHostsFile ?? null };
  }
  if (Boolean(t.accessKeyId) !== Boolean(t.secretAccessKey)) {
    problems.push(`${at}: accessKeyId and secretAccessKey go together (or leave both out to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`);
  }
  if (t.endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(t.endpoint)) problems.push(`${at}.endpoint: "${t.endpoint}" is not an http(s) URL`);
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(t.bucket)) problems.push(`${at}.bucket: "${t.bucket}" is not an S3 bucket name (3-63 lower-case letters, digits, "." and "-")`);
  return { ...t, ...common, prefix: t.prefix.replace(/^\/+|\/+$/g, '') };
}
