// restore-db's half: never leave the live database half-restored, and never run what a backup file
// holds but the restore of its data. The file is opened once and checked whole (lib/db/load: its
// manifest, pg_dump's own forms only, its footer, the server's version), the person confirms, the
// dump is loaded into a scratch database as the least privileged role that can, the bytes loaded
// must be the bytes checked; only then are the names swapped in one transaction, the replaced
// database kept aside as the safety copy (or dumped to a file and dropped). Before the live
// database is closed to new connections, the scratch database gets a note saying so: a run killed
// between the two is repaired by the next (lib/db/repair).
import { errorMessage, FailedError, NoSpaceError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { Settings } from '../config/resolve.ts';
import type { Codec } from '../core/naming.ts';
import { judgeRoom } from '../core/room.ts';
import { crashPoint } from '../proc/fault.ts';
import type { Manifest } from '../store/manifest.ts';
import type { BackupSource } from '../store/source.ts';
import { backupDatabase } from './dump.ts';
import type { DumpInfo } from './dump-scanner.ts';
import { helperDbName } from './helper-names.ts';
import { checkForLoad, loadDump, loadRoleFor } from './load.ts';
import type { PgConnection } from './pg.ts';
import { repairDatabase, survey } from './repair.ts';
import { nextSafetyDatabaseName } from './safety-names.ts';
import { psql, serverFreeBytes } from './server.ts';
import { quoteIdent, quoteLiteral } from './sql.ts';
import { closedNote } from './survey.ts';

export interface RestoreOptions {
  settings: Settings;
  conn: PgConnection;
  /** The backup, opened once (lib/store/source). */
  src: BackupSource;
  name: string;
  codec: Codec;
  /** Its manifest, null when it has none (a damaged one was refused before). */
  manifest: Manifest | null;
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

/**
 * Refuse up front when the server's disk cannot hold the scratch database beside the live one (as
 * big as the dump, or as the live database, whichever is larger, plus the margin), where the free
 * space can be known: in compose mode from the database container, in direct mode on a local server.
 */
async function ensureServerRoom(conn: PgConnection, settings: Settings, name: string, info: DumpInfo, live: string | null): Promise<void> {
  const free = await serverFreeBytes(conn).catch(() => null);
  if (free === null) return;
  const liveSize = live ? Number(await psql(conn, `SELECT pg_database_size(${quoteLiteral(live)})`, 'postgres').catch(() => '0')) || 0 : 0;
  const estimate = Math.max(info.bytes, liveSize);
  const verdict = judgeRoom({
    dir: "the database server's data directory",
    free,
    estimate,
    margin: settings.diskMargin,
    basis: liveSize > info.bytes ? 'the live database' : 'the dump',
    what: `refusing to restore ${name}`,
    advice: 'nothing was changed. Free space on the database server (prune drops old safety databases), then try again',
  });
  if (!verdict.ok) throw new NoSpaceError(verdict.message!);
}

export async function restoreDatabase(opts: RestoreOptions): Promise<RestoreResult> {
  const { conn, src } = opts;
  const keep = opts.settings.restore.databaseSafetyCopy === 'keep';
  const surveyed = survey(conn);
  const checked = await checkForLoad(conn, src, opts.name, opts.codec, opts.manifest, surveyed);
  const looked = await repairDatabase(conn, await surveyed);
  const live = looked.live;
  const existed = looked.liveDb !== null;
  await ensureServerRoom(conn, opts.settings, opts.name, checked.info, existed ? live : null);
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

  let loadedInfo: DumpInfo;
  let safetyCopy: string | null = null;
  try {
    const role = await loadRoleFor(conn, scratch, checked.guard);
    log.info(role.why);
    // With `dump`, the safety file of the live database and the load into the scratch one do not
    // depend on each other: they run side by side. Both must succeed before anything live changes.
    // With `keep` there is nothing to copy: the live database itself is renamed aside below.
    const dumping = existing !== '' && !keep;
    log.info(`loading ${opts.name} into scratch database "${scratch}"${dumping ? `, and taking a safety copy of "${live}"` : ''}`);
    const [copy, loaded] = await Promise.allSettled([
      dumping ? backupDatabase({ settings: opts.settings, conn, stamp: opts.stamp, seq: 1, role: 'snapshot', database: live }) : Promise.resolve(null),
      loadDump(conn, src, opts.codec, scratch, role),
    ]);
    if (loaded.status === 'rejected') throw loaded.reason;
    if (loaded.value.failure) throw new FailedError(`restore failed, database "${live}" is unchanged: ${loaded.value.failure}`);
    if (copy.status === 'rejected') {
      throw new FailedError(`restore stopped, database "${live}" is unchanged: the safety copy failed: ${errorMessage(copy.reason)}`, { cause: copy.reason });
    }
    loadedInfo = loaded.value.info;
    safetyCopy = copy.value?.path ?? null;
  } catch (err) {
    await dropScratch();
    throw err;
  }
  if (safetyCopy) log.info(`safety copy: ${safetyCopy}`);

  // The swap: a note on the scratch database, no new sessions, end the app's sessions, then both
  // renames in one transaction (which also takes the note away).
  let safetyDatabase: string | null = null;
  try {
    if (existing) {
      let aside: string;
      try {
        await q(`COMMENT ON DATABASE ${quoteIdent(scratch)} IS ${quoteLiteral(closedNote(live, process.pid))}`);
        crashPoint('restore-db:noted');
        await closeAndEndSessions(conn, live);
        crashPoint('restore-db:closed');
        // Chosen just before the swap; a name taken meanwhile fails the transaction, live unchanged.
        aside = keep ? nextSafetyDatabaseName(live, opts.stamp, (await survey(conn, { live })).others.map((d) => d.name)) : helperDbName(live, 'replaced');
        await q(
          `BEGIN; COMMENT ON DATABASE ${quoteIdent(scratch)} IS NULL; ALTER DATABASE ${quoteIdent(live)} RENAME TO ${quoteIdent(aside)}; ALTER DATABASE ${quoteIdent(scratch)} RENAME TO ${quoteIdent(live)};` +
            // The kept database takes connections again (pg_dump, psql, an undo), under its new name only.
            (keep ? ` ALTER DATABASE ${quoteIdent(aside)} WITH ALLOW_CONNECTIONS true;` : '') +
            ' COMMIT;',
        );
        crashPoint('restore-db:swapped');
      } catch (err) {
        await q(`ALTER DATABASE ${quoteIdent(live)} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
        throw err;
      }
      if (keep) safetyDatabase = aside;
      else {
        await q(`DROP DATABASE ${quoteIdent(aside)} WITH (FORCE)`).catch((err: Error) =>
          log.warn(`the replaced database "${aside}" could not be dropped (${err.message}); the next run drops it`),
        );
      }
    } else {
      await q(`ALTER DATABASE ${quoteIdent(scratch)} RENAME TO ${quoteIdent(live)}`);
    }
  } catch (err) {
    await dropScratch();
    throw new FailedError(`restore failed while swapping in the restored database; "${live}" is unchanged: ${errorMessage(err)}`, { cause: err });
  }
  return { database: live, safetyCopy, safetyDatabase, rows: loadedInfo.rows };
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
