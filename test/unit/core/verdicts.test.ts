// The pure judgements of verify, the drill and the sanity gate, as tables: a backup against its
// manifest, a dump's scan, an archive's listing, restored counts, which backups are verified, and
// whether a new backup is plausible next to the previous one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBackupName } from '../../../lib/core/naming.ts';
import {
  describeDifferences, formatDrillLine, formatVerifyLine, judgeArchive, judgeChains, judgeCounts, judgeDump, judgeManifest, newestPoints,
  previousToCompare, sanityCheck, selectForVerify, withChain, NO_MANIFEST,
  type ArchiveListing, type CheckedLink, type SanityInput, type VerifyPolicy,
} from '../../../lib/core/verdicts.ts';
import type { DumpInfo } from '../../../lib/db/dump-scanner.ts';
import type { BackupFile } from '../../../lib/store/catalog.ts';
import type { Manifest } from '../../../lib/store/manifest.ts';

function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    version: 1,
    name: 'backup_2026_01_01T00_00_00.sql.zst',
    kind: 'database',
    role: 'backup',
    set: '2026_01_01T00_00_00',
    environment: 'local',
    codec: 'zstd',
    size: 1000,
    sha256: 'a'.repeat(64),
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:05.000Z',
    durationMs: 5000,
    ...over,
  };
}

function dbManifest(rows: Record<string, number>, toc: Record<string, number>, over: Partial<Manifest> = {}): Manifest {
  return manifest({ database: { name: 'app', serverVersion: '15.2', pgDumpVersion: '15.2', dumpBytes: 5000, rows, toc }, ...over });
}

const header = { isPlainDump: true, pgDumpVersion: '15.2', serverVersion: '15.2' };

function info(over: Partial<DumpInfo> = {}): DumpInfo {
  return { bytes: 5000, complete: true, serverVersion: '15.2', pgDumpVersion: '15.2', rows: { 'public.a': 3, 'shop.b': 0 }, toc: { TABLE: 2, SEQUENCE: 1 }, ...over };
}

test('judgeManifest: size and sha256 against the manifest', () => {
  const m = manifest();
  const cases: [string, Parameters<typeof judgeManifest>[0], string[]][] = [
    ['identical', { kind: 'database', codec: 'zstd', size: 1000, sha256: 'a'.repeat(64) }, []],
    ['one byte flipped', { kind: 'database', codec: 'zstd', size: 1000, sha256: 'b'.repeat(64) }, ['sha256 mismatch: the file changed since it was written']],
    ['truncated', { kind: 'database', codec: 'zstd', size: 24, sha256: null }, ['sha256 mismatch: the file changed since it was written (24 bytes, the manifest says 1000: truncated?)']],
    ['grown', { kind: 'database', codec: 'zstd', size: 1001, sha256: null }, ['sha256 mismatch: the file changed since it was written (1001 bytes, the manifest says 1000: appended to?)']],
    ['manifest of the other kind', { kind: 'media', codec: 'zstd', size: 1000, sha256: 'a'.repeat(64) }, ['the manifest is for a database backup']],
    ['codec differs from the name', { kind: 'database', codec: 'gzip', size: 1000, sha256: 'a'.repeat(64) }, ['the manifest says zstd, the name says gzip']],
  ];
  for (const [name, actual, problems] of cases) {
    assert.deepEqual(judgeManifest(actual, m).problems, problems, name);
    assert.deepEqual(judgeManifest(actual, m).checks, ['sha256'], name);
  }
});

test('describeDifferences: names each difference, missing and extra keys, and cuts long lists', () => {
  assert.equal(describeDifferences({ a: 1 }, { a: 1 }), null);
  assert.equal(describeDifferences({ a: 1, b: 2 }, { a: 1, b: 3 }), 'b 2 (manifest 3)');
  assert.equal(describeDifferences({ a: 1 }, { a: 1, b: 3 }), 'b missing (manifest 3)');
  assert.equal(describeDifferences({ a: 1, c: 4 }, { a: 1 }), 'c 4 (manifest none)');
  assert.equal(describeDifferences({ a: 0, b: 0, c: 0, d: 0, e: 0 }, { a: 1, b: 1, c: 1, d: 1, e: 1 }), 'a 0 (manifest 1), b 0 (manifest 1), c 0 (manifest 1) and 2 more');
});

test('judgeDump: footer, table of contents, rows against the manifest', () => {
  const m = dbManifest({ 'public.a': 3, 'shop.b': 0 }, { TABLE: 2, SEQUENCE: 1 });
  const cases: [string, DumpInfo, Parameters<typeof judgeDump>[1], Manifest | null, string[]][] = [
    ['good, with manifest', info(), header, m, []],
    ['good, no manifest', info(), header, null, []],
    ['footer missing', info({ complete: false }), header, m, ['no completion footer (the dump was cut short)']],
    ['not a dump at all', info(), { isPlainDump: false, pgDumpVersion: null, serverVersion: null }, null, ['not a PostgreSQL plain-format dump']],
    ['a row deleted', info({ rows: { 'public.a': 2, 'shop.b': 0 } }), header, m, ['row counts differ from the manifest: public.a 2 (manifest 3)']],
    ['a table gone', info({ rows: { 'public.a': 3 }, toc: { TABLE: 1, SEQUENCE: 1 } }), header, m, [
      'table of contents differs from the manifest: TABLE 1 (manifest 2)',
      'row counts differ from the manifest: shop.b missing (manifest 0)',
    ]],
    ['empty toc, no manifest', info({ rows: {}, toc: {} }), header, null, ['empty table of contents (the dump holds no tables)']],
    ['empty toc, manifest says the database was empty', info({ rows: {}, toc: {} }), header, dbManifest({}, {}), []],
    ['empty toc, manifest says it was not', info({ rows: {}, toc: {} }), header, m, [
      'empty table of contents (the dump holds no tables)',
      'table of contents differs from the manifest: SEQUENCE missing (manifest 1), TABLE missing (manifest 2)',
      'row counts differ from the manifest: public.a missing (manifest 3), shop.b missing (manifest 0)',
    ]],
  ];
  for (const [name, i, h, man, problems] of cases) assert.deepEqual(judgeDump(i, h, man).problems, problems, name);
  assert.deepEqual(judgeDump(info(), header, m).checks, ['footer', 'toc 3 entries', '3 rows in 2 tables match the manifest']);
  assert.deepEqual(judgeDump(info(), header, null).checks, ['footer', 'toc 3 entries', '2 tables, 3 rows']);
});

function listing(over: Partial<ArchiveListing['check']> = {}, counts = { files: 3, directories: 2, bytes: 100 }): ArchiveListing {
  return { check: { ok: true, failure: null, failedStage: null, unsafe: null, entries: 6, files: 2, directories: 3, bytes: 100, setIds: 0, read: null, ...over }, counts };
}

test('judgeArchive: decompression, listing, safety rules, counts against the manifest', () => {
  const m = manifest({ kind: 'media', media: { files: 3, directories: 2, bytes: 100, warnings: [] } });
  const cases: [string, ArchiveListing, Manifest | null, string[]][] = [
    ['good', listing(), m, []],
    ['good, no manifest', listing(), null, []],
    ['compressed stream damaged', listing({ ok: false, failure: 'zstd failed (exit 1): Data corruption detected', failedStage: 'decompress' }), m, ['decompression failed: zstd failed (exit 1): Data corruption detected']],
    ['tar member damaged', listing({ ok: false, failure: 'tar failed (exit 2): tar: Skipping to next header', failedStage: 'tar' }), m, ['archive unreadable: tar failed (exit 2): tar: Skipping to next header']],
    ['unsafe member', listing({ ok: false, unsafe: 'entry "../x": path contains ".." ("../x")' }), null, ['unsafe to restore: entry "../x": path contains ".." ("../x")']],
    ['a file fewer', listing({}, { files: 2, directories: 2, bytes: 90 }), m, ['counts differ from the manifest: bytes 90 (manifest 100), files 2 (manifest 3)']],
  ];
  for (const [name, l, man, problems] of cases) assert.deepEqual(judgeArchive(l, 'zstd', man).problems, problems, name);
});

test('formatVerifyLine and formatDrillLine: "ok  name  (checks)" or "FAIL  name: problems"', () => {
  assert.equal(formatVerifyLine({ name: 'b.sql.zst', ok: true, problems: [], checks: [NO_MANIFEST, 'decompression'] }), 'ok  b.sql.zst  (no manifest (checked content only), decompression)');
  assert.equal(formatVerifyLine({ name: 'b.sql.zst', ok: false, problems: ['x', 'y'], checks: ['z'] }), 'FAIL  b.sql.zst: x; y');
  const part = { kind: 'database' as const, name: 'b.sql.zst', path: '/b', ok: false, problems: ['p'], checks: ['c'] };
  assert.equal(formatDrillLine(part), 'FAIL  drill b.sql.zst: p');
  assert.equal(formatDrillLine({ ...part, ok: true, problems: [] }), 'ok  drill b.sql.zst  (c)');
});

test('judgeCounts: restored row counts against the manifest or the dump', () => {
  assert.deepEqual(judgeCounts({ 'public.a': 3 }, { 'public.a': 3 }, 'manifest'), []);
  assert.deepEqual(judgeCounts({ 'public.a': 2 }, { 'public.a': 3 }, 'manifest'), ['row counts after restore differ from the manifest: public.a 2 (manifest 3)']);
  assert.deepEqual(judgeCounts({}, { 'public.a': 3 }, 'dump'), ['row counts after restore differ from the dump: public.a missing (dump 3)']);
});

function file(name: string, size = 100): BackupFile {
  const parsed = parseBackupName(name);
  assert.ok(parsed, name);
  return { ...parsed, path: `/x/${name}`, size, mtime: parsed.time, manifestPath: null };
}

test('selectForVerify: default is the newest own backup of each kind; --all is everything; never one named in the future', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const all = [
    file('production_backup_2026_03_01T00_00_00.sql.zst'),
    file('temp_before_restore_2026_02_01T00_00_00.sql.zst'),
    file('backup_2026_01_02T00_00_00.sql.zst'),
    file('backup_2026_01_02T00_00_00-2.sql.zst'),
    file('backup_2026_01_01T00_00_00.sql.gz'),
    file('media_backup_2025_12_01T00_00_00.tar.zst'),
    file('media_backup_2025_11_01T00_00_00.tar.gz'),
  ];
  assert.deepEqual(selectForVerify(all, false, now).map((b) => b.name), ['backup_2026_01_02T00_00_00-2.sql.zst', 'media_backup_2025_12_01T00_00_00.tar.zst']);
  assert.equal(selectForVerify(all, true, now).length, all.length);
  assert.deepEqual(selectForVerify([file('production_backup_2026_03_01T00_00_00.sql.zst')], false, now), []);
  assert.deepEqual(selectForVerify([], false, now), []);
  // A planted name from the future is not "the newest": the drill would test it instead of the real one.
  const planted = [...all, file('backup_2099_01_01T00_00_00.sql.zst'), file('media_backup_2026_06_01T00_04_00.tar.zst'), file('media_backup_2026_06_01T00_06_00.tar.zst')];
  assert.deepEqual(selectForVerify(planted, false, now).map((b) => b.name), ['backup_2026_01_02T00_00_00-2.sql.zst', 'media_backup_2026_06_01T00_04_00.tar.zst']);
});

test('sanityCheck: shrinking, empty table of contents, rows or files gone; fail or warn per config', () => {
  const fail: VerifyPolicy = { minSizeRatio: 0.5, onShrink: 'fail' };
  const warn: VerifyPolicy = { ...fail, onShrink: 'warn' };
  const db = (size: number, rows: Record<string, number>, tables: number): SanityInput => ({ size, manifest: dbManifest(rows, tables ? { TABLE: tables } : {}) });
  const media = (size: number, files: number): SanityInput => ({ size, manifest: manifest({ kind: 'media', media: { files, directories: 0, bytes: files * 10, warnings: [] } }) });
  const cases: [string, SanityInput, SanityInput | null, typeof fail, 'ok' | 'warn' | 'fail', RegExp | null][] = [
    ['first backup', db(1000, { 'public.a': 5 }, 1), null, fail, 'ok', null],
    ['same size', db(1000, { 'public.a': 5 }, 1), db(1000, { 'public.a': 5 }, 1), fail, 'ok', null],
    ['grew', db(5000, { 'public.a': 50 }, 1), db(1000, { 'public.a': 5 }, 1), fail, 'ok', null],
    ['at the threshold', db(500, { 'public.a': 5 }, 1), db(1000, { 'public.a': 5 }, 1), fail, 'ok', null],
    ['under the threshold', db(499, { 'public.a': 5 }, 1), db(1000, { 'public.a': 5 }, 1), fail, 'fail', /it is 49% of the previous backup's size \(499 B vs 1000 B; the threshold is 50%, verify\.minSizeRatio\)/],
    ['under the threshold, warn', db(100, { 'public.a': 5 }, 1), db(1000, { 'public.a': 5 }, 1), warn, 'warn', /10% of the previous/],
    ['emptied tables', db(900, { 'public.a': 0 }, 1), db(1000, { 'public.a': 5 }, 1), fail, 'fail', /^the dump holds no rows, the previous one held 5$/],
    ['no tables any more', db(900, {}, 0), db(1000, { 'public.a': 5 }, 1), fail, 'fail', /empty table of contents \(no tables\)/],
    ['no tables, previous without manifest', db(900, {}, 0), { size: 1000, manifest: null }, fail, 'fail', /empty table of contents/],
    ['no tables, first backup: only a warning', db(900, {}, 0), null, fail, 'warn', /empty table of contents/],
    ['no tables before either', db(900, {}, 0), db(900, {}, 0), fail, 'ok', null],
    ['no rows before either', db(900, { 'public.a': 0 }, 1), db(900, { 'public.a': 0 }, 1), fail, 'ok', null],
    ['previous old-style (size only), shrunk', db(100, { 'public.a': 1 }, 1), { size: 1000, manifest: null }, fail, 'fail', /10% of the previous/],
    ['media emptied', media(900, 0), media(1000, 7), fail, 'fail', /the archive holds no files, the previous one held 7/],
    ['media shrunk and emptied', media(10, 0), media(1000, 7), warn, 'warn', /1% of the previous.*; the archive holds no files/],
    ['ratio 0 disables the size rule', db(1, { 'public.a': 5 }, 1), db(1000, { 'public.a': 5 }, 1), { ...fail, minSizeRatio: 0 }, 'ok', null],
  ];
  for (const [name, next, prev, cfg, level, message] of cases) {
    const v = sanityCheck(next, prev, cfg);
    assert.equal(v.level, level, `${name}: ${v.message}`);
    if (message) assert.match(v.message, message, name);
  }
});

test('judgeArchive: an archive made in incremental mode is compared by files and bytes only (tar names no folder while making it)', () => {
  const media = (level?: number) => manifest({ kind: 'media', media: { files: 3, directories: 0, bytes: 100, warnings: [], ...(level === undefined ? {} : { level, parent: null }) } });
  assert.deepEqual(judgeArchive(listing(), 'zstd', media(0)).problems, []);
  assert.deepEqual(judgeArchive(listing(), 'zstd', media(2)).problems, []);
  assert.deepEqual(judgeArchive(listing({}, { files: 2, directories: 7, bytes: 100 }), 'zstd', media(1)).problems, ['counts differ from the manifest: files 2 (manifest 3)']);
  assert.deepEqual(judgeArchive(listing(), 'zstd', media()).problems, ['counts differ from the manifest: directories 2 (manifest 0)'], 'an archive made without incrementals still counts its folders');
});

// A chain: full, three incrementals; a new chain after it; a downloaded copy's chain.
const F0 = file('media_backup_2026_12_01T02_00_00.tar.zst');
const F1 = file('media_backup_2026_12_02T02_00_00.inc1.tar.zst');
const F2 = file('media_backup_2026_12_03T02_00_00.inc2.tar.zst');
const F3 = file('media_backup_2026_12_04T02_00_00.inc3.tar.zst');
const G0 = file('media_backup_2026_12_05T02_00_00.tar.zst');
const G1 = file('media_backup_2026_12_06T02_00_00.inc1.tar.zst');
const D0 = file('backup_2026_12_06T02_00_00.sql.zst');
const chainTree = [G1, D0, G0, F3, F2, F1, F0];

test('selectForVerify and newestPoints: an incremental comes with its chain, full first; the drill restores the points only', () => {
  const now = new Date('2026-12-10T00:00:00Z');
  assert.deepEqual(selectForVerify(chainTree, false, now).map((b) => b.name), [D0, G0, G1].map((b) => b.name));
  assert.deepEqual(newestPoints(chainTree, now).map((b) => b.name), [D0, G1].map((b) => b.name));
  const older = [F3, F2, F1, F0];
  assert.deepEqual(selectForVerify(older, false, now).map((b) => b.name), [F0, F1, F2, F3].map((b) => b.name));
  // A gap: what is there of the chain is checked (and judgeChains fails it).
  assert.deepEqual(selectForVerify([F3, F1, F0], false, now).map((b) => b.name), [F3.name]);
  assert.deepEqual(withChain(F2, chainTree).map((b) => b.name), [F0, F1, F2].map((b) => b.name));
  assert.deepEqual(withChain(D0, chainTree), [D0]);
});

const sha = (c: string) => c.repeat(64);
/** Each archive's sha256 as read (one letter each), its manifest naming its parent's. */
const SHA: Record<string, string> = { [F0.name]: sha('0'), [F1.name]: sha('1'), [F2.name]: sha('2'), [F3.name]: sha('3'), [G0.name]: sha('4'), [G1.name]: sha('5') };
function checkedLink(b: BackupFile, over: Partial<CheckedLink> = {}): CheckedLink {
  const parent = parentOfName[b.name];
  return { item: b, ok: true, sha256: SHA[b.name] ?? null, link: { level: b.level, parent: parent ? { name: parent, sha256: SHA[parent]! } : null }, ...over };
}
const parentOfName: Record<string, string> = { [F1.name]: F0.name, [F2.name]: F1.name, [F3.name]: F2.name, [G1.name]: G0.name };

test('judgeChains: a damaged, missing or replaced link fails its own point and every later one, each named; earlier points pass', () => {
  const media = chainTree.filter((b) => b.kind === 'media');
  const whole = media.map((b) => checkedLink(b));
  assert.deepEqual([...judgeChains(whole, chainTree)], [], 'a sound tree');

  const damaged = media.map((b) => checkedLink(b, b === F2 ? { ok: false, sha256: sha('x') } : {}));
  assert.deepEqual(Object.fromEntries(judgeChains(damaged, chainTree)), {
    [F3.name]: [`it builds on ${F2.name}, which failed verification`],
  }, 'F2 fails by its own check already; F3 with it; F1 and the other chain pass');

  const gone = chainTree.filter((b) => b !== F2);
  assert.deepEqual(Object.fromEntries(judgeChains(media.filter((b) => b !== F2).map((b) => checkedLink(b)), gone)), {
    [F3.name]: [`its chain is broken: ${F3.name} builds on a level-2 archive that is not there`],
  });

  // F1 replaced by another archive of the same name: F2's manifest names the old one's sha256.
  const replaced = media.map((b) => checkedLink(b, b === F1 ? { sha256: sha('9') } : {}));
  assert.deepEqual(Object.fromEntries(judgeChains(replaced, chainTree)), {
    [F2.name]: [`link to its parent: ${F2.name} builds on a different ${F1.name} (sha256 111111111111…, the file there is 999999999999…)`],
    [F3.name]: [`its chain is broken at ${F2.name}: ${F2.name} builds on a different ${F1.name} (sha256 111111111111…, the file there is 999999999999…)`],
  });

  // Only the point checked (verify of one file whose chain was not): said, not guessed.
  assert.deepEqual(Object.fromEntries(judgeChains([checkedLink(F3)], chainTree)), { [F3.name]: [`it builds on ${F2.name}, which was not checked`] });
  // An incremental whose manifest was lost: nothing says it builds on its parent.
  assert.match(judgeChains([checkedLink(G0), checkedLink(G1, { link: null })], chainTree).get(G1.name)?.[0] ?? '', /has no manifest/);
});

test('previousToCompare: a full with the previous full of its environment (incrementals skipped); an incremental with nothing', () => {
  const P0 = file('production_media_backup_2026_12_04T03_00_00.tar.zst');
  const H0 = file('media_backup_2026_12_07T02_00_00.tar.zst');
  const all = [H0, P0, ...chainTree];
  assert.equal(previousToCompare(H0, all)?.name, G0.name);
  assert.equal(previousToCompare(G0, all)?.name, F0.name);
  assert.equal(previousToCompare(F0, all), null);
  assert.equal(previousToCompare(G1, all), null);
  assert.equal(previousToCompare(D0, all), null);
  const D1 = file('backup_2026_12_07T02_00_00.sql.zst');
  assert.equal(previousToCompare(D1, [...all, D1])?.name, D0.name);
});

test('sanityCheck: an incremental is never a shrunken backup; it says what it holds', () => {
  const policy: VerifyPolicy = { minSizeRatio: 0.5, onShrink: 'fail' };
  const inc: SanityInput = {
    size: 10,
    manifest: manifest({ kind: 'media', media: { files: 0, directories: 0, bytes: 0, warnings: [], level: 3, parent: { name: F2.name, sha256: sha('2') } } }),
  };
  const bigFull: SanityInput = { size: 1_000_000, manifest: manifest({ kind: 'media', media: { files: 500, directories: 0, bytes: 999_000, warnings: [], level: 0, parent: null } }) };
  assert.deepEqual(sanityCheck(inc, bigFull, policy), { level: 'ok', message: `an incremental: level 3 on ${F2.name}, 0 new or changed files (0 B); not compared by size` });
  assert.equal(sanityCheck(inc, null, policy).level, 'ok');
  // A full made in incremental mode is judged like any full.
  const smallFull: SanityInput = { size: 10, manifest: manifest({ kind: 'media', media: { files: 0, directories: 0, bytes: 0, warnings: [], level: 0, parent: null } }) };
  assert.equal(sanityCheck(smallFull, bigFull, policy).level, 'fail');
});
