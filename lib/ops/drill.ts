// The restore drill: prove the newest backups restore, without touching anything live. The
// database backup is loaded into a throwaway database (one transaction, stop at the first
// error) whose row counts are compared with the manifest, then dropped; the media backup is
// unpacked into a temporary folder whose files and bytes are compared with the manifest, then
// removed. Both are cleaned up whatever happens. An incremental media point is restored as
// restore-media restores it: every archive of its chain checked (safety rules, each link the very
// archive the next one names), then unpacked in order into the one folder.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import { decompressArgv } from '../core/codec.ts';
import { humanBytes, plural } from '../core/format.ts';
import { roomNeeded } from '../core/room.ts';
import { comparableCounts, describeDifferences, judgeCounts, type DrillPart, type DrillResult } from '../core/verdicts.ts';
import { totalRows } from '../db/dump-scanner.ts';
import { helperDbName } from '../db/helper-names.ts';
import { checkForLoad, loadDump, loadRoleFor } from '../db/load.ts';
import { repairDatabase, survey } from '../db/repair.ts';
import type { PgConnection } from '../db/pg.ts';
import { psql } from '../db/server.ts';
import { quoteIdent, quoteLiteral, rowCountSql } from '../db/sql.ts';
import { processAlive } from '../proc/pid.ts';
import { runPipeline } from '../proc/pipeline.ts';
import type { BackupFile } from '../store/catalog.ts';
import { statFree } from '../store/disk.ts';
import { readManifest, type Manifest } from '../store/manifest.ts';
import { openSource, type BackupSource } from '../store/source.ts';
import { openChain } from '../media/chain.ts';
import { sumChecks } from '../media/listing.ts';
import { checkChainForRestore, type MediaLink } from '../media/restore.ts';
import { EXTRACT_FLAGS } from '../media/tar.ts';
import { listArchive } from './verify.ts';

async function manifestOrNull(file: string): Promise<Manifest | null> {
  try {
    return await readManifest(file);
  } catch {
    return null;
  }
}

async function drillDatabase(conn: PgConnection, b: BackupFile): Promise<DrillPart> {
  const part: DrillPart = { kind: 'database', name: b.name, path: b.path, ok: false, problems: [], checks: [] };
  const manifest = await manifestOrNull(b.path);
  let scratch: string | null = null;
  let src: BackupSource | null = null;
  const q = (sql: string | string[], db = 'postgres') => psql(conn, sql, db);
  try {
    // The same checks and the same load as restore-db: the drill proves what a restore would do.
    src = openSource(b.path);
    const surveyed = survey(conn);
    const checked = await checkForLoad(conn, src, b.name, b.codec, manifest, surveyed);
    // A drill killed by a signal could not drop its database; this finds and drops it.
    const s = await repairDatabase(conn, await surveyed);
    scratch = helperDbName(s.live, 'drill');
    const owner = s.liveDb ? await q(`SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = ${quoteLiteral(s.live)}`) : '';
    await q([`DROP DATABASE IF EXISTS ${quoteIdent(scratch)} WITH (FORCE)`, `CREATE DATABASE ${quoteIdent(scratch)} TEMPLATE template0${owner ? ` OWNER ${quoteIdent(owner)}` : ''}`]);
    const role = await loadRoleFor(conn, scratch, checked.guard);
    log.info(`drill: loading ${b.name} into throwaway database "${scratch}" (${role.why})`);
    const loaded = await loadDump(conn, src, b.codec, scratch, role);
    part.checks.push('loaded without error');
    if (loaded.failure) {
      part.problems.push(`load failed: ${loaded.failure}`);
    } else {
      const expected = manifest?.database?.rows ?? loaded.info.rows;
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
    src?.close();
    if (scratch) {
      await q(`DROP DATABASE IF EXISTS ${quoteIdent(scratch)} WITH (FORCE)`).catch((err: Error) =>
        part.problems.push(`the throwaway database "${scratch}" could not be dropped (${err.message}); the next run drops it`),
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

/** Drill folders are `compose-backup-drill-<pid>-<random>`: a killed drill's is found by its pid. */
const DRILL_PREFIX = 'compose-backup-drill-';

/** Remove the drill folders of runs that are gone (a drill killed by a signal cannot clean up). */
async function sweepDeadDrills(tmpBase: string): Promise<void> {
  for (const name of await fsp.readdir(tmpBase).catch(() => [] as string[])) {
    const pid = /^compose-backup-drill-(\d+)-/.exec(name)?.[1];
    if (!pid || Number(pid) === process.pid || processAlive(Number(pid))) continue;
    const dir = path.join(tmpBase, name);
    await countTree(dir).catch(() => undefined); // make every folder writable so rm can empty it
    await fsp.rm(dir, { recursive: true, force: true }).then(
      () => log.info(`repaired what an interrupted run left: removed ${dir}, the drill folder of run ${pid}`),
      () => undefined,
    );
  }
}

/** Extraction options of the drill: owners and modes of the one running it, so the folder can always be removed. */
const DRILL_EXTRACT = ['--no-same-owner', '--no-same-permissions'];
/** What makes tar apply an incremental's deletions and renames (lib/media/tar EXTRACT_FLAGS). */
const INCREMENTAL_EXTRACT = EXTRACT_FLAGS.filter((f) => f.startsWith('--listed-incremental'));

/** Why the drill folder's filesystem cannot take `bytes` (with a margin), or null. */
async function roomProblem(tmpBase: string, bytes: number): Promise<string | null> {
  const free = await statFree(tmpBase);
  const needed = roomNeeded(bytes, { ratio: 0.05, bytes: 16 * 1024 * 1024 });
  return free < needed ? `not enough space in ${tmpBase} to unpack (${humanBytes(free)} free, ${humanBytes(needed)} needed); point TMPDIR elsewhere` : null;
}

/** Unpack one checked archive into `dir`, from the same open file; null, or why it failed. */
async function unpackChecked(src: BackupSource, codec: BackupFile['codec'], dir: string, flags: readonly string[]): Promise<string | null> {
  const read = src.read();
  const res = await runPipeline({
    stdin: read.stream,
    stages: [
      { name: codec, argv: decompressArgv(codec) },
      { name: 'tar', argv: ['tar', '-x', '-f', '-', '-C', dir, ...DRILL_EXTRACT, ...flags] },
    ],
    stdout: 'ignore',
  });
  if (!res.ok) return res.failure?.message ?? 'stopped';
  src.verifySame(await read.done, 'the drill compared nothing');
  return null;
}

/** Remove a drill folder, whatever modes the archive gave its folders. */
async function removeDrillDir(dir: string, part: DrillPart): Promise<void> {
  await countTree(dir).catch(() => undefined); // make every folder writable so rm can empty it
  await fsp.rm(dir, { recursive: true, force: true }).catch((err: Error) => part.problems.push(`the drill folder ${dir} could not be removed (${err.message})`));
}

/**
 * A point of an incremental chain: the whole chain opened and checked as restore-media checks it,
 * then unpacked in order. Nothing records what the whole tree held at that point (each manifest
 * counts only its own archive, and tar's folder records name excluded files too), so the restored
 * tree is judged by what can be known: every link unpacked, the point's own files all there.
 */
async function drillChain(b: BackupFile, tmpBase: string, part: DrillPart): Promise<void> {
  let dir: string | null = null;
  let links: MediaLink[] = [];
  let close = () => {};
  try {
    await sweepDeadDrills(tmpBase);
    ({ links, close } = await openChain({ path: b.path, name: b.name }));
    const checks = await checkChainForRestore(links);
    part.checks.push(`chain of ${links.length} archives checked (safety rules, each link matches its parent's sha256)`);
    const room = await roomProblem(tmpBase, sumChecks(checks).bytes);
    if (room) {
      part.problems.push(room);
      return;
    }
    dir = await fsp.mkdtemp(path.join(tmpBase, `${DRILL_PREFIX}${process.pid}-`));
    for (const link of links) {
      log.info(`drill: unpacking ${link.name} into ${dir}`);
      const failed = await unpackChecked(link.src, link.codec, dir, INCREMENTAL_EXTRACT);
      if (failed) {
        part.problems.push(`unpack of ${link.name} failed: ${failed}`);
        return;
      }
    }
    part.checks.push('unpacked in order without error');
    const got = await countTree(dir);
    // Every file of the newest link is unpacked last, so it is there whatever the links before did.
    const own = checks[checks.length - 1]!.files;
    if (got.files < own) part.problems.push(`the restored tree holds ${got.files} files, fewer than the ${own} of ${b.name} itself`);
    part.checks.push(`restored ${plural(got.files, 'file')}, ${plural(got.directories, 'folder')}, ${humanBytes(got.bytes)}`);
  } catch (err) {
    part.problems.push(errorMessage(err));
  } finally {
    close();
    if (dir) await removeDrillDir(dir, part);
  }
}

async function drillMedia(b: BackupFile, tmpBase: string): Promise<DrillPart> {
  const part: DrillPart = { kind: 'media', name: b.name, path: b.path, ok: false, problems: [], checks: [] };
  if (b.level > 0) {
    await drillChain(b, tmpBase, part);
    part.ok = part.problems.length === 0;
    return part;
  }
  return drillArchive(b, tmpBase, part);
}

async function drillArchive(b: BackupFile, tmpBase: string, part: DrillPart): Promise<DrillPart> {
  const manifest = await manifestOrNull(b.path);
  let dir: string | null = null;
  let src: BackupSource | null = null;
  try {
    await sweepDeadDrills(tmpBase);
    // Unpack only what restore-media would accept, from the file that was checked: the listing
    // applies its safety rules first, and the unpack reads the same open file again.
    src = openSource(b.path);
    const listing = await listArchive(src.read(), b.codec);
    if (!listing.check.ok || !listing.check.read) {
      part.problems.push(listing.check.failure ? `archive unreadable: ${listing.check.failure}` : `unsafe to restore: ${listing.check.unsafe}`);
      return part;
    }
    src.check(listing.check.read);
    const expected = manifest?.media ?? listing.counts;
    const source = manifest?.media ? 'manifest' : 'listing';
    const room = await roomProblem(tmpBase, expected.bytes);
    if (room) {
      part.problems.push(room);
      return part;
    }
    dir = await fsp.mkdtemp(path.join(tmpBase, `${DRILL_PREFIX}${process.pid}-`));
    log.info(`drill: unpacking ${b.name} into ${dir}`);
    const failed = await unpackChecked(src, b.codec, dir, []);
    part.checks.push('unpacked without error');
    if (failed) {
      part.problems.push(`unpack failed: ${failed}`);
    } else {
      const got = await countTree(dir);
      const diff = describeDifferences(...comparableCounts(got, { ...expected, level: manifest?.media?.level }));
      if (diff) part.problems.push(`unpacked files differ from the ${source}: ${diff.replaceAll('(manifest ', `(${source} `)}`);
      part.checks.push(`${got.files} files, ${humanBytes(got.bytes)} match the ${source}`);
    }
  } catch (err) {
    part.problems.push(errorMessage(err));
  } finally {
    src?.close();
    if (dir) await removeDrillDir(dir, part);
  }
  part.ok = part.problems.length === 0;
  return part;
}

/**
 * Drill these backups (the scheduled run: the ones it just made; verify --drill: the newest of
 * each kind). Problems are reported in the result, never thrown: a scheduled run logs them and
 * pings failure. `tmpDir` (default: the system's, TMPDIR) receives the unpacked media.
 */
export async function runDrill(conn: PgConnection, backups: BackupFile[], opts: { tmpDir?: string } = {}): Promise<DrillResult> {
  const parts: DrillPart[] = [];
  for (const b of backups) {
    parts.push(b.kind === 'database' ? await drillDatabase(conn, b) : await drillMedia(b, opts.tmpDir ?? os.tmpdir()));
  }
  return { ok: parts.every((p) => p.ok), parts };
}
