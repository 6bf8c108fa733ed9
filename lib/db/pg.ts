// PostgreSQL command lines for both database modes, and the libpq environment for direct
// mode. A password from DATABASE_URL reaches pg_dump and psql as PGPASSWORD in their own
// environment only: never argv, never a file that a killed run could leave behind.
import type { DatabaseTarget } from '../config/resolve.ts';
import { composeExec } from '../config/compose.ts';
import { UsageError } from '../cli/errors.ts';
import { registerSecret } from '../cli/output.ts';

export type PgTool = 'pg_dump' | 'psql';

/** libpq query parameters that have an environment variable of their own. */
const PARAM_ENV: Record<string, string> = {
  sslmode: 'PGSSLMODE', sslrootcert: 'PGSSLROOTCERT', sslcert: 'PGSSLCERT', sslkey: 'PGSSLKEY',
  connect_timeout: 'PGCONNECT_TIMEOUT', application_name: 'PGAPPNAME', options: 'PGOPTIONS',
  target_session_attrs: 'PGTARGETSESSIONATTRS', host: 'PGHOST', port: 'PGPORT', user: 'PGUSER',
};

export interface ParsedUrl {
  env: Record<string, string>;
  password: string | null;
}

/** Pure: DATABASE_URL as libpq variables, the password kept apart. */
export function parseDatabaseUrl(url: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError('DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new UsageError(`DATABASE_URL must start with postgres:// or postgresql://, not ${u.protocol}//`);
  }
  const env: Record<string, string> = {};
  const host = decodePart(u.hostname, 'host').replace(/^\[(.*)\]$/, '$1');
  if (host) env.PGHOST = host;
  if (u.port) env.PGPORT = u.port;
  if (u.username) env.PGUSER = decodePart(u.username, 'user name');
  const db = decodePart(u.pathname.replace(/^\//, ''), 'database name');
  if (db) env.PGDATABASE = db;
  for (const [k, v] of u.searchParams) {
    const name = PARAM_ENV[k];
    if (!name) throw new UsageError(`DATABASE_URL parameter "${k}" is not supported; set the libpq variable instead`);
    env[name] = v;
  }
  return { env, password: u.password ? decodePart(u.password, 'password') : null };
}

function decodePart(text: string, part: string): string {
  try {
    return decodeURIComponent(text);
  } catch (err) {
    // The part itself may be the password: it is not repeated here.
    throw new UsageError(`DATABASE_URL has a bad percent-escape in its ${part}; write a literal % as %25`, { cause: err });
  }
}

export interface PgConnection {
  target: DatabaseTarget;
  /** Environment for direct-mode tools (libpq variables, PGPASSWORD). */
  env: NodeJS.ProcessEnv;
}

/** Prepare the connection: the URL taken apart into libpq variables, its password registered as a secret. */
export function openConnection(target: DatabaseTarget, baseEnv: NodeJS.ProcessEnv = process.env): PgConnection {
  const env: NodeJS.ProcessEnv = { ...baseEnv };
  if (target.mode === 'direct' && target.url) {
    registerSecret(target.url);
    const parsed = parseDatabaseUrl(target.url);
    Object.assign(env, parsed.env);
    if (parsed.password) {
      registerSecret(parsed.password);
      env.PGPASSWORD = parsed.password;
    }
  }
  // The URL itself must not be inherited by children where it could be printed.
  delete env.DATABASE_URL;
  return { target, env };
}

// In compose mode the container's own POSTGRES_USER / POSTGRES_DB are expanded inside the
// container, so this side needs no credentials at all. $1 names another database, $2 another
// role (or '' for the container's own).
const IN_CONTAINER = 'db="$1"; user="$2"; tool="$3"; shift 3; exec "$tool" -w -U "${user:-$POSTGRES_USER}" --dbname "${db:-$POSTGRES_DB}" "$@"';

/**
 * Pure: argv for pg_dump / psql. `database` overrides the connection's database (a scratch
 * database during a restore, or `postgres` for maintenance); `user` the role it connects as (the
 * restored database's owner, for a load with no more privilege than that).
 */
export function pgArgv(target: DatabaseTarget, tool: PgTool, args: string[], database?: string, user?: string): string[] {
  if (target.mode === 'compose') {
    return composeExec(target.compose, target.service, ['sh', '-c', IN_CONTAINER, 'sh', database ?? '', user ?? '', tool, ...args]);
  }
  return [tool, '-w', ...(user ? ['--username', user] : []), ...(database ? ['--dbname', database] : []), ...args];
}

/**
 * Pure: argv of the pg_dump that makes a backup, given where coreutils' stdbuf is (null: not
 * installed). pg_dump writes its plain output through stdio in 8 KiB pieces, and Node, which
 * relays the dump to the compressor (lib/db/dump), pays for every read: with its stdout buffered
 * by 1 MiB, the pipe is full whenever Node reads and each read takes 64 KiB, a quarter of the reads
 * and about half of Node's CPU (bench/datapath). Direct mode only: in compose mode the bytes come in
 * the docker client's own pieces, and the container may not have stdbuf.
 */
export function dumpArgv(target: DatabaseTarget, database: string | undefined, stdbuf: string | null): string[] {
  const argv = pgArgv(target, 'pg_dump', [], database);
  return target.mode === 'direct' && stdbuf ? [stdbuf, '--output=1M', ...argv] : argv;
}

/** Pure: the command that checks pg_dump's version. */
export function pgDumpVersionArgv(target: DatabaseTarget): string[] {
  if (target.mode === 'compose') return composeExec(target.compose, target.service, ['pg_dump', '--version']);
  return ['pg_dump', '--version'];
}

/** Pure: "pg_dump (PostgreSQL) 15.20 (Debian …)" → 15; "16beta1" → 16. */
export function parseToolMajor(versionText: string): number | null {
  const m = /\b(\d+)(?:\.\d+)?(?:beta|rc|devel)?\d*\b/.exec(versionText.replace(/^[^)]*\)/, ''));
  return m ? Number(m[1]) : null;
}

/** Pure: server_version_num 150020 → 15; 90624 → 9. */
export function serverMajor(versionNum: string): number | null {
  const n = Number(versionNum.trim());
  if (!Number.isInteger(n) || n <= 0) return null;
  return Math.floor(n / 10000);
}
