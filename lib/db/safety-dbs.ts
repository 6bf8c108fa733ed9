// Safety databases on the server: the ones restore-db kept (lib/db/safety-names says which names
// are this environment's), listed for prune and list-backups and dropped by prune. Everything goes
// through psql on the maintenance database (lib/db/pg), so compose mode works the same way.
import type { DatabaseTarget } from '../config/resolve.ts';
import { psql, targetDatabaseName } from './server.ts';
import { errorMessage } from '../cli/errors.ts';
import { openConnection, type PgConnection } from './pg.ts';
import { quoteIdent } from './sql.ts';
import { infixDatabasesSql, parseInfixRows, parseSafetyDatabaseName, type SafetyDatabase } from './safety-names.ts';

/** The safety databases of `live` on the server, newest first. */
export async function listSafetyDatabases(conn: PgConnection, live: string, opts: { sizes?: boolean } = {}): Promise<SafetyDatabase[]> {
  const found: SafetyDatabase[] = [];
  for (const row of parseInfixRows(await psql(conn, infixDatabasesSql(opts), 'postgres'))) {
    const parsed = parseSafetyDatabaseName(row.name, live);
    if (parsed) found.push({ ...parsed, size: row.size });
  }
  return found.sort((a, b) => b.time.getTime() - a.time.getTime() || b.seq - a.seq);
}

/** Drop one safety database. No FORCE: a session someone opened on it (to copy data back) wins. */
export async function dropSafetyDatabase(conn: PgConnection, name: string): Promise<void> {
  await psql(conn, `DROP DATABASE ${quoteIdent(name)}`, 'postgres');
}

export type SafetyLookup =
  | { ok: true; conn: PgConnection; live: string; databases: SafetyDatabase[] }
  | { ok: false; reason: string };

/**
 * For prune and list-backups, which work on files first and ask the server on the side: the
 * environment's live database and its safety databases, or why the server did not tell. The
 * connection gives up on an unreachable server after a few seconds (libpq would wait for TCP).
 * On success the caller closes `conn`.
 */
export async function lookUpSafetyDatabases(target: DatabaseTarget, opts: { sizes?: boolean } = {}): Promise<SafetyLookup> {
  let conn: PgConnection | null = null;
  try {
    conn = openConnection(target);
    if (!conn.env.PGCONNECT_TIMEOUT) conn.env.PGCONNECT_TIMEOUT = '10';
    const live = await targetDatabaseName(conn);
    return { ok: true, conn, live, databases: await listSafetyDatabases(conn, live, opts) };
  } catch (err) {
    conn?.close();
    return { ok: false, reason: `cannot reach the database server: ${errorMessage(err)}` };
  }
}
