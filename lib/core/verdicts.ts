// The verdicts of the checks: is a backup what its manifest says, does a dump or an archive hold
// what it should, did a drill restore what was backed up, does a new backup look like the
// previous one. Pure: the facts come in (gathered by lib/ops/verify, drill and sanity), the
// findings go out as short phrases, one per problem, and every check that was made.
import type { DumpHeader, DumpInfo } from '../db/dump-scanner.ts';
import { totalRows } from '../db/dump-scanner.ts';
import type { ArchiveCheck } from '../media/listing.ts';
import type { BackupFile } from '../store/catalog.ts';
import type { Manifest } from '../store/manifest.ts';
import { chainOf, linkProblem, type ChainItem } from './chains.ts';
import { humanBytes, plural } from './format.ts';
import { newestFirst, type BackupKind } from './naming.ts';

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
  /** The sha256 of the bytes read, when the file was read to its end (what the next link of a chain must name). */
  sha256?: string | null;
  /** Incremental-mode media archives: the level and the parent the manifest names. */
  level?: number;
  parent?: { name: string; sha256: string } | null;
}

export interface VerifyOptions {
  /** A missing manifest is a problem (for a backup this tool has just written), not a note. */
  requireManifest?: boolean;
}

/** A finding: problems found and what was checked. */
export interface Finding {
  problems: string[];
  checks: string[];
}

export const NO_MANIFEST = 'no manifest (checked content only)';

/** How far ahead of the clock a backup's name may be and still count (clocks of hosts differ a little). */
const FUTURE_SLACK_MS = 5 * 60_000;

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

/**
 * Pure: the counts of an archive's content and of its manifest that can be compared. An archive
 * made in incremental mode names no folder while tar makes it (tar -cvv), while its listing (-G)
 * and its unpacked tree have every one, so only files and bytes are compared for it.
 */
export function comparableCounts(got: MediaCounts, expected: MediaCounts & { level?: number }): [Record<string, number>, Record<string, number>] {
  const folders = expected.level === undefined;
  return [
    { files: got.files, bytes: got.bytes, ...(folders ? { directories: got.directories } : {}) },
    { files: expected.files, bytes: expected.bytes, ...(folders ? { directories: expected.directories } : {}) },
  ];
}

/** Pure: what a full listing of an archive says. */
export function judgeArchive(listing: ArchiveListing, codec: string, manifest: Manifest | null): Finding {
  const { check, counts } = listing;
  const problems: string[] = [];
  if (check.failure) {
    // The decompressor failing means the compressed stream is damaged; tar failing, the archive.
    const what = check.failedStage === 'decompress' ? 'decompression failed' : 'archive unreadable';
    problems.push(`${what}: ${check.failure}`);
    return { problems, checks: ['decompression', 'listing'] };
  }
  const checks = ['decompression', `listing ${check.entries} entries`, 'safety rules'];
  if (check.unsafe) problems.push(`unsafe to restore: ${check.unsafe}`);
  const expected = manifest?.media;
  if (expected) {
    const diff = describeDifferences(...comparableCounts(counts, expected));
    if (diff) problems.push(`counts differ from the manifest: ${diff}`);
    checks.push(`${counts.files} files, ${counts.bytes} bytes match the manifest`);
  } else {
    checks.push(`${counts.files} files, ${counts.bytes} bytes`);
  }
  return { problems, checks };
}


/** Pure: the one line per backup that verify prints. */
export function formatVerifyLine(r: Pick<VerifyResult, 'name' | 'ok' | 'problems' | 'checks'>): string {
  return r.ok ? `ok  ${r.name}  (${r.checks.join(', ')})` : `FAIL  ${r.name}: ${r.problems.join('; ')}`;
}

/**
 * Pure: the restore points verify and the drill start from by default: the newest regular
 * backup of each kind made by this environment.
 */
export function newestPoints(backups: BackupFile[], now: Date): BackupFile[] {
  // A file named as if it were made in the future (planted, or a clock gone wrong) is not "the newest".
  const own = backups.filter((b) => b.role === 'backup' && b.env === null && b.time.getTime() <= now.getTime() + FUTURE_SLACK_MS);
  const newest = (kind: BackupKind) => own.filter((b) => b.kind === kind).sort((a, b) => b.time.getTime() - a.time.getTime() || b.seq - a.seq)[0];
  return [newest('database'), newest('media')].filter((b): b is BackupFile => b !== undefined);
}

/**
 * Pure: which backups a verify run covers. Default: the newest regular backup of each kind made
 * by this environment, and when the newest media backup is an incremental, every archive of its
 * chain (full first) found in `backups`; `all`: every backup in the tree, safety snapshots and
 * downloaded copies too.
 */
export function selectForVerify(backups: BackupFile[], all: boolean, now: Date): BackupFile[] {
  if (all) return backups;
  return newestPoints(backups, now).flatMap((b) => withChain(b, backups));
}

/** Pure: a backup and the archives its restore needs, oldest first (what is there of them). */
export function withChain<T extends ChainItem>(point: T, all: readonly T[]): T[] {
  return point.level > 0 ? chainOf(point, all).links : [point];
}

/** What verify learnt of one archive, as judgeChains needs it. */
export interface CheckedLink {
  item: ChainItem;
  ok: boolean;
  /** The sha256 verify read (null: not read to its end). */
  sha256: string | null;
  /** What its manifest says of its place in a chain (null: no manifest). */
  link: { level?: number; parent?: { name: string; sha256: string } | null } | null;
}

/**
 * Pure: the chain problems of each checked incremental, by name. A link fails when the archive
 * it builds on is not there, is not the one its manifest names (name and sha256 as verify read
 * it), or cannot be restored itself: a point is only as good as every link below it, so a
 * damaged or missing middle incremental fails every later point of its chain, each named, and
 * the points before it are untouched. `all`: every backup there, to find parents and gaps.
 */
export function judgeChains(checked: readonly CheckedLink[], all: readonly ChainItem[]): Map<string, string[]> {
  const byName = new Map(checked.map((c) => [c.item.name, c]));
  const out = new Map<string, string[]>();
  for (const c of checked) {
    if (c.item.kind !== 'media' || c.item.role !== 'backup' || c.item.level === 0) continue;
    const { links, broken } = chainOf(c.item, all);
    const problems: string[] = [];
    if (broken) problems.push(`its chain is broken: ${broken}`);
    // From the full (or the first link there) up to this one: the first bad link decides.
    for (const [i, l] of links.entries()) {
      const own = byName.get(l.name);
      const parent = i === 0 ? null : byName.get(links[i - 1]!.name);
      if (l !== c.item && own && !own.ok) {
        problems.push(`it builds on ${l.name}, which failed verification`);
        break;
      }
      if (i === 0 || !own) continue;
      if (!parent) {
        problems.push(`it builds on ${links[i - 1]!.name}, which was not checked`);
        break;
      }
      const problem = linkProblem({ name: l.name, manifest: own.link ? { media: own.link } : null }, parent.sha256 ? { name: parent.item.name, sha256: parent.sha256 } : null);
      if (problem) {
        problems.push(l === c.item ? `link to its parent: ${problem}` : `its chain is broken at ${l.name}: ${problem}`);
        break;
      }
    }
    if (problems.length) out.set(c.item.name, problems);
  }
  return out;
}

/** Pure: the check a sound incremental adds to its verify line. */
export function chainCheck(item: ChainItem, all: readonly ChainItem[]): string | null {
  if (item.level === 0) return null;
  const n = chainOf(item, all).links.length;
  return `chain of ${plural(n, 'archive')}, each link matches its parent's sha256`;
}

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

/** Pure: the line a drill part prints. */
export function formatDrillLine(p: DrillPart): string {
  return p.ok ? `ok  drill ${p.name}  (${p.checks.join(', ')})` : `FAIL  drill ${p.name}: ${p.problems.join('; ')}`;
}


/** Pure: a restored database's counts against what the dump (or its manifest) says it held. */
export function judgeCounts(actual: Record<string, number>, expected: Record<string, number>, source: 'manifest' | 'dump'): string[] {
  const diff = describeDifferences(actual, expected);
  if (!diff) return [];
  return [`row counts after restore differ from the ${source}: ${diff.replaceAll('(manifest ', `(${source} `)}`];
}

/** The part of the config the sanity gate reads (verify.minSizeRatio, verify.onShrink). */
export interface VerifyPolicy {
  minSizeRatio: number;
  onShrink: 'fail' | 'warn';
}

export interface SanityInput {
  size: number;
  manifest: Manifest | null;
}

export interface SanityVerdict {
  level: 'ok' | 'warn' | 'fail';
  message: string;
}

function tables(m: Manifest | null): number | null {
  return m?.database ? (m.database.toc.TABLE ?? 0) : null;
}

/** Rounded down, so a backup just under the threshold never reads as being at it. */
function pct(ratio: number): string {
  return `${Math.floor(ratio * 100)}%`;
}

/**
 * Pure: the backup a new one is compared with: the newest regular backup of its kind and
 * environment made before it; for a media full, the newest full (an incremental holds only what
 * changed, so it says nothing of the size the next full should have). An incremental is compared
 * with nothing (null).
 */
export function previousToCompare<T extends ChainItem>(me: ChainItem, all: readonly T[]): T | null {
  if (me.kind === 'media' && me.level > 0) return null;
  const before = all.filter(
    (o) => o.role === 'backup' && o.kind === me.kind && o.env === me.env && o.name !== me.name && o.level === 0 && newestFirst(o, me) > 0,
  );
  return [...before].sort(newestFirst)[0] ?? null;
}

/** Pure: is the new backup plausible next to the previous one of the same kind? */
export function sanityCheck(next: SanityInput, previous: SanityInput | null, cfg: VerifyPolicy): SanityVerdict {
  const chainLevel = next.manifest?.media?.level ?? 0;
  if (chainLevel > 0) {
    const m = next.manifest!.media!;
    // It holds what changed since its parent: small, even empty, is what a quiet day looks like.
    return {
      level: 'ok',
      message: `an incremental: level ${chainLevel} on ${m.parent?.name ?? 'its parent'}, ${plural(m.files, 'new or changed file')} (${humanBytes(m.bytes)}); not compared by size`,
    };
  }
  const problems: string[] = [];
  if (previous && previous.size > 0 && next.size < cfg.minSizeRatio * previous.size) {
    problems.push(
      `it is ${pct(next.size / previous.size)} of the previous backup's size (${humanBytes(next.size)} vs ${humanBytes(previous.size)}; ` +
        `the threshold is ${pct(cfg.minSizeRatio)}, verify.minSizeRatio)`,
    );
  }
  const db = next.manifest?.database;
  if (db) {
    const prevTables = previous ? tables(previous.manifest) : null;
    // A database known to be empty before may be empty still; anything else with no tables is suspect.
    if ((db.toc.TABLE ?? 0) === 0 && prevTables !== 0) {
      problems.push('the dump has an empty table of contents (no tables): is the right database configured?');
    }
    const prevRows = previous?.manifest?.database ? totalRows(previous.manifest.database) : 0;
    if ((db.toc.TABLE ?? 0) > 0 && totalRows(db) === 0 && prevRows > 0) {
      problems.push(`the dump holds no rows, the previous one held ${prevRows}`);
    }
  }
  const media = next.manifest?.media;
  const prevFiles = previous?.manifest?.media?.files ?? 0;
  if (media && media.files === 0 && prevFiles > 0) {
    problems.push(`the archive holds no files, the previous one held ${prevFiles}`);
  }
  if (!problems.length) return { level: 'ok', message: 'looks like the previous backup' };
  // With nothing to compare against (a new project's empty database) it can only be a warning.
  const level = cfg.onShrink === 'fail' && previous !== null ? 'fail' : 'warn';
  return { level, message: problems.join('; ') };
}
