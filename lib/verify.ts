// Is a backup still what was written, and could it be restored? Checks a file against its
// manifest (size, sha256), decompresses all of it, and reads what it holds: a dump to its
// completion footer (table of contents, rows per table), an archive through a full listing
// with restore-media's safety rules. Judging the facts is pure (table-tested); gathering them
// streams the file once per pass, in constant memory.
import fsp from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { checkArchive, readPosition, type ArchiveCheck } from './archive.ts';
import { MANIFEST_SUFFIX, type BackupFile } from './catalog.ts';
import { decompressArgv } from './codec.ts';
import { parseDumpHeader, type DumpHeader } from './db.ts';
import { DumpScanner, totalRows, type DumpInfo } from './dump-inspector.ts';
import { errorMessage, FailedError } from './errors.ts';
import { CreateLog } from './media.ts';
import { readManifest, sha256File, type Manifest } from './manifest.ts';
import { parseBackupName, type BackupKind } from './naming.ts';
import { runPipeline } from './pipeline.ts';
import { startProgress } from './progress.ts';

export interface VerifyResult {
  name: string;
  path: string;
  kind: BackupKind;
  ok: boolean;
  /** Short phrases, one per problem found. */
  problems: string[];
  /** What was checked (and passed or failed), in order. */
  checks: string[];
  /** Whether the backup has a (readable) manifest. */
  manifest: boolean;
}

export interface VerifyOptions {
  /** A missing manifest is a problem (for a backup this tool has just written), not a note. */
  requireManifest?: boolean;
}

/** A finding: problems found and what was checked. */
interface Finding {
  problems: string[];
  checks: string[];
}

export const NO_MANIFEST = 'no manifest (checked content only)';

/** Pure: the file against its manifest. */
export function judgeManifest(
  actual: { kind: BackupKind; codec: string; size: number; sha256: string | null },
  manifest: Manifest,
): Finding {
  const problems: string[] = [];
  if (manifest.kind !== actual.kind) problems.push(`the manifest is for a ${manifest.kind} backup`);
  if (manifest.codec !== actual.codec) problems.push(`the manifest says ${manifest.codec}, the name says ${actual.codec}`);
  if (actual.size !== manifest.size) {
    // A different size already proves the file changed; no need to hash it.
    const hint = actual.size < manifest.size ? 'truncated?' : 'appended to?';
    problems.push(`sha256 mismatch: the file changed since it was written (${actual.size} bytes, the manifest says ${manifest.size}: ${hint})`);
  } else if (actual.sha256 !== manifest.sha256) {
    problems.push('sha256 mismatch: the file changed since it was written');
  }
  return { problems, checks: ['sha256'] };
}

/** Pure: `a 1 (manifest 2), b 0 (manifest 3) and 4 more`. */
export function describeDifferences(actual: Record<string, number>, expected: Record<string, number>, limit = 3): string | null {
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  const diffs = keys
    .filter((k) => actual[k] !== expected[k])
    .map((k) => `${k} ${actual[k] ?? 'missing'} (manifest ${expected[k] ?? 'none'})`);
  if (!diffs.length) return null;
  const shown = diffs.slice(0, limit).join(', ');
  return diffs.length > limit ? `${shown} and ${diffs.length - limit} more` : shown;
}

function tocEntries(toc: Record<string, number>): number {
  return Object.values(toc).reduce((a, b) => a + b, 0);
}

/** Pure: what a full pass over a decompressed dump says. */
export function judgeDump(info: DumpInfo, header: DumpHeader, manifest: Manifest | null): Finding {
  const problems: string[] = [];
  const checks: string[] = [];
  if (!header.isPlainDump) {
    problems.push('not a PostgreSQL plain-format dump');
    return { problems, checks: ['dump header'] };
  }
  checks.push('footer');
  if (!info.complete) problems.push('no completion footer (the dump was cut short)');
  const entries = tocEntries(info.toc);
  checks.push(`toc ${entries} entries`);
  const expected = manifest?.database;
  if (entries === 0 && !(expected && tocEntries(expected.toc) === 0)) {
    problems.push('empty table of contents (the dump holds no tables)');
  }
  const tables = Object.keys(info.rows).length;
  if (expected) {
    const toc = describeDifferences(info.toc, expected.toc);
    if (toc) problems.push(`table of contents differs from the manifest: ${toc}`);
    const rows = describeDifferences(info.rows, expected.rows);
    if (rows) problems.push(`row counts differ from the manifest: ${rows}`);
    checks.push(`${totalRows(info)} rows in ${tables} tables match the manifest`);
  } else {
    checks.push(`${tables} tables, ${totalRows(info)} rows`);
  }
  return { problems, checks };
}

export interface MediaCounts {
  files: number;
  directories: number;
  bytes: number;
}

export interface ArchiveListing {
  /** Readability and restore-media's safety rules. */
  check: ArchiveCheck;
  /** Counted the way the manifest counts when the archive is made (lib/media CreateLog). */
  counts: MediaCounts;
}

/** Pure: what a full listing of an archive says. */
export function judgeArchive(listing: ArchiveListing, codec: string, manifest: Manifest | null): Finding {
  const { check, counts } = listing;
  const problems: string[] = [];
  if (check.failure) {
    // The decompressor failing means the compressed stream is damaged; tar failing, the archive.
    const what = check.failure.startsWith(`${codec} `) ? 'decompression failed' : 'archive unreadable';
    problems.push(`${what}: ${check.failure}`);
    return { problems, checks: ['decompression', 'listing'] };
  }
  const checks = ['decompression', `listing ${check.entries} entries`, 'safety rules'];
  if (check.unsafe) problems.push(`unsafe to restore: ${check.unsafe}`);
  const expected = manifest?.media;
  if (expected) {
    const diff = describeDifferences(
      { files: counts.files, directories: counts.directories, bytes: counts.bytes },
      { files: expected.files, directories: expected.directories, bytes: expected.bytes },
    );
    if (diff) problems.push(`counts differ from the manifest: ${diff}`);
    checks.push(`${counts.files} files, ${counts.bytes} bytes match the manifest`);
  } else {
    checks.push(`${counts.files} files, ${counts.bytes} bytes`);
  }
  return { problems, checks };
}

/**
 * List a whole archive once: restore-media's safety rules (the scanner checkArchive uses) and
 * the counts as the manifest has them (CreateLog, which counted the same lines from tar -cvv).
 */
export async function listArchive(file: string, codec: BackupFile['codec'], progressLabel?: string): Promise<ArchiveListing> {
  const counts = new CreateLog();
  const check = await checkArchive(file, codec, { progressLabel, onLine: counts.line });
  return { check, counts: { files: counts.files, directories: counts.directories, bytes: counts.bytes } };
}

/** Pure: the one line per backup that verify prints. */
export function formatVerifyLine(r: Pick<VerifyResult, 'name' | 'ok' | 'problems' | 'checks'>): string {
  return r.ok ? `ok  ${r.name}  (${r.checks.join(', ')})` : `FAIL  ${r.name}: ${r.problems.join('; ')}`;
}

/**
 * Pure: which backups a verify run covers. Default: the newest regular backup of each kind made
 * by this environment; `all`: every backup in the tree, safety snapshots and downloaded copies too.
 */
export function selectForVerify(backups: BackupFile[], all: boolean): BackupFile[] {
  if (all) return backups;
  const own = backups.filter((b) => b.role === 'backup' && b.env === null);
  const newest = (kind: BackupKind) => own.filter((b) => b.kind === kind).sort((a, b) => b.time.getTime() - a.time.getTime() || b.seq - a.seq)[0];
  return [newest('database'), newest('media')].filter((b): b is BackupFile => b !== undefined);
}

/** The catalog entry of a file given by path (its name must be a backup name). */
export async function backupFileAt(file: string): Promise<BackupFile> {
  const name = path.basename(file);
  const parsed = parseBackupName(name);
  if (!parsed) throw new Error(`${name} is not a backup name`);
  const st = await fsp.stat(file);
  const manifestPath = file + MANIFEST_SUFFIX;
  return { ...parsed, path: file, size: st.size, mtime: st.mtime, manifestPath: fs.existsSync(manifestPath) ? manifestPath : null };
}

interface DumpPass {
  failure: string | null;
  info: DumpInfo;
  header: DumpHeader;
}

/** Decompress a whole dump through DumpScanner; only the first 16 KiB (the header) are kept. */
export async function scanDump(file: string, codec: BackupFile['codec'], progressLabel?: string, stageName: string = codec): Promise<DumpPass> {
  const scanner = new DumpScanner();
  let head = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (head.length < 16384) head += chunk.toString('utf8', 0, Math.min(chunk.length, 16384));
      scanner.push(chunk);
      done();
    },
  });
  const fd = fs.openSync(file, 'r');
  const progress = progressLabel ? startProgress(progressLabel, () => readPosition(fd)) : null;
  try {
    const res = await runPipeline({ stdin: fd, stages: [{ name: stageName, argv: decompressArgv(codec) }], stdout: sink });
    return { failure: res.failure, info: scanner.finish(), header: parseDumpHeader(head) };
  } finally {
    progress?.stop();
    fs.closeSync(fd);
  }
}

/** Check one backup as far as it can be checked; never throws for a bad file, it reports it. */
export async function verifyBackup(file: BackupFile | string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const b = typeof file === 'string' ? await backupFileAt(file) : file;
  const result: VerifyResult = { name: b.name, path: b.path, kind: b.kind, ok: false, problems: [], checks: [], manifest: false };
  const add = (f: Finding) => {
    result.problems.push(...f.problems);
    result.checks.push(...f.checks);
  };
  try {
    let manifest: Manifest | null = null;
    try {
      manifest = await readManifest(b.path);
    } catch {
      result.problems.push('manifest is damaged');
    }
    const size = (await fsp.stat(b.path)).size;
    if (manifest) {
      result.manifest = true;
      const sha256 = size === manifest.size ? await sha256File(b.path) : null;
      add(judgeManifest({ kind: b.kind, codec: b.codec, size, sha256 }, manifest));
    } else if (!result.problems.length) {
      if (opts.requireManifest) result.problems.push('no manifest');
      else result.checks.push(NO_MANIFEST);
    }
    if (b.kind === 'database') {
      const pass = await scanDump(b.path, b.codec, `verifying ${b.name}`);
      result.checks.push('decompression');
      if (pass.failure) result.problems.push(`decompression failed: ${pass.failure}`);
      else add(judgeDump(pass.info, pass.header, manifest));
    } else {
      add(judgeArchive(await listArchive(b.path, b.codec, `verifying ${b.name}`), b.codec, manifest));
    }
  } catch (err) {
    result.problems.push(`cannot read the file: ${errorMessage(err)}`);
  }
  result.ok = result.problems.length === 0;
  return result;
}

/**
 * requireManifestMatch started now, to be awaited later beside other checks: a mismatch stays
 * in the promise for that await instead of surfacing as an unhandled rejection meanwhile.
 */
export function startManifestCheck(file: BackupFile | string): Promise<Manifest | null> {
  const check = requireManifestMatch(file);
  check.catch(() => undefined);
  return check;
}

/**
 * Before a restore: the file against its manifest, if it has one (returned; null without). The
 * content itself is checked by the restore's own pass (the scratch load, the archive listing)
 * before anything live changes.
 */
export async function requireManifestMatch(file: BackupFile | string): Promise<Manifest | null> {
  const b = typeof file === 'string' ? await backupFileAt(file) : file;
  let manifest: Manifest | null;
  try {
    manifest = await readManifest(b.path);
  } catch {
    throw new FailedError(`refusing to restore ${b.name}, nothing was changed: its manifest is damaged`);
  }
  if (!manifest) return null;
  const size = (await fsp.stat(b.path)).size;
  const sha256 = size === manifest.size ? await sha256File(b.path) : null;
  const { problems } = judgeManifest({ kind: b.kind, codec: b.codec, size, sha256 }, manifest);
  if (problems.length) throw new FailedError(`refusing to restore ${b.name}, nothing was changed: ${problems.join('; ')}`);
  return manifest;
}
