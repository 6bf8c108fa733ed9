// Is a backup still what was written, and could it be restored? Checks a file against its
// manifest (size, sha256), decompresses all of it, and reads what it holds: a dump to its
// completion footer (table of contents, rows per table), an archive through a full listing
// with restore-media's safety rules. The facts are gathered here, streaming the file once per
// pass in constant memory; lib/core/verdicts judges them.
import fsp from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage, FailedError } from '../cli/errors.ts';
import { startProgress } from '../cli/progress.ts';
import { parseBackupName } from '../core/naming.ts';
import { linkProblem, type ChainItem } from '../core/chains.ts';
import {
  chainCheck,
  judgeArchive,
  judgeChains,
  judgeDump,
  judgeManifest,
  NO_MANIFEST,
  type ArchiveListing,
  type Finding,
  type VerifyOptions,
  type VerifyResult,
} from '../core/verdicts.ts';
import { readDump, type DumpPass } from '../db/load.ts';
import { checkArchive } from '../media/check.ts';
import { CreateLog } from '../media/listing.ts';
import { MANIFEST_SUFFIX, type BackupFile } from '../store/catalog.ts';
import { readManifest, sha256File, type Manifest } from '../store/manifest.ts';
import { openSource, type SourceRead } from '../store/source.ts';

/**
 * List a whole archive once: restore-media's safety rules (the scanner checkArchive uses) and
 * the counts as the manifest has them (CreateLog, which counted the same lines from tar -cvv).
 */
export async function listArchive(read: SourceRead, codec: BackupFile['codec'], progressLabel?: string): Promise<ArchiveListing> {
  const counts = new CreateLog();
  const check = await checkArchive(read, codec, { progressLabel, onLine: counts.line });
  return { check, counts: { files: counts.files, directories: counts.directories, bytes: counts.bytes } };
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

/**
 * The media backups beside a file (its folder), for a chain to be found among: the archives an
 * incremental named by path builds on are the ones next to it.
 */
export async function mediaBeside(file: BackupFile): Promise<BackupFile[]> {
  if (file.kind !== 'media' || file.level === 0) return [file];
  const dir = path.dirname(file.path);
  const names = (await fsp.readdir(dir)).filter((n) => parseBackupName(n)?.kind === 'media');
  const files = await Promise.all(names.map((n) => (n === file.name ? file : backupFileAt(path.join(dir, n)).catch(() => null))));
  return files.filter((f): f is BackupFile => f !== null);
}

/** Decompress a whole dump and read it as it goes by (header, contents, what pg_dump writes only). */
export async function scanDump(file: string, codec: BackupFile['codec'], progressLabel?: string, stageName: string = codec): Promise<DumpPass> {
  const src = openSource(file);
  const r = src.read();
  const progress = progressLabel ? startProgress(progressLabel, r.position) : null;
  try {
    return await readDump(r.stream, codec, stageName);
  } finally {
    progress?.stop();
    src.close();
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
      result.sha256 = sha256;
      add(judgeManifest({ kind: b.kind, codec: b.codec, size, sha256 }, manifest));
      if (manifest.media?.level !== undefined) {
        result.level = manifest.media.level;
        result.parent = manifest.media.parent ?? null;
      }
    } else if (!result.problems.length) {
      if (opts.requireManifest) result.problems.push('no manifest');
      else result.checks.push(NO_MANIFEST);
    }
    if (b.kind === 'database') {
      const pass = await scanDump(b.path, b.codec, `verifying ${b.name}`);
      result.checks.push('decompression');
      if (pass.failure) result.problems.push(`decompression failed: ${pass.failure}`);
      else add(judgeDump(pass.info, pass.header, manifest));
      // Restores refuse it the same way: verify says so first.
      result.checks.push('only what pg_dump writes');
      if (pass.guard.refused) result.problems.push(`unsafe to restore: ${pass.guard.refused}`);
    } else {
      const src = openSource(b.path);
      try {
        const listing = await listArchive(src.read(), b.codec, `verifying ${b.name}`);
        result.sha256 ??= listing.check.read?.sha256 ?? null;
        add(judgeArchive(listing, b.codec, manifest));
      } finally {
        src.close();
      }
    }
  } catch (err) {
    result.problems.push(`cannot read the file: ${errorMessage(err)}`);
  }
  result.ok = result.problems.length === 0;
  return result;
}

/**
 * After each archive was verified on its own: every incremental checked also holds to its chain
 * (lib/core/verdicts judgeChains), its problems added to its result. `all`: every backup there
 * (where parents and gaps are looked for); `checked`: the results, with the backups they are of.
 */
export function verifyChains(checked: readonly { item: ChainItem; result: VerifyResult }[], all: readonly ChainItem[]): void {
  const problems = judgeChains(
    checked.map(({ item, result: r }) => ({
      item,
      ok: r.ok,
      sha256: r.sha256 ?? null,
      link: r.level === undefined ? null : { level: r.level, parent: r.parent ?? null },
    })),
    all,
  );
  for (const { item, result: r } of checked) {
    const found = problems.get(item.name);
    if (found) {
      r.problems.push(...found);
      r.ok = false;
    } else if (r.ok) {
      const check = chainCheck(item, all);
      if (check) r.checks.push(check);
    }
  }
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

/**
 * Cheap check of a new incremental's place in its chain: its parent (by name) is there, and is
 * the archive its manifest names (the parent's own manifest sha256, and its size on disk).
 */
export async function parentLinkProblem(file: string, manifest: Manifest): Promise<string | null> {
  const parentName = manifest.media?.parent?.name;
  if (!parentName) return `${manifest.name}'s manifest names no archive it builds on`;
  const parentPath = path.join(path.dirname(file), parentName);
  const parentManifest = await readManifest(parentPath).catch(() => null);
  const st = await fsp.stat(parentPath).catch(() => null);
  if (!st || !parentManifest) return `the archive it builds on, ${parentName}, is not there (or has no readable manifest)`;
  if (st.size !== parentManifest.size) return `the archive it builds on, ${parentName}, is not the size its manifest says`;
  return linkProblem({ name: manifest.name, manifest }, { name: parentName, sha256: parentManifest.sha256 });
}
