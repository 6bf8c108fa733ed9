// Talking to the PostgreSQL server outside a dump or a load: one psql for small queries, the
// tools' and the server's versions, the name of the environment's database.
import os from 'node:os';
import { FailedError } from '../cli/errors.ts';
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
export async function psql(conn: PgConnection, sql: string | string[], database?: string): Promise<string> {
  const commands = (typeof sql === 'string' ? [sql] : sql).flatMap((c) => ['-c', c]);
  const argv = pgArgv(conn.target, 'psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...commands], database);
  const out = await capture(argv, { env: conn.env });
  if (out.code !== 0) throw new FailedError(firstError(out.stderr) || `psql exited with ${out.code}`);
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

/** Check the tools and the server before any file is created. */
export async function preflight(conn: PgConnection, database?: string): Promise<ServerFacts> {
  // Both questions at once: each is a process start (and, on Debian, a perl wrapper) before the dump can begin.
  const query = psql(conn, "SELECT current_setting('server_version_num') || ' ' || current_setting('server_version')", database).then(
    (row) => ({ row }),
    (err: Error) => ({ err }),
  );
  const v = await capture(pgDumpVersionArgv(conn.target), { env: conn.env });
  if (v.code !== 0) {
    const missing = v.notFound || v.code === 127;
    throw new FailedError(missing ? 'pg_dump is not installed here; install the PostgreSQL client (postgresql-client)' : `pg_dump --version failed: ${firstError(v.stderr)}`);
  }
  const dumpMajor = parseToolMajor(v.stdout);
  const answer = await query;
  if ('err' in answer) throw new FailedError(`cannot reach the database: ${answer.err.message}`);
  const { row } = answer;
  const [num = '', ...rest] = row.split(' ');
  const major = serverMajor(num);
  if (major === null || dumpMajor === null) throw new FailedError(`cannot tell the versions (pg_dump: "${v.stdout.trim()}", server: "${row}")`);
  if (dumpMajor < major) {
    throw new FailedError(`pg_dump ${dumpMajor} is older than the server (${major}) and cannot dump it; install postgresql-client-${major}`);
  }
  return { serverMajor: major, serverVersion: rest.join(' '), pgDumpMajor: dumpMajor };
}
