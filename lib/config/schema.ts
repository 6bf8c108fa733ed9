// The config file's shape, validated once by zod. The schemas are the single source of the
// config's types (z.infer) and of its defaults: an environment parsed from `{}` is the built-in
// defaults. Only what depends on where the file is and on the environment variables (paths,
// DATABASE_URL, …) is resolved afterwards, in lib/config/resolve.
import { z } from 'zod';
import { ENV_NAME, RESERVED_ENV_NAMES } from '../core/naming.ts';
import { PolicySchema } from '../core/retention.ts';

export const OPERATIONS = [
  'backup-db', 'backup-media', 'backup-full', 'list-backups', 'restore-db', 'restore-media',
  'download-backup', 'upload-backups', 'prune', 'verify', 'scheduled-backup', 'push-offsite', 'recover',
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const DATABASE_SAFETY_COPIES = ['keep', 'dump'] as const;
export type DatabaseSafetyCopy = (typeof DATABASE_SAFETY_COPIES)[number];

const exclude = z.array(z.string().min(1)).default([]);

/**
 * Incremental media backups (GNU tar's --listed-incremental): absent, every backup is a full.
 * A new full starts a chain when the full is `fullEvery` old, when the chain has `maxChain`
 * incrementals, or when its incrementals add up to `maxChainRatio` of the full's size.
 */
export const IncrementalSchema = z
  .object({
    fullEvery: z.string().regex(/^([1-9]\d*)([hdwmy])$/, 'a duration such as 7d, 12h, 2w or 1m').default('7d'),
    maxChain: z.number().int().min(1).max(1000).default(13),
    maxChainRatio: z.number().positive().max(100).default(0.5),
  })
  .strict();
export type IncrementalPolicy = z.output<typeof IncrementalSchema>;
const incremental = IncrementalSchema.optional();
const weekday = z.enum(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']);

const DatabaseSchema = z
  .discriminatedUnion('mode', [
    z.object({ mode: z.literal('direct'), url: z.string().min(1).optional() }).strict(),
    z.object({ mode: z.literal('compose'), service: z.string().min(1).default('postgres') }).strict(),
  ])
  .prefault({ mode: 'direct' });

const MediaSchema = z
  .discriminatedUnion('mode', [
    // No default path here: a path in the file is relative to the file, the default to the working directory.
    z.object({ mode: z.literal('host'), path: z.string().min(1).optional(), exclude, incremental }).strict(),
    z
      .object({
        mode: z.literal('compose'),
        service: z.string().min(1).default('django'),
        path: z.string().startsWith('/', 'the media path inside the container must be absolute'),
        exclude,
        incremental,
      })
      .strict(),
  ])
  .prefault({ mode: 'host' });

/** How ssh reaches a host: the environment's own host, or an offsite target's. */
const sshEndpoint = {
  /** user@host; usually `${SSH_APP_USER_AND_IP}` so the address stays out of the repo. */
  target: z.string().min(1),
  port: z.number().int().min(1).max(65535).optional(),
  identityFile: z.string().min(1).optional(),
  knownHostsFile: z.string().min(1).optional(),
  connectTimeout: z.number().int().positive().default(10),
};

const SshSchema = z
  .object({
    ...sshEndpoint,
    /** The project folder on the remote host (where this toolkit is checked out). */
    projectDir: z.string().min(1),
    /** The environment name in the remote host's own config (default: this one's name). */
    remoteEnv: z.string().regex(ENV_NAME).optional(),
  })
  .strict();

/** Defaults follow the seed: database dumps kept until pruned by hand, media 30 days. */
const RetentionSchema = z
  .object({
    database: PolicySchema.default({}),
    media: PolicySchema.default({ keepWithin: '30d' }),
    snapshots: PolicySchema.default({ keepLast: 3, keepWithin: '7d' }),
  })
  .strict()
  .prefault({});

/**
 * What every offsite target has: its encryption (age to these recipients, or none, which must be
 * asked for), and its retention (per kind; a kind left out follows the environment's own policy).
 */
const offsiteCommon = {
  encryption: z.enum(['age', 'none']).default('age'),
  /** age1… X25519 keys and ssh-ed25519/ssh-rsa public keys; checked after ${VAR}s are expanded. */
  recipients: z.array(z.string().min(1)).default([]),
  retention: z.object({ database: PolicySchema.optional(), media: PolicySchema.optional() }).strict().prefault({}),
};

const OffsiteTargetSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('s3'),
      ...offsiteCommon,
      bucket: z.string().min(1),
      /** Folder in the bucket; the environment's name is a folder below it. */
      prefix: z.string().default(''),
      /** For S3-compatible services (B2, R2, Wasabi, MinIO…); AWS itself needs none. */
      endpoint: z.string().min(1).optional(),
      region: z.string().min(1).default('us-east-1'),
      forcePathStyle: z.boolean().default(false),
      /** Else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the SDK's other sources: profile, instance role). */
      accessKeyId: z.string().min(1).optional(),
      secretAccessKey: z.string().min(1).optional(),
      /** S3 Object Lock: each copy cannot be deleted or changed for this many days (the bucket must have Object Lock on). */
      immutableDays: z.number().int().positive().max(36500).optional(),
      immutableMode: z.enum(['compliance', 'governance']).default('compliance'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('ssh'),
      ...offsiteCommon,
      ...sshEndpoint,
      /** The folder on that host (relative: to the login directory). */
      path: z.string().min(1),
    })
    .strict(),
  z.object({ kind: z.literal('path'), ...offsiteCommon, path: z.string().min(1) }).strict(),
]);
export type OffsiteTargetConfig = z.output<typeof OffsiteTargetSchema>;

/** Target names appear in file names, metric labels and messages. */
const targetName = z.string().regex(/^[a-z][a-z0-9-]*$/, 'offsite target names are lower-case letters, digits and "-"');

const HealthchecksSchema = z
  .object({
    /** The scheduled backup's check; HEALTHCHECKS_URL overrides it. */
    url: z.string().min(1).optional(),
    /** Optional checks for manual runs of other operations. */
    checks: z.partialRecord(z.enum(OPERATIONS), z.string().min(1)).default({}),
    /** Per attempt; retries back off exponentially; budget bounds one ping with its retries. */
    timeoutSeconds: z.number().positive().max(60).default(10),
    retries: z.number().int().min(0).max(10).default(5),
    budgetSeconds: z.number().positive().max(600).default(60),
  })
  .strict()
  .prefault({});

const VerifySchema = z
  .object({
    /** A new backup under this fraction of the previous one's size trips the sanity gate. */
    minSizeRatio: z.number().min(0).max(1).default(0.5),
    onShrink: z.enum(['fail', 'warn']).default('fail'),
    /** When the scheduled run also runs a restore drill. */
    drill: z.union([z.enum(['never', 'daily']), weekday]).default('never'),
  })
  .strict()
  .prefault({});

const RestoreSchema = z
  .object({
    /**
     * What restore-db keeps of the database it replaces: `keep` renames it aside as a safety
     * database (instant); `dump` writes a safety file with pg_dump first, then drops it.
     */
    databaseSafetyCopy: z.enum(DATABASE_SAFETY_COPIES).default('keep'),
  })
  .strict()
  .prefault({});

export const EnvironmentSchema = z
  .object({
    backupDir: z.string().min(1).optional(),
    compression: z.enum(['zstd', 'gzip']).default('zstd'),
    /** zstd level (1-19) or gzip level (1-9); null: the compressor's own default (3, 6). */
    compressionLevel: z.number().int().min(1).max(19).nullable().default(null),
    compose: z
      .object({ file: z.string().min(1), projectDirectory: z.string().min(1).optional() })
      .strict()
      .optional(),
    database: DatabaseSchema,
    media: MediaSchema,
    ssh: SshSchema.optional(),
    retention: RetentionSchema,
    healthchecks: HealthchecksSchema,
    verify: VerifySchema,
    restore: RestoreSchema,
    log: z.object({ maxBytes: z.number().int().positive().default(5 * 1024 * 1024) }).strict().prefault({}),
    /** node_exporter textfile written by the scheduled run. */
    prometheusTextfile: z.string().min(1).optional(),
    /** Free space to keep beyond the estimated size of a new backup. */
    diskMargin: z
      .object({ ratio: z.number().min(0).default(0.1), bytes: z.number().int().min(0).default(64 * 1024 * 1024) })
      .strict()
      .prefault({}),
    /** Offsite copies (push-offsite), by target name. */
    offsite: z.record(targetName, OffsiteTargetSchema).default({}),
  })
  .strict();
/** One environment of the file, every default filled in. */
export type EnvironmentConfig = z.output<typeof EnvironmentSchema>;

const envName = z
  .string()
  .regex(ENV_NAME, 'environment names are lower-case letters, digits and "-" (they prefix downloaded file names)')
  .refine((n) => !RESERVED_ENV_NAMES.includes(n), 'this environment name is reserved');

export const ConfigSchema = z.object({ environments: z.record(envName, EnvironmentSchema) }).strict();
export type ConfigFile = z.output<typeof ConfigSchema>;

/** The built-in defaults: what an environment with nothing set is. */
export function defaultEnvironment(): EnvironmentConfig {
  return EnvironmentSchema.parse({});
}
