import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainByNames, chainOf, linkProblem, originalName, parentOf, planNextMedia, type ChainPolicy } from '../../../lib/core/chains.ts';
import { parseBackupName, type BackupName } from '../../../lib/core/naming.ts';

type B = BackupName & { size: number };
const b = (name: string, size = 100): B => ({ ...parseBackupName(name)!, size });

// Two chains and a stray: A (full + 3), B (full + 1), another environment's copies.
const A0 = b('media_backup_2026_12_01T02_00_00.tar.zst', 1000);
const A1 = b('media_backup_2026_12_02T02_00_00.inc1.tar.zst', 10);
const A2 = b('media_backup_2026_12_03T02_00_00.inc2.tar.zst', 10);
const A3 = b('media_backup_2026_12_04T02_00_00.inc3.tar.zst', 10);
const B0 = b('media_backup_2026_12_05T02_00_00.tar.zst', 1000);
const B1 = b('media_backup_2026_12_05T02_00_00-2.inc1.tar.zst', 10);
const P0 = b('production_media_backup_2026_12_01T02_00_00.tar.zst');
const P1 = b('production_media_backup_2026_12_04T03_00_00.inc1.tar.zst');
const DB = b('backup_2026_12_03T02_00_00.sql.zst');
const all = [B1, A2, DB, P1, A0, B0, A3, P0, A1];

test('parentOf: the newest older archive of the same environment one level below', () => {
  const table: [B, B | null][] = [[A0, null], [A1, A0], [A2, A1], [A3, A2], [B0, null], [B1, B0], [P1, P0], [P0, null], [DB, null]];
  for (const [item, parent] of table) assert.equal(parentOf(item, all)?.name ?? null, parent?.name ?? null, item.name);
});

test('chainOf: full first; a missing middle link breaks the points after it only', () => {
  assert.deepEqual(chainOf(A3, all).links.map((l) => l.name), [A0, A1, A2, A3].map((l) => l.name));
  assert.equal(chainOf(A3, all).broken, null);
  const withoutA2 = all.filter((x) => x !== A2);
  const c = chainOf(A3, withoutA2);
  assert.match(c.broken!, /inc3\.tar\.zst builds on a level-2 archive that is not there/);
  assert.equal(chainOf(A1, withoutA2).broken, null);
  assert.deepEqual(chainOf(B1, all).links.map((l) => l.name), [B0.name, B1.name]);
});

test('chainByNames: a full alone; an incremental with its chain among a folder\'s names, itself counted even when not listed', () => {
  const names = [A0, A1, A2, A3, B0, P0, DB].map((b) => b.name).concat(['notes.txt', `${A1.name}.manifest.json`]);
  assert.deepEqual(chainByNames(A0, names).links.map((l) => l.name), [A0.name]);
  assert.deepEqual(chainByNames(A2, names).links.map((l) => l.name), [A0, A1, A2].map((l) => l.name));
  assert.deepEqual(chainByNames(B1, names).links.map((l) => l.name), [B0.name, B1.name]);
  assert.match(chainByNames(A3, names.filter((n) => n !== A2.name)).broken ?? '', /builds on a level-2 archive that is not there/);
  assert.equal(chainByNames(P1, names).broken, null);
});

const policy: ChainPolicy = { fullEvery: '7d', maxChain: 13, maxChainRatio: 0.5 };
const now = new Date('2026-12-06T02:00:00Z');
const plan = (over: Partial<Parameters<typeof planNextMedia<B>>[0]>) =>
  planNextMedia<B>({ policy, forceFull: false, now, backups: all, ...over });

test('planNextMedia: off, forced, first, and the limits that start a new chain', () => {
  assert.deepEqual(plan({ policy: null }), { level: 0, incremental: false, reason: null });
  const cases: [Partial<Parameters<typeof planNextMedia<B>>[0]>, number, RegExp][] = [
    [{}, 2, /level 2 on top of media_backup_2026_12_05T02_00_00-2\.inc1/],
    [{ forceFull: true }, 0, /--full/],
    [{ backups: [] }, 0, /no earlier media backup/],
    [{ backups: [DB, P0, P1] }, 0, /no earlier media backup/],
    [{ backups: [A0, A1, A3] }, 0, /newest chain is broken/],
    [{ backups: [A0, A1, A2, A3], policy: { ...policy, fullEvery: '5d' } }, 0, /older than fullEvery \(5d\)/],
    [{ backups: [A0, A1, A2, A3], now: new Date('2026-12-04T12:00:00Z') }, 4, /level 4/],
    [{ backups: [A0, A1, A2, A3], now: new Date('2026-12-04T12:00:00Z'), policy: { ...policy, maxChain: 3 } }, 0, /3 incrementals \(maxChain 3\)/],
    [{ backups: [A0, A1, A2, A3], now: new Date('2026-12-04T12:00:00Z'), policy: { ...policy, maxChainRatio: 0.02 } }, 0, /add up to 3% of its full \(maxChainRatio 0\.02\)/],
  ];
  for (const [over, level, reason] of cases) {
    const r = plan(over);
    assert.equal(r.level, level, JSON.stringify(r));
    assert.equal(r.incremental, true);
    assert.match(r.reason!, reason);
  }
});

test('linkProblem: the first link is a full; each next one names its parent by name and sha256 (a downloaded copy by its original name)', () => {
  const sha = 'a'.repeat(64);
  const inc = (parent: { name: string; sha256: string } | null, level = 1) => ({ media: { level, parent } });
  const table: [string, Parameters<typeof linkProblem>[0], Parameters<typeof linkProblem>[1], RegExp | null][] = [
    ['a full to start from', { name: A0.name, manifest: { media: { level: 0, parent: null } } }, null, null],
    ['an old full without manifest', { name: A0.name, manifest: null }, null, null],
    ['an incremental cannot start a chain', { name: A1.name, manifest: inc({ name: A0.name, sha256: sha }) }, null, /is a level-1 incremental, not a full/],
    ['the right parent', { name: A1.name, manifest: inc({ name: A0.name, sha256: sha }) }, { name: A0.name, sha256: sha }, null],
    ['no manifest', { name: A1.name, manifest: null }, { name: A0.name, sha256: sha }, /has no manifest/],
    ['no parent named', { name: A1.name, manifest: inc(null) }, { name: A0.name, sha256: sha }, /names no archive it builds on/],
    ['another parent', { name: A2.name, manifest: inc({ name: A0.name, sha256: sha }, 2) }, { name: A1.name, sha256: sha }, /builds on media_backup_2026_12_01T02_00_00\.tar\.zst, not on media_backup_2026_12_02/],
    ['a changed parent', { name: A1.name, manifest: inc({ name: A0.name, sha256: sha }) }, { name: A0.name, sha256: 'b'.repeat(64) }, /builds on a different media_backup_2026_12_01T02_00_00\.tar\.zst \(sha256 aaaaaaaaaaaa…, the file there is bbbbbbbbbbbb…\)/],
    ['downloaded copies: the manifest names the original', { name: P1.name, manifest: inc({ name: 'media_backup_2026_12_01T02_00_00.tar.zst', sha256: sha }) }, { name: P0.name, sha256: sha }, null],
  ];
  for (const [what, link, parent, want] of table) {
    const got = linkProblem(link, parent);
    if (want) assert.match(got ?? '', want, what);
    else assert.equal(got, null, what);
  }
});

test('originalName: a downloaded copy\'s name without its environment; others as they are', () => {
  assert.equal(originalName('production_media_backup_2026_12_04T03_00_00.inc1.tar.zst'), 'media_backup_2026_12_04T03_00_00.inc1.tar.zst');
  assert.equal(originalName('media_backup_2026_12_04T03_00_00.inc1.tar.zst'), 'media_backup_2026_12_04T03_00_00.inc1.tar.zst');
  assert.equal(originalName('not a backup'), 'not a backup');
});
