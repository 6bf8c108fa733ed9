// restore-db's half: never leave the live database half-restored. The dump is loaded into a
// scratch database; only when it loaded completely are the names swapped in one transaction, the
// replaced database kept aside as the safety copy (or dumped to a file and dropped).
import { errorMessage, FailedError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { Settings } from '../config/resolve.ts';
import type { Codec } from '../core/naming.ts';
import type { Manifest } from '../store/manifest.ts';
import { backupDatabase } from './dump.ts';
import type { DumpInfo } from './dump-scanner.ts';
import { helperDbName } from './helper-names.ts';
import { checkLoadable, loadDump } from './load.ts';
import type { PgConnection } from './pg.ts';
import { quoteIdent, quoteLiteral } from './sql.ts';
import { infixDatabasesSql, nextSafetyDatabaseName, parseInfixRows } from './safety-names.ts';
import { psql, targetDatabaseName } from './server.ts';

export interface RestoreOptions {
  settings: Settings;
  conn: PgConnection;
  file: string;
  codec: Codec;
  /**
   * The file's checksum against its manifest, already started: it resolves to the manifest (null
   * when the file has none) or rejects when the file was altered. Awaited before the question.
   */
  checksum: Promise<Manifest | null>;
  /** Asked after the checks and before anything changes; throws to decline. */
  confirm: (database: string) => Promise<void>;
  stamp: string;
}

export interface RestoreResult {
  database: string;
  /** The safety file (`databaseSafetyCopy: dump`), or null. */
  safetyCopy: string | null;
  /** The replaced database, kept under this name (`databaseSafetyCopy: keep`), or null. */
  safetyDatabase: string | null;
  rows: Record<string, number>;
}
export async function restoreDatabase(opts: RestoreOptions): Promise<RestoreResult> {
  const { conn } = opts;
  const keep = opts.settings.restore.databaseSafetyCopy === 'keep';
  // The checksum reads the whole file, the other checks only its start and the server: side by side.
  const [sum, loadable] = await Promise.allSettled([opts.checksum, checkLoadable(conn, opts.file, opts.codec)]);
  if (sum.status === 'rejected') throw sum.reason;
  if (loadable.status === 'rejected') throw loadable.reason;
  const manifest = sum.value;
  const live = await targetDatabaseName(conn);
  await opts.confirm(live);

  const q = (sql: string | string[]) => psql(conn, sql, 'postgres');
  const existing = await q(
    `SELECT pg_get_userbyid(datdba) || '|' || pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype FROM pg_database WHERE datname = ${quoteLiteral(live)}`,
  );
  const scratch = helperDbName(live, 'restoring');
  const [owner, encoding, collate, ctype] = existing.split('|');
  await q([
    `DROP DATABASE IF EXISTS ${quoteIdent(scratch)}`,
    `CREATE DATABASE ${quoteIdent(scratch)} TEMPLATE template0` +
      (existing ? ` OWNER ${quoteIdent(owner!)} ENCODING ${quoteLiteral(encoding!)} LC_COLLATE ${quoteLiteral(collate!)} LC_CTYPE ${quoteLiteral(ctype!)}` : ''),
  ]);
  const dropScratch = () => q(`DROP DATABASE IF EXISTS ${quoteIdent(scratch)} WITH (FORCE)`).catch(() => undefined);

  // With `dump`, the safety file of the live database and the load into the scratch one do not
  // depend on each other: they run side by side. Both must succeed before anything live changes.
  // With `keep` there is nothing to copy: the live database itself is renamed aside below.
  const dumping = existing !== '' && !keep;
  log.info(`loading ${opts.file} into scratch database "${scratch}"${dumping ? `, and taking a safety copy of "${live}"` : ''}`);
  const [copy, loaded] = await Promise.allSettled([
    dumping ? backupDatabase({ ...opts, role: 'snapshot', seq: 1, database: live }) : Promise.resolve(null),
    // A file that matched its manifest had its footer and rows checked when it was written.
    loadDump(conn, opts.file, opts.codec, scratch, { scan: !manifest?.database }),
  ]);
  let info: DumpInfo | null;
  try {
    if (loaded.status === 'rejected') throw loaded.reason;
    info = loaded.value.info;
    if (loaded.value.failure) throw new FailedError(`restore failed, database "${live}" is unchanged: ${loaded.value.failure}`);
    if (copy.status === 'rejected') {
      throw new FailedError(`restore stopped, database "${live}" is unchanged: the safety copy failed: ${errorMessage(copy.reason)}`, { cause: copy.reason });
    }
  } catch (err) {
    await dropScratch();
    throw err;
  }
  const safetyCopy = copy.value?.path ?? null;
  if (safetyCopy) log.info(`safety copy: ${safetyCopy}`);

  // The swap: no new sessions, end the app's sessions, then both renames in one transaction.
  let safetyDatabase: string | null = null;
  try {
    if (existing) {
      let aside: string;
      try {
        await closeAndEndSessions(conn, live);
        // Chosen just before the swap; a name taken meanwhile fails the transaction, live unchanged.
        aside = keep
          ? nextSafetyDatabaseName(live, opts.stamp, parseInfixRows(await q(infixDatabasesSql())).map((r) => r.name))
          : helperDbName(live, 'replaced');
        await q(
          `BEGIN; ALTER DATABASE ${quoteIdent(live)} RENAME TO ${quoteIdent(aside)}; ALTER DATABASE ${quoteIdent(scratch)} RENAME TO ${quoteIdent(live)};` +
            // The kept database takes connections again (pg_dump, psql, an undo), under its new name only.
            (keep ? ` ALTER DATABASE ${quoteIdent(aside)} WITH ALLOW_CONNECTIONS true;` : '') +
            ' COMMIT;',
        );
      } catch (err) {
        await q(`ALTER DATABASE ${quoteIdent(live)} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
        throw err;
      }
      if (keep) safetyDatabase = aside;
      else {
        await q(`DROP DATABASE ${quoteIdent(aside)} WITH (FORCE)`).catch((err: Error) =>
          log.warn(`the replaced database "${aside}" could not be dropped (${err.message}); drop it by hand`),
        );
      }
    } else {
      await q(`ALTER DATABASE ${quoteIdent(scratch)} RENAME TO ${quoteIdent(live)}`);
    }
  } catch (err) {
    await dropScratch();
    throw new FailedError(`restore failed while swapping in the restored database; "${live}" is unchanged: ${(err as Error).message}`);
  }
  return { database: live, safetyCopy, safetyDatabase, rows: manifest?.database?.rows ?? info?.rows ?? {} };
}

/**
 * Close a database to new sessions and end the ones it has (the app's connection pool), waiting
 * until they are gone. Closing it shares the first round's psql.
 */
async function closeAndEndSessions(conn: PgConnection, database: string): Promise<void> {
  const close = `ALTER DATABASE ${quoteIdent(database)} WITH ALLOW_CONNECTIONS false`;
  const terminate = `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ${quoteLiteral(database)} AND pid <> pg_backend_pid()`;
  for (let i = 0; i < 50; i++) {
    const left = await psql(conn, i === 0 ? [close, terminate] : terminate, 'postgres');
    if (left === '0') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new FailedError(`sessions on "${database}" did not end`);
}
