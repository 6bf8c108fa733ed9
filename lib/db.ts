// The database half: dump into a new backup, and restore without ever leaving the live
// database half-restored (load into a scratch database, then swap names in one transaction;
// the replaced database is kept aside as the safety copy, or dumped to a file and dropped).
import fs from 'node:fs';
import os from 'node:os';
import { spawn } from 'node:child_process';
import type { Settings } from './config.ts';
import { compressArgv, decompressArgv } from './codec.ts';
import { composeExec } from './compose.ts';
import { DumpScanner, FOOTER, type DumpInfo } from './dump-inspector.ts';
import { errorMessage, FailedError } from './errors.ts';
import { log } from './log.ts';
import { parseToolMajor, pgArgv, pgDumpVersionArgv, quoteIdent, quoteLiteral, serverMajor, type PgConnection } from './pg.ts';
import { runPipeline } from './pipeline.ts';
import { capture, firstError } from './run.ts';
import { writeBackup, type WrittenBackup } from './writer.ts';
import type { BackupRole } from './naming.ts';
import type { Manifest } from './manifest.ts';
import { infixDatabasesSql, nextSafetyDatabaseName, parseInfixRows } from './safety-name.ts';

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
    const missing = /not found|No such file/i.test(v.stderr) || v.code === 127;
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

export interface DbBackupOptions {
  settings: Settings;
  conn: PgConnection;
  stamp: string;
  seq: number;
  role?: BackupRole;
  /** Dump another database than the connection's (the live one during a restore). */
  database?: string;
}

export async function backupDatabase(opts: DbBackupOptions): Promise<WrittenBackup> {
  const { settings, conn } = opts;
  await preflight(conn, opts.database);
  const dbName = opts.database ?? (await targetDatabaseName(conn));
  const scanner = new DumpScanner();
  return writeBackup({
    backupDir: settings.backupDir,
    kind: 'database',
    role: opts.role ?? 'backup',
    codec: settings.compression,
    stamp: opts.stamp,
    seq: opts.seq,
    environment: settings.envName,
    label: opts.role === 'snapshot' ? 'safety copy of the database' : 'database backup',
    diskMargin: settings.diskMargin,
    // Plain dumps of typical app databases compress to about a third of their on-disk size or
    // less; without an earlier backup to go by, that is the estimate (0 if the size is unknown).
    sizeFallback: {
      basis: 'database size / 3',
      estimate: async () => Math.ceil((await databaseSizeBytes(conn, opts.database).catch(() => 0)) / 3),
    },
    stages: [
      { name: 'pg_dump', argv: pgArgv(conn.target, 'pg_dump', [], opts.database), env: conn.env },
      { name: settings.compression, argv: compressArgv(settings.compression, settings.compressionLevel) },
    ],
    observe: (chunk) => scanner.push(chunk),
    check: () => {
      const info = scanner.finish();
      if (info.bytes === 0) throw new FailedError('database backup failed: pg_dump produced no output');
      if (!info.complete) throw new FailedError(`database backup failed: the dump ends without "${FOOTER}"; it is incomplete`);
      return { database: dumpManifest(info, dbName) };
    },
  });
}

function dumpManifest(info: DumpInfo, name: string | null) {
  return {
    name,
    serverVersion: info.serverVersion,
    pgDumpVersion: info.pgDumpVersion,
    dumpBytes: info.bytes,
    rows: info.rows,
    toc: info.toc,
  };
}

export interface DumpHeader {
  isPlainDump: boolean;
  pgDumpVersion: string | null;
  serverVersion: string | null;
}

/** Pure: what the first lines of a dump say. */
export function parseDumpHeader(text: string): DumpHeader {
  return {
    isPlainDump: /^--\n-- PostgreSQL database dump\n--/m.test(text) || /^-- PostgreSQL database dump/m.test(text),
    pgDumpVersion: /^-- Dumped by pg_dump version (\S+)/m.exec(text)?.[1] ?? null,
    serverVersion: /^-- Dumped from database version (\S+)/m.exec(text)?.[1] ?? null,
  };
}

/** Decompress just the start of a backup to read its header; stops the decompressor early. */
export async function readDumpHeader(file: string, codec: Settings['compression']): Promise<DumpHeader> {
  const [cmd, ...args] = decompressArgv(codec);
  const fd = fs.openSync(file, 'r');
  const child = spawn(cmd!, args, { stdio: [fd, 'pipe', 'ignore'] });
  fs.closeSync(fd);
  let text = '';
  for await (const chunk of child.stdout!) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > 16384 || /^-- Dumped by pg_dump version/m.test(text)) break;
  }
  child.kill();
  return parseDumpHeader(text);
}

/** Postgres limits names to 63 bytes; keep the live name recognisable in helper databases. */
export function helperDbName(live: string, role: 'restoring' | 'replaced' | 'drill', pid = process.pid): string {
  const suffix = `__${role}_${pid}`;
  let base = live;
  while (Buffer.byteLength(base + suffix) > 63) base = base.slice(0, -1);
  return base + suffix;
}

export interface RestoreOptions {
  settings: Settings;
  conn: PgConnection;
  file: string;
  codec: Settings['compression'];
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

/** Before any change: the file is a plain dump, the server is reachable and not older than the dump. */
export async function checkLoadable(conn: PgConnection, file: string, codec: Settings['compression']): Promise<ServerFacts> {
  const header = await readDumpHeader(file, codec);
  if (!header.isPlainDump) throw new FailedError(`${file} does not decompress to a PostgreSQL plain-format dump`);
  const facts = await preflight(conn, 'postgres');
  const dumpMajor = header.pgDumpVersion ? parseToolMajor(header.pgDumpVersion) : null;
  if (dumpMajor !== null && dumpMajor > facts.serverMajor) {
    throw new FailedError(
      `this dump was made by pg_dump ${dumpMajor}, newer than the server (${facts.serverMajor}); restore it on PostgreSQL ${dumpMajor} or later`,
    );
  }
  return facts;
}

export interface LoadResult {
  /** Why the load failed (a stage's error, or a dump cut short), else null. */
  failure: string | null;
  /** What the dump held, scanned as it was loaded; null when not scanned. */
  info: DumpInfo | null;
}

/**
 * Load a backup into an existing (empty) database in one transaction that stops at the first
 * error: either all of the dump is in, or nothing is. Shared by restore and the restore drill.
 * `scan: false` spares reading a copy of the dump, for a file whose checksum matched a manifest:
 * its footer and rows were checked when it was written.
 */
export async function loadDump(conn: PgConnection, file: string, codec: Settings['compression'], database: string, opts: { scan?: boolean } = {}): Promise<LoadResult> {
  const scanner = opts.scan === false ? null : new DumpScanner();
  const input = fs.openSync(file, 'r');
  try {
    const res = await runPipeline({
      stdin: input,
      stages: [
        { name: `${codec} -d`, argv: decompressArgv(codec) },
        {
          name: 'psql',
          argv: pgArgv(conn.target, 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction'], database),
          env: conn.env,
        },
      ],
      stdout: 'ignore',
      observe: scanner ? { after: 0, onData: (chunk) => scanner.push(chunk) } : undefined,
    });
    const info = scanner?.finish() ?? null;
    if (!res.ok) return { failure: res.failure, info };
    if (info && !info.complete) return { failure: `the dump ends without "${FOOTER}" (truncated?)`, info };
    return { failure: null, info };
  } finally {
    fs.closeSync(input);
  }
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
      throw new FailedError(`restore stopped, database "${live}" is unchanged: the safety copy failed: ${errorMessage(copy.reason)}`);
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
