// Talking to the PostgreSQL server outside a dump or a load: one psql for small queries, the
// tools' and the server's versions, the name of the environment's database.
import os from 'node:os';
import { FailedError, NoSpaceError } from '../cli/errors.ts';
import { parseDfAvailable } from '../core/room.ts';
import { statFree } from '../store/disk.ts';
import { composeExec } from '../config/compose.ts';
import { capture } from '../proc/capture.ts';
import { firstError } from '../proc/pipeline.ts';
import { parseToolMajor, pgArgv, pgDumpVersionArgv, serverMajor, type PgConnection } from './pg.ts';

/**
 * Run SQL with psql and return its unaligned, tuples-only output. Several commands go to one psql
 * (each its own `-c`, so each may be one that cannot run in a transaction block, like CREATE
 * DATABASE); it stops at the first that fails. One process and connection instead of several
 * matters on Debian, where every psql start goes through a perl wrapper first.
 */
export async function psql(conn: PgConnection, sql: string | string[], database?: string, user?: string): Promise<string> {
  const commands = (typeof sql === 'string' ? [sql] : sql).flatMap((c) => ['-c', c]);
  const argv = pgArgv(conn.target, 'psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...commands], database, user);
  const out = await capture(argv, { env: conn.env });
  if (out.code !== 0) {
    const why = firstError(out.stderr) || `psql exited with ${out.code}`;
    throw out.failure?.noSpace ? new NoSpaceError(`no space left on the database server's disk: ${why}`) : new FailedError(why);
  }
  return out.stdout.trim();
}

/** Bytes the database takes on the server (pg_database_size), for the disk-space guard's estimate. */
export async function databaseSizeBytes(conn: PgConnection, database?: string): Promise<number> {
  return Number(await psql(conn, 'SELECT pg_database_size(current_database())', database)) || 0;
}

/** The database the environment's backups are of, known without connecting to it. */
export async function targetDatabaseName(conn: PgConnection): Promise<string> {
  if (conn.target.mode === 'compose') {
    const t = conn.target;
    const out = await capture(composeExec(t.compose, t.service, ['sh', '-c', 'printf %s "${POSTGRES_DB:-$POSTGRES_USER}"']));
    if (out.code !== 0 || !out.stdout) throw new FailedError(`cannot read POSTGRES_DB in service ${t.service}: ${firstError(out.stderr)}`);
    return out.stdout;
  }
  return conn.env.PGDATABASE || conn.env.PGUSER || os.userInfo().username;
}

export interface ServerFacts {
  serverMajor: number;
  serverVersion: string;
  pgDumpMajor: number;
}

/**
 * Check the tools and the server before any file is created: pg_dump is installed and not older
 * than the server. `server` is the survey (lib/db/repair), asked side by side with pg_dump's
 * version: each is a process start (and, on Debian, a perl wrapper) before the work can begin.
 */
export async function preflight(conn: PgConnection, server: Promise<{ serverVersionNum: string; serverVersion: string }>): Promise<ServerFacts> {
  const answer = server.then((s) => ({ s }), (err: Error) => ({ err }));
  const v = await capture(pgDumpVersionArgv(conn.target), { env: conn.env });
  if (v.code !== 0) {
    const missing = v.notFound || v.code === 127;
    throw new FailedError(missing ? 'pg_dump is not installed here; install the PostgreSQL client (postgresql-client)' : `pg_dump --version failed: ${firstError(v.stderr)}`);
  }
  const dumpMajor = parseToolMajor(v.stdout);
  const got = await answer;
  if ('err' in got) throw new FailedError(`cannot reach the database: ${got.err.message}`, { cause: got.err });
  const major = serverMajor(got.s.serverVersionNum);
  if (major === null || dumpMajor === null) throw new FailedError(`cannot tell the versions (pg_dump: "${v.stdout.trim()}", server: "${got.s.serverVersion}")`);
  if (dumpMajor < major) {
    throw new FailedError(`pg_dump ${dumpMajor} is older than the server (${major}) and cannot dump it; install postgresql-client-${major}`);
  }
  return { serverMajor: major, serverVersion: got.s.serverVersion, pgDumpMajor: dumpMajor };
}

/** Whether the libpq variables point at this host (a socket, localhost, a loopback address). */
function serverIsLocal(env: NodeJS.ProcessEnv): boolean {
  const host = env.PGHOST ?? '';
  return host === '' || host.startsWith('/') || host === 'localhost' || host === '127.0.0.1' || host === '::1';
}

/**
 * Free bytes on the filesystem of the server's data directory, where that can be known: in compose
 * mode `df` in the database container; in direct mode on a local server whose data_directory this
 * role may read (superuser or pg_read_all_settings) and this process may stat. Null: unknown.
 */
export async function serverFreeBytes(conn: PgConnection): Promise<number | null> {
  if (conn.target.mode === 'compose') {
    const t = conn.target;
    const out = await capture(composeExec(t.compose, t.service, ['sh', '-c', 'df -P -k "${PGDATA:-/var/lib/postgresql/data}"']));
    return out.code === 0 ? parseDfAvailable(out.stdout) : null;
  }
  if (!serverIsLocal(conn.env)) return null;
  const dir = await psql(conn, "SELECT current_setting('data_directory')", 'postgres').catch(() => null);
  if (!dir) return null;
  return statFree(dir).catch(() => null);
}
