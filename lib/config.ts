// Configuration: an optional YAML file validated once by zod, with the contract's environment
// variables layered on top. The zod schemas are the single source of the config's types.
// Loading (I/O) is separate from resolving (pure), so resolution is table-tested.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ENV_NAME, RESERVED_ENV_NAMES, type Codec } from './naming.ts';
import { UsageError } from './errors.ts';

export const OPERATIONS = [
  'backup-db', 'backup-media', 'backup-full', 'list-backups', 'restore-db', 'restore-media',
  'download-backup', 'upload-backups', 'prune', 'verify', 'scheduled-backup',
] as const;
export type Operation = (typeof OPERATIONS)[number];

const count = z.number().int().positive();
/** `30d`, `12h`, `2w`, `6m` (months), `1y`. */
export const DURATION = /^([1-9]\d*)([hdwmy])$/;

export const PolicySchema = z
  .object({
    keepLast: count.optional(),
    keepHourly: count.optional(),
    keepDaily: count.optional(),
    keepWeekly: count.optional(),
    keepMonthly: count.optional(),
    keepYearly: count.optional(),
    keepWithin: z.string().regex(DURATION, 'a duration such as 30d, 12h, 2w, 6m or 1y').optional(),
  })
  .strict();
export type Policy = z.infer<typeof PolicySchema>;

export const DATABASE_SAFETY_COPIES = ['keep', 'dump'] as const;
export type DatabaseSafetyCopy = (typeof DATABASE_SAFETY_COPIES)[number];

const exclude = z.array(z.string().min(1)).optional();
const weekday = z.enum(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']);

const EnvironmentSchema = z
  .object({
    backupDir: z.string().min(1).optional(),
    compression: z.enum(['zstd', 'gzip']).optional(),
    /** zstd level (1-19) or gzip level (1-9). */
    compressionLevel: z.number().int().min(1).max(19).optional(),
    compose: z
      .object({ file: z.string().min(1), projectDirectory: z.string().min(1).optional() })
      .strict()
      .optional(),
    database: z
      .discriminatedUnion('mode', [
        z.object({ mode: z.literal('direct'), url: z.string().min(1).optional() }).strict(),
        z.object({ mode: z.literal('compose'), service: z.string().min(1).default('postgres') }).strict(),
      ])
      .optional(),
    media: z
      .discriminatedUnion('mode', [
        z.object({ mode: z.literal('host'), path: z.string().min(1).optional(), exclude }).strict(),
        z
          .object({
            mode: z.literal('compose'),
            service: z.string().min(1).default('django'),
            path: z.string().startsWith('/', 'the media path inside the container must be absolute'),
            exclude,
          })
          .strict(),
      ])
      .optional(),
    ssh: z
      .object({
        /** user@host; usually `${SSH_APP_USER_AND_IP}` so the address stays out of the repo. */
        target: z.string().min(1),
        port: z.number().int().min(1).max(65535).optional(),
        identityFile: z.string().min(1).optional(),
        knownHostsFile: z.string().min(1).optional(),
        connectTimeout: z.number().int().positive().optional(),
        /** The project folder on the remote host (where this toolkit is checked out). */
        projectDir: z.string().min(1),
        /** The environment name in the remote host's own config (default: this one's name). */
        remoteEnv: z.string().regex(ENV_NAME).optional(),
      })
      .strict()
      .optional(),
    retention: z
      .object({ database: PolicySchema.optional(), media: PolicySchema.optional(), snapshots: PolicySchema.optional() })
      .strict()
      .optional(),
    healthchecks: z
      .object({
        /** The scheduled backup's check; HEALTHCHECKS_URL overrides it. */
        url: z.string().min(1).optional(),
        /** Optional checks for manual runs of other operations. */
        checks: z.partialRecord(z.enum(OPERATIONS), z.string().min(1)).optional(),
        /** Per attempt; retries back off exponentially; budget bounds one ping with its retries. */
        timeoutSeconds: z.number().positive().max(60).optional(),
        retries: z.number().int().min(0).max(10).optional(),
        budgetSeconds: z.number().positive().max(600).optional(),
      })
      .strict()
      .optional(),
    verify: z
      .object({
        /** A new backup under this fraction of the previous one's size trips the sanity gate. */
        minSizeRatio: z.number().min(0).max(1).optional(),
        onShrink: z.enum(['fail', 'warn']).optional(),
        /** When the scheduled run also runs a restore drill. */
        drill: z.union([z.enum(['never', 'daily']), weekday]).optional(),
      })
      .strict()
      .optional(),
    restore: z
      .object({
        /**
         * What restore-db keeps of the database it replaces: `keep` renames it aside as a safety
         * database (instant); `dump` writes a safety file with pg_dump first, then drops it.
         */
        databaseSafetyCopy: z.enum(DATABASE_SAFETY_COPIES).optional(),
      })
      .strict()
      .optional(),
    log: z.object({ maxBytes: count.optional() }).strict().optional(),
    /** node_exporter textfile written by the scheduled run. */
    prometheusTextfile: z.string().min(1).optional(),
    /** Free space to keep beyond the estimated size of a new backup. */
    diskMargin: z.object({ ratio: z.number().min(0).optional(), bytes: z.number().int().min(0).optional() }).strict().optional(),
  })
  .strict();
export type EnvironmentConfig = z.infer<typeof EnvironmentSchema>;

const envName = z
  .string()
  .regex(ENV_NAME, 'environment names are lower-case letters, digits and "-" (they prefix downloaded file names)')
  .refine((n) => !RESERVED_ENV_NAMES.includes(n), 'this environment name is reserved');

export const ConfigSchema = z.object({ environments: z.record(envName, EnvironmentSchema) }).strict();
export type ConfigFile = z.infer<typeof ConfigSchema>;

export interface ComposeRef {
  file: string;
  projectDirectory: string | null;
}

export type DatabaseTarget =
  | { mode: 'direct'; url: string | null }
  | { mode: 'compose'; service: string; compose: ComposeRef };

export type MediaTarget =
  | { mode: 'host'; path: string; exclude: string[] }
  | { mode: 'compose'; service: string; path: string; exclude: string[]; compose: ComposeRef };

export interface SshTarget {
  target: string;
  port: number | null;
  identityFile: string | null;
  knownHostsFile: string | null;
  connectTimeout: number;
  projectDir: string;
  remoteEnv: string;
}

/** Everything an operation needs about one environment, resolved and absolute. */
export interface Settings {
  envName: string;
  configPath: string | null;
  backupDir: string;
  compression: Codec;
  compressionLevel: number | null;
  database: DatabaseTarget;
  media: MediaTarget;
  ssh: SshTarget | null;
  retention: { database: Policy; media: Policy; snapshots: Policy };
  healthchecks: {
    url: string | null;
    checks: Partial<Record<Operation, string>>;
    timeoutSeconds: number;
    retries: number;
    budgetSeconds: number;
  };
  verify: { minSizeRatio: number; onShrink: 'fail' | 'warn'; drill: string };
  restore: { databaseSafetyCopy: DatabaseSafetyCopy };
  log: { maxBytes: number };
  prometheusTextfile: string | null;
  diskMargin: { ratio: number; bytes: number };
}

/** Defaults follow the seed: database dumps kept until pruned by hand, media 30 days. */
export const DEFAULT_RETENTION = {
  database: {} as Policy,
  media: { keepWithin: '30d' } as Policy,
  snapshots: { keepLast: 3, keepWithin: '7d' } as Policy,
};

/** `path: message` lines, one per problem, for a config error. */
export function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string[] {
  return issues.map((i) => `${i.path.map(String).join('.') || '(top)'}: ${i.message}`);
}

export function parseConfig(text: string, source: string): ConfigFile {
  const doc = YAML.parseDocument(text, { prettyErrors: false });
  if (doc.errors.length) {
    throw new UsageError(`${source}: invalid YAML: ${doc.errors.map((e) => e.message.split('\n')[0]).join('; ')}`);
  }
  const parsed = ConfigSchema.safeParse(doc.toJS() ?? { environments: {} });
  if (!parsed.success) {
    throw new UsageError(`${source} is invalid: ${formatIssues(parsed.error.issues).join('; ')}`);
  }
  return parsed.data;
}

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
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, expandTree(v, env, `${where}.${k}`, problems)]),
    ) as T;
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
    // A run started over ssh (COMPOSE_BACKUP_ON_HOST=1, see lib/ssh) is already on the target
    // host: the ssh section names this very machine, so it is dropped before its variables are
    // expanded; the same config file then works on the laptop and, cloned, on the server.
    const own = env.COMPOSE_BACKUP_ON_HOST === '1' ? { ...found, ssh: undefined } : found;
    raw = expandTree(own, env, `environments.${name}`, problems);
  } else {
    if (name !== 'local') {
      throw new UsageError(`environment "${name}" needs a config file (copy backup.config.example.yaml to backup.config.yaml)`);
    }
    raw = {};
  }
  // Paths in the file are relative to the file; paths from variables to the working directory.
  const base = configPath ? path.dirname(configPath) : cwd;
  const fromFile = (p: string) => path.resolve(base, p);
  const fromEnv = (p: string) => path.resolve(cwd, p);

  const compression = (env.BACKUP_COMPRESSION || raw.compression || 'zstd') as string;
  if (compression !== 'zstd' && compression !== 'gzip') {
    problems.push(`BACKUP_COMPRESSION: must be zstd or gzip, not "${compression}"`);
  }
  const compose: ComposeRef | null = raw.compose
    ? {
        file: fromFile(raw.compose.file),
        projectDirectory: raw.compose.projectDirectory ? fromFile(raw.compose.projectDirectory) : null,
      }
    : null;
  const needCompose = (what: string) => {
    problems.push(`environments.${name}.compose.file: required when ${what} mode is compose`);
    return { file: '', projectDirectory: null };
  };

  let database: DatabaseTarget;
  const db = raw.database ?? { mode: 'direct' as const };
  if (db.mode === 'direct') {
    database = { mode: 'direct', url: env.DATABASE_URL || db.url || null };
  } else {
    database = { mode: 'compose', service: db.service, compose: compose ?? needCompose('database') };
  }

  let media: MediaTarget;
  const m = raw.media ?? { mode: 'host' as const };
  if (m.mode === 'host') {
    const p = env.MEDIA_DIR ? fromEnv(env.MEDIA_DIR) : m.path ? fromFile(m.path) : fromEnv('media');
    media = { mode: 'host', path: p, exclude: m.exclude ?? [] };
  } else {
    media = { mode: 'compose', service: m.service, path: m.path, exclude: m.exclude ?? [], compose: compose ?? needCompose('media') };
  }

  const ssh: SshTarget | null = raw.ssh
    ? {
        target: raw.ssh.target,
        port: raw.ssh.port ?? null,
        identityFile: raw.ssh.identityFile ?? null,
        knownHostsFile: raw.ssh.knownHostsFile ?? null,
        connectTimeout: raw.ssh.connectTimeout ?? 10,
        projectDir: raw.ssh.projectDir,
        remoteEnv: raw.ssh.remoteEnv ?? name,
      }
    : null;
  if (ssh && !/^[A-Za-z0-9._-]+@[A-Za-z0-9.:_-]+$|^[A-Za-z0-9.:_-]+$/.test(ssh.target) && ssh.target !== '') {
    problems.push(`environments.${name}.ssh.target: "${ssh.target}" is not user@host`);
  }

  if (problems.length) throw new UsageError(`${configPath ?? 'configuration'} is invalid: ${problems.join('; ')}`);

  return {
    envName: name,
    configPath,
    backupDir: env.BACKUP_DIR ? fromEnv(env.BACKUP_DIR) : raw.backupDir ? fromFile(raw.backupDir) : fromEnv('backups'),
    compression: compression as Codec,
    compressionLevel: raw.compressionLevel ?? null,
    database,
    media,
    ssh,
    retention: {
      database: raw.retention?.database ?? DEFAULT_RETENTION.database,
      media: raw.retention?.media ?? DEFAULT_RETENTION.media,
      snapshots: raw.retention?.snapshots ?? DEFAULT_RETENTION.snapshots,
    },
    healthchecks: {
      url: env.HEALTHCHECKS_URL || raw.healthchecks?.url || null,
      checks: raw.healthchecks?.checks ?? {},
      timeoutSeconds: raw.healthchecks?.timeoutSeconds ?? 10,
      retries: raw.healthchecks?.retries ?? 5,
      budgetSeconds: raw.healthchecks?.budgetSeconds ?? 60,
    },
    verify: {
      minSizeRatio: raw.verify?.minSizeRatio ?? 0.5,
      onShrink: raw.verify?.onShrink ?? 'fail',
      drill: raw.verify?.drill ?? 'never',
    },
    restore: { databaseSafetyCopy: raw.restore?.databaseSafetyCopy ?? 'keep' },
    log: { maxBytes: raw.log?.maxBytes ?? 5 * 1024 * 1024 },
    prometheusTextfile: raw.prometheusTextfile ? fromFile(raw.prometheusTextfile) : null,
    diskMargin: { ratio: raw.diskMargin?.ratio ?? 0.1, bytes: raw.diskMargin?.bytes ?? 64 * 1024 * 1024 },
  };
}

/** Read the config file: the one named by --config, else ./backup.config.yaml when it exists. */
export function loadConfigFile(explicit: string | undefined, cwd: string): { config: ConfigFile | null; configPath: string | null } {
  const configPath = path.resolve(cwd, explicit ?? 'backup.config.yaml');
  let text: string;
  try {
    text = fs.readFileSync(configPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && explicit === undefined) return { config: null, configPath: null };
    throw new UsageError(`cannot read config ${configPath}: ${(err as Error).message}`);
  }
  return { config: parseConfig(text, configPath), configPath };
}

export function loadSettings(opts: { config?: string; env: string }, env = process.env, cwd = process.cwd()): Settings {
  const { config, configPath } = loadConfigFile(opts.config, cwd);
  return resolveSettings({ config, configPath, envName: opts.env, env, cwd });
}
