// The restore drill: prove the newest backups restore, without touching anything live. The
// database backup is loaded into a throwaway database (one transaction, stop at the first
// error) whose row counts are compared with the manifest, then dropped; the media backup is
// unpacked into a temporary folder whose files and bytes are compared with the manifest, then
// removed. Both are cleaned up whatever happens.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { humanBytes, listAll, type BackupFile } from './catalog.ts';
import { decompressArgv } from './codec.ts';
import type { Settings } from './config.ts';
import { checkLoadable, helperDbName, loadDump, psql, targetDatabaseName } from './db.ts';
import { measureFreeBytes, roomNeeded } from './disk.ts';
import { totalRows } from './dump-inspector.ts';
import { errorMessage } from './errors.ts';
import { log } from './log.ts';
import { readManifest, type Manifest } from './manifest.ts';
import type { BackupKind } from './naming.ts';
import { quoteIdent, quoteLiteral, type PgConnection } from './pg.ts';
import { runPipeline } from './pipeline.ts';
import { describeDifferences, listArchive, selectForVerify } from './verify.ts';
import { processAlive } from './pid.ts';

export interface DrillPart {
  kind: BackupKind;
  name: string;
  path: string;
  ok: boolean;
  problems: string[];
  checks: string[];
}

export interface DrillResult {
  ok: boolean;
  /** One part per backup drilled (none when the tree holds no backup). */
  parts: DrillPart[];
}

export interface DrillOptions {
  /** The backups to drill; default: the newest regular backup of each kind of this environment. */
  backups?: BackupFile[];
}

/** Pure: the line a drill part prints. */
export function formatDrillLine(p: DrillPart): string {
  return p.ok ? `ok  drill ${p.name}  (${p.checks.join(', ')})` : `FAIL  drill ${p.name}: ${p.problems.join('; ')}`;
}

/**
 * Pure: the SQL that counts the rows of the listed tables ("schema.table" keys, as in the
 * manifest) in one round trip, as a JSON object. Identifiers are quoted by format(%I), so any
 * name works; a table that is not there is simply absent from the result.
 */
export function rowCountSql(tables: string[]): string {
  const wanted = quoteLiteral(JSON.stringify(tables));
  return (
    `SELECT coalesce(json_object_agg(n.nspname || '.' || c.relname, ` +
    `(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint), '{}') ` +
    `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ` +
    `WHERE c.relkind IN ('r', 'p') AND (n.nspname || '.' || c.relname) IN (SELECT jsonb_array_elements_text(${wanted}::jsonb))`
  );
}

/** Pure: a restored database's counts against what the dump (or its manifest) says it held. */
export function judgeCounts(actual: Record<string, number>, expected: Record<string, number>, source: 'manifest' | 'dump'): string[] {
  const diff = describeDifferences(actual, expected);
  if (!diff) return [];
  return [`row counts after restore differ from the ${source}: ${diff.replaceAll('(manifest ', `(${source} `)}`];
}

async function manifestOrNull(file: string): Promise<Manifest | null> {
  try {
    return await readManifest(file);
  } catch {
    return null;
  }
}

/**
 * Pure: the throwaway databases among `names` that a drill of this host left behind when it was
 * killed (its pid is gone), for the live database `live`.
 */
export function staleDrillDatabases(names: string[], live: string, alive: (pid: number) => boolean): string[] {
  return names.filter((n) => {
    const m = /__drill_(\d+)$/.exec(n);
    if (!m) return false;
    const pid = Number(m[1]);
    return helperDbName(live, 'drill', pid) === n && pid !== process.pid && !alive(pid);
  });
}

async function drillDatabase(conn: PgConnection, b: BackupFile): Promise<DrillPart> {
  const part: DrillPart = { kind: 'database', name: b.name, path: b.path, ok: false, problems: [], checks: [] };
  const manifest = await manifestOrNull(b.path);
  let scratch: string | null = null;
  const q = (sql: string, db = 'postgres') => psql(conn, sql, db);
  try {
    await checkLoadable(conn, b.path, b.codec);
    const live = await targetDatabaseName(conn);
    // A drill killed by a signal could not drop its database; the next one does.
    const existing = (await q(`SELECT datname FROM pg_database WHERE datname LIKE '%\\_\\_drill\\_%'`)).split('\n').filter(Boolean);
    for (const stale of staleDrillDatabases(existing, live, processAlive)) {
      log.info(`drill: dropping "${stale}", left behind by an interrupted drill`);
      await q(`DROP DATABASE IF EXISTS ${quoteIdent(stale)} WITH (FORCE)`);
    }
    scratch = helperDbName(live, 'drill');
    await q(`DROP DATABASE IF EXISTS ${quoteIdent(scratch)} WITH (FORCE)`);
    await q(`CREATE DATABASE ${quoteIdent(scratch)} TEMPLATE template0`);
    log.info(`drill: loading ${b.name} into throwaway database "${scratch}"`);
    const loaded = await loadDump(conn, b.path, b.codec, scratch);
    part.checks.push('loaded without error');
    if (loaded.failure) {
      part.problems.push(`load failed: ${loaded.failure}`);
    } else {
      const expected = manifest?.database?.rows ?? loaded.info?.rows ?? {};
      const source = manifest?.database ? 'manifest' : 'dump';
      const tables = Object.keys(expected);
      const out = tables.length ? await q(rowCountSql(tables), scratch) : '{}';
      const actual = JSON.parse(out || '{}') as Record<string, number>;
      part.problems.push(...judgeCounts(actual, expected, source));
      part.checks.push(`rows of ${tables.length} tables match the ${source} (${totalRows({ rows: expected })} rows)`);
    }
  } catch (err) {
    part.problems.push(errorMessage(err));
  } finally {
    if (scratch) {
      await q(`DROP DATABASE IF EXISTS ${quoteIdent(scratch)} WITH (FORCE)`).catch((err: Error) =>
        part.problems.push(`the throwaway database "${scratch}" could not be dropped (${err.message}); drop it by hand`),
      );
    }
  }
  part.ok = part.problems.length === 0;
  return part;
}

export interface TreeCount {
  files: number;
  directories: number;
  bytes: number;
}

/**
 * Files, directories and bytes under `root` (not counting root), the way the manifest counts an
 * archive: every name of a regular file is a file (tar lists a second name as a hard link), but
 * its bytes count once. Directories are made writable on the way so the folder can always be
 * removed afterwards.
 */
export async function countTree(root: string): Promise<TreeCount> {
  const count: TreeCount = { files: 0, directories: 0, bytes: 0 };
  const seen = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const ent of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      const st = await fsp.lstat(p);
      if (st.isDirectory()) {
        count.directories++;
        if ((st.mode & 0o700) !== 0o700) await fsp.chmod(p, (st.mode & 0o7777) | 0o700);
        await walk(p);
      } else if (st.isFile()) {
        count.files++;
        const id = `${st.dev}:${st.ino}`;
        if (!seen.has(id)) count.bytes += st.size;
        seen.add(id);
      }
    }
  };
  await walk(root);
  return count;
}

async function drillMedia(b: BackupFile, tmpBase: string): Promise<DrillPart> {
  const part: DrillPart = { kind: 'media', name: b.name, path: b.path, ok: false, problems: [], checks: [] };
  const manifest = await manifestOrNull(b.path);
  let dir: string | null = null;
  try {
    // Unpack only what restore-media would accept: the listing applies its safety rules first.
    const listing = await listArchive(b.path, b.codec);
    if (!listing.check.ok) {
      part.problems.push(listing.check.failure ? `archive unreadable: ${listing.check.failure}` : `unsafe to restore: ${listing.check.unsafe}`);
      return part;
    }
    const expected = manifest?.media ?? listing.counts;
    const source = manifest?.media ? 'manifest' : 'listing';
    const free = await measureFreeBytes(tmpBase);
    const needed = roomNeeded(expected.bytes, { ratio: 0.05, bytes: 16 * 1024 * 1024 });
    if (free < needed) {
      part.problems.push(`not enough space in ${tmpBase} to unpack (${humanBytes(free)} free, ${humanBytes(needed)} needed); point TMPDIR elsewhere`);
      return part;
    }
    dir = await fsp.mkdtemp(path.join(tmpBase, 'compose-backup-drill-'));
    log.info(`drill: unpacking ${b.name} into ${dir}`);
    const fd = fs.openSync(b.path, 'r');
    let res;
    try {
      res = await runPipeline({
        stdin: fd,
        stages: [
          { name: b.codec, argv: decompressArgv(b.codec) },
          { name: 'tar', argv: ['tar', '-x', '-f', '-', '-C', dir, '--no-same-owner', '--no-same-permissions'] },
        ],
        stdout: 'ignore',
      });
    } finally {
      fs.closeSync(fd);
    }
    part.checks.push('unpacked without error');
    if (!res.ok) {
      part.problems.push(`unpack failed: ${res.failure}`);
    } else {
      const got = await countTree(dir);
      const diff = describeDifferences(
        { files: got.files, directories: got.directories, bytes: got.bytes },
        { files: expected.files, directories: expected.directories, bytes: expected.bytes },
      );
      if (diff) part.problems.push(`unpacked files differ from the ${source}: ${diff.replaceAll('(manifest ', `(${source} `)}`);
      part.checks.push(`${got.files} files, ${humanBytes(got.bytes)} match the ${source}`);
    }
  } catch (err) {
    part.problems.push(errorMessage(err));
  } finally {
    if (dir) {
      await countTree(dir).catch(() => undefined); // make every folder writable so rm can empty it
      await fsp.rm(dir, { recursive: true, force: true }).catch((err: Error) =>
        part.problems.push(`the drill folder ${dir} could not be removed (${err.message})`),
      );
    }
  }
  part.ok = part.problems.length === 0;
  return part;
}

/**
 * Run the drill. Problems are reported in the result, never thrown: a scheduled run logs them
 * and pings failure. `tmpDir` (default: the system's, TMPDIR) receives the unpacked media.
 */
export async function runDrill(settings: Settings, conn: PgConnection, opts: DrillOptions & { tmpDir?: string } = {}): Promise<DrillResult> {
  const backups = opts.backups ?? selectForVerify(await listAll(settings.backupDir), false);
  const parts: DrillPart[] = [];
  for (const b of backups) {
    parts.push(b.kind === 'database' ? await drillDatabase(conn, b) : await drillMedia(b, opts.tmpDir ?? os.tmpdir()));
  }
  return { ok: parts.every((p) => p.ok), parts };
}
