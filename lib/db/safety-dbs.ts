// The server side as list-backups and prune see it: the environment's live database and the
// safety databases restore-db kept (lib/db/safety-names says which names are this environment's),
// after repairing what killed runs left (lib/db/repair). Everything goes through psql on the
// maintenance database (lib/db/pg), so compose mode works the same way.
import { errorMessage } from '../cli/errors.ts';
import type { DatabaseTarget } from '../config/resolve.ts';
import { openConnection, type PgConnection } from './pg.ts';
import { lookAndRepair } from './repair.ts';
import type { SafetyDatabase } from './safety-names.ts';
import { psql } from './server.ts';
import { quoteIdent } from './sql.ts';

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
 */
export async function lookUpSafetyDatabases(target: DatabaseTarget, opts: { sizes?: boolean } = {}): Promise<SafetyLookup> {
  try {
    const conn = openConnection(target);
    if (!conn.env.PGCONNECT_TIMEOUT) conn.env.PGCONNECT_TIMEOUT = '10';
    const looked = await lookAndRepair(conn, opts);
    return { ok: true, conn, live: looked.survey.live, databases: looked.safetyDatabases };
  } catch (err) {
    return { ok: false, reason: `cannot reach the database server: ${errorMessage(err)}` };
  }
}
