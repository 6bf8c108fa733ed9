// verify, the restore drill, the sanity gate and list-backups --stats end to end: the real
// `npx zx scripts/…` against the real PostgreSQL, on backups damaged in precise ways.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createDb, dumpText, seedRichDb, sql, databasesLike, PG_ENV, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, ls, snapshotFiles, writeConfig } from '../helpers/cli.ts';
import { compressTo, handTar, makeAwkwardTree } from '../helpers/media-tree.ts';

const dbs: TempDb[] = [];
after(() => dbs.forEach((d) => d.drop()));
function db(seed = true): TempDb {
  const d = createDb('cbt_verify');
  dbs.push(d);
  if (seed) seedRichDb(d.name);
  return d;
}
const pgdir = (bk: string) => path.join(bk, 'postgres');
const mediadir = (bk: string) => path.join(bk, 'media');

interface Result {
  name: string;
  ok: boolean;
  problems: string[];
  checks: string[];
  manifest: boolean;
}
interface Output {
  ok: boolean;
  backups: Result[];
  drill: { ok: boolean; parts: { name: string; ok: boolean; problems: string[]; checks: string[] }[] } | null;
}
const byName = (out: Output) => Object.fromEntries(out.backups.map((r) => [r.name, r]));

/** A copy of a backup under another name, changed by `change`, with the original's manifest unless told otherwise. */
function copy(src: string, name: string, change: (b: Buffer) => Buffer, withManifest = true): string {
  const dest = path.join(path.dirname(src), name);
  fs.writeFileSync(dest, change(fs.readFileSync(src)));
  if (withManifest) fs.copyFileSync(src + '.manifest.json', dest + '.manifest.json');
  return dest;
}
const flipMiddle = (b: Buffer) => {
  const out = Buffer.from(b);
  const i = Math.floor(out.length / 2);
  out[i] = out[i]! ^ 0xff;
  return out;
};
const unzstd = (b: Buffer) => execFileSync('zstd', ['-q', '-d', '-c'], { input: b, maxBuffer: 1 << 30 });
const rezstd = (b: Buffer) => execFileSync('zstd', ['-q', '-c'], { input: b, maxBuffer: 1 << 30 });
/** Decompress, edit the dump's text, compress again. */
const editDump = (edit: (text: string) => string) => (b: Buffer) => rezstd(Buffer.from(edit(unzstd(b).toString('utf8'))));

test('database backups: each damage is named, exit 1; old-style files verified as far as possible; the drill catches altered data', async () => {
  const d = db();
  sql(d.name, `INSERT INTO shop.orders (status, note) SELECT 'new', md5(g::text) FROM generate_series(1, 3000) g`);
  const bk = tempDir();
  const env = { DATABASE_URL: d.url, BACKUP_DIR: bk };
  const b = await runScript('backup-db', [], { env });
  assert.equal(b.code, 0, b.stderr);
  const good = b.stdout.trim();
  const goodName = path.basename(good);
  assert.ok(fs.statSync(good).size > 4096, 'big enough to lose a KiB');

  copy(good, 'backup_2024_01_01T00_00_01.sql.zst', flipMiddle);
  copy(good, 'backup_2024_01_01T00_00_02.sql.zst', (x) => x.subarray(0, x.length - 1024));
  copy(good, 'backup_2024_01_01T00_00_03.sql.zst', editDump((t) => t.replace(/\n-- PostgreSQL database dump complete\n--\n/, '\n')), false);
  // One row of shop.orders deleted from its COPY block; the old manifest kept.
  copy(good, 'backup_2024_01_01T00_00_04.sql.zst', editDump((t) => t.replace(/(\nCOPY shop\.orders [^\n]*\n)[^\n]*\n/, '$1')));
  execFileSync('sh', ['-c', `pg_dump -d ${d.name} | gzip > ${pgdir(bk)}/backup_2024_01_01T00_00_05.sql.gz`], { env: { ...process.env, ...PG_ENV } });
  copy(good, 'backup_2024_01_01T00_00_06.sql.zst', (x) => x, false);
  fs.writeFileSync(path.join(pgdir(bk), 'backup_2024_01_01T00_00_06.sql.zst.manifest.json'), '{"version": 1, "name": ');
  const before = snapshotFiles(pgdir(bk));

  const json = await runScript('verify', ['--all', '--json'], { env });
  assert.equal(json.code, 1, json.stderr);
  const out = JSON.parse(json.stdout) as Output;
  assert.equal(out.ok, false);
  const r = byName(out);
  assert.equal(out.backups.length, 7);
  assert.deepEqual(r[goodName]!.problems, []);
  assert.ok(r[goodName]!.manifest);
  assert.deepEqual(r[goodName]!.checks.slice(0, 3), ['sha256', 'decompression', 'footer']);
  assert.match(r[goodName]!.checks.join(), /3500 rows in 2 tables match the manifest|rows in \d+ tables match the manifest/);

  const flipped = r['backup_2024_01_01T00_00_01.sql.zst']!.problems;
  assert.equal(flipped[0], 'sha256 mismatch: the file changed since it was written');
  assert.match(flipped[1]!, /^decompression failed: zstd failed \(exit 1\)/);
  const truncated = r['backup_2024_01_01T00_00_02.sql.zst']!.problems;
  assert.match(truncated[0]!, /^sha256 mismatch: the file changed since it was written \(\d+ bytes, the manifest says \d+: truncated\?\)$/);
  assert.match(truncated[1]!, /^decompression failed: zstd failed/);
  assert.deepEqual(r['backup_2024_01_01T00_00_03.sql.zst']!.problems, ['no completion footer (the dump was cut short)']);
  assert.equal(r['backup_2024_01_01T00_00_03.sql.zst']!.checks[0], 'no manifest (checked content only)');
  const altered = r['backup_2024_01_01T00_00_04.sql.zst']!.problems;
  assert.match(altered[0]!, /^sha256 mismatch: the file changed since it was written/);
  assert.equal(altered[1], 'row counts differ from the manifest: shop.orders 3499 (manifest 3500)');
  const seed = r['backup_2024_01_01T00_00_05.sql.gz']!;
  assert.deepEqual([seed.ok, seed.manifest, seed.checks[0]], [true, false, 'no manifest (checked content only)']);
  assert.deepEqual(r['backup_2024_01_01T00_00_06.sql.zst']!.problems, ['manifest is damaged']);
  assert.deepEqual(snapshotFiles(pgdir(bk)), before, 'verify changes nothing');

  // The same as people see it: one line per backup, newest first.
  const text = await runScript('verify', ['--all'], { env });
  assert.equal(text.code, 1);
  const lines = text.stdout.trim().split('\n');
  assert.equal(lines.length, 7);
  assert.match(lines[0]!, new RegExp(`^ok  ${goodName.replace(/\./g, '\\.')}  \\(sha256, decompression, footer, `));
  assert.ok(lines.includes('FAIL  backup_2024_01_01T00_00_03.sql.zst: no completion footer (the dump was cut short)'), text.stdout);
  assert.ok(lines.includes(`ok  backup_2024_01_01T00_00_05.sql.gz  (${seed.checks.join(', ')})`), text.stdout);
  assert.deepEqual(seed.checks, ['no manifest (checked content only)', 'decompression', 'footer', 'toc 14 entries', '2 tables, 3502 rows', 'only what pg_dump writes']);
  assert.match(text.stderr, /error: 5 of 7 backups failed verification/);

  // A bare name of either kind, the seed's habit, and the drill on a dump whose data was altered.
  const one = await runScript('verify', ['backup_2024_01_01T00_00_05.sql.gz'], { env });
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /^ok  backup_2024_01_01T00_00_05\.sql\.gz  \(/);
  const drillBad = await runScript('verify', [path.join(pgdir(bk), 'backup_2024_01_01T00_00_04.sql.zst'), '--drill'], { env });
  assert.equal(drillBad.code, 1, drillBad.stderr);
  // The drill makes restore-db's checks first: a file that no longer matches its manifest is not even loaded.
  // (The altered dump may compress to the same size as the original: the size hint is then absent.)
  assert.match(drillBad.stdout, /^FAIL  drill backup_2024_01_01T00_00_04\.sql\.zst: refusing to restore backup_2024_01_01T00_00_04\.sql\.zst, nothing was changed: sha256 mismatch: the file changed since it was written(?: \(\d+ bytes, the manifest says \d+: (?:appended to|truncated)\?\))?$/m);
  assert.deepEqual(databasesLike(d.name), [d.name], 'the throwaway database was dropped');

  // The default: the newest backup of each kind, and a drill that passes; it also drops the
  // throwaway database an interrupted drill (its process gone) left behind.
  const deadPid = spawnSync('true').pid;
  sql('postgres', `CREATE DATABASE "${d.name}__drill_${deadPid}"`);
  const drillGood = await runScript('verify', ['--drill'], { env });
  assert.equal(drillGood.code, 0, drillGood.stderr);
  assert.equal(drillGood.stdout.trim().split('\n').length, 2);
  assert.match(drillGood.stdout, new RegExp(`^ok  drill ${goodName.replace(/\./g, '\\.')}  \\(loaded without error, rows of \\d+ tables match the manifest \\(3502 rows\\)\\)$`, 'm'));
  assert.match(drillGood.stderr, /drill: loading .* into throwaway database "cbt_verify_[0-9a-f]+__drill_\d+"/);
  assert.deepEqual(databasesLike(d.name), [d.name]);

  // restore-db refuses the footer-less dump (no manifest) in its check, before anything is loaded; live database unchanged, no helper database left.
  const live = dumpText(d.name);
  const restore = await runScript('restore-db', ['backup_2024_01_01T00_00_03.sql.zst', '--yes'], { env });
  assert.equal(restore.code, 1);
  assert.match(restore.stderr, /refusing to restore backup_2024_01_01T00_00_03\.sql\.zst, nothing was changed: it ends without "-- PostgreSQL database dump complete" \(truncated\?\)/);
  assert.equal(dumpText(d.name), live);
  assert.deepEqual(databasesLike(d.name), [d.name]);
});

test('media backups: a damaged stream, a damaged member header, altered member data, an unsafe entry and wrong counts are named; the drill unpacks and compares', async () => {
  const bk = tempDir();
  const media = tempDir('cbt-media-');
  makeAwkwardTree(media);
  const tmp = tempDir('cbt-tmp-');
  const env = { BACKUP_DIR: bk, MEDIA_DIR: media, TMPDIR: tmp, COMPOSE_BACKUP_NOW: '2026-01-03T00:00:00Z' };
  const made = await runScript('backup-media', [], { env });
  assert.equal(made.code, 0, made.stderr);
  const good = made.stdout.trim();
  const goodName = path.basename(good);

  // Archives made by hand with GNU tar, as the seed's scripts did, and damaged in one place each.
  const raw = execFileSync('tar', ['-c', '-f', '-', '-C', media, '.'], { maxBuffer: 1 << 30 });
  const headerOf = (member: string) => {
    for (let off = 0; off < raw.length; off += 512) if (raw.subarray(off, off + member.length + 1).equals(Buffer.from(member + '\0'))) return off;
    throw new Error(`no header for ${member}`);
  };
  const badHeader = Buffer.from(raw);
  badHeader[headerOf('./uploads/2024/01/big.bin') + 148] = 0x58; // its header checksum
  compressTo(path.join(mediadir(bk), 'media_backup_2026_01_01T00_00_01.tar.zst'), badHeader);
  const badData = Buffer.from(raw);
  const at = headerOf('./uploads/2024/01/big.bin') + 512 + 1000; // a byte of its contents
  badData[at] = badData[at]! ^ 0xff;
  copy(good, 'media_backup_2026_01_01T00_00_02.tar.zst', () => execFileSync('zstd', ['-q', '-c'], { input: badData, maxBuffer: 1 << 30 }));
  copy(good, 'media_backup_2026_01_01T00_00_03.tar.zst', flipMiddle);
  compressTo(path.join(mediadir(bk), 'media_backup_2026_01_01T00_00_04.tar.zst'), handTar([{ name: 'ok.txt', type: 'file', data: 'x' }, { name: '../escape.txt', type: 'file', data: 'y' }]));
  copy(good, 'media_backup_2026_01_01T00_00_05.tar.zst', (x) => x, false);
  const m = JSON.parse(fs.readFileSync(good + '.manifest.json', 'utf8'));
  fs.writeFileSync(path.join(mediadir(bk), 'media_backup_2026_01_01T00_00_05.tar.zst.manifest.json'), JSON.stringify({ ...m, media: { ...m.media, files: m.media.files + 1 } }));
  fs.writeFileSync(path.join(mediadir(bk), 'media_backup_2026_01_01T00_00_06.tar.gz'), execFileSync('gzip', ['-c'], { input: raw, maxBuffer: 1 << 30 }));

  const json = await runScript('verify', ['--all', '--json'], { env });
  assert.equal(json.code, 1, json.stderr);
  const r = byName(JSON.parse(json.stdout) as Output);
  assert.deepEqual(r[goodName]!.problems, []);
  assert.match(r[goodName]!.checks.join('|'), /^sha256\|decompression\|listing \d+ entries\|safety rules\|\d+ files, \d+ bytes match the manifest$/);
  assert.deepEqual(r['media_backup_2026_01_01T00_00_01.tar.zst']!.problems.length, 1);
  assert.match(r['media_backup_2026_01_01T00_00_01.tar.zst']!.problems[0]!, /^archive unreadable: tar failed \(exit 2\): .*(Skipping to next header|checksum)/);
  assert.match(r['media_backup_2026_01_01T00_00_02.tar.zst']!.problems.join('; '), /^sha256 mismatch: the file changed since it was written/);
  const flipped = r['media_backup_2026_01_01T00_00_03.tar.zst']!.problems;
  assert.equal(flipped[0], 'sha256 mismatch: the file changed since it was written');
  assert.match(flipped[1]!, /^decompression failed: zstd failed/);
  assert.equal(r['media_backup_2026_01_01T00_00_04.tar.zst']!.problems.length, 1);
  assert.match(r['media_backup_2026_01_01T00_00_04.tar.zst']!.problems[0]!, /^unsafe to restore: entry "\.\.\/escape\.txt": path contains "\.\."/);
  assert.deepEqual(r['media_backup_2026_01_01T00_00_05.tar.zst']!.problems, [`counts differ from the manifest: files ${m.media.files} (manifest ${m.media.files + 1})`]);
  assert.deepEqual([r['media_backup_2026_01_01T00_00_06.tar.gz']!.ok, r['media_backup_2026_01_01T00_00_06.tar.gz']!.checks[0]], [true, 'no manifest (checked content only)']);

  // The drill of the newest (the good one): unpacked, counted, compared, removed.
  const drill = await runScript('verify', ['--drill'], { env });
  assert.equal(drill.code, 0, drill.stderr);
  assert.match(drill.stdout, new RegExp(`^ok  drill ${goodName.replace(/\./g, '\\.')}  \\(unpacked without error, ${m.media.files} files, .* match the manifest\\)$`, 'm'));
  const drillDirs = () => ls(tmp).filter((n) => n.startsWith('compose-backup-drill-'));
  assert.deepEqual(drillDirs(), [], 'the drill folder was removed');
  // An unsafe archive is never unpacked; one whose counts differ fails the drill.
  const unsafe = await runScript('verify', ['media_backup_2026_01_01T00_00_04.tar.zst', '--drill'], { env });
  assert.equal(unsafe.code, 1);
  assert.match(unsafe.stdout, /^FAIL  drill media_backup_2026_01_01T00_00_04\.tar\.zst: unsafe to restore: entry "\.\.\/escape\.txt"/m);
  const counts = await runScript('verify', ['media_backup_2026_01_01T00_00_05.tar.zst', '--drill', '--json'], { env });
  assert.equal(counts.code, 1);
  const parts = (JSON.parse(counts.stdout) as Output).drill!.parts;
  assert.deepEqual(parts.map((p) => p.problems), [[`unpacked files differ from the manifest: files ${m.media.files} (manifest ${m.media.files + 1})`]]);
  assert.deepEqual(drillDirs(), []);
  assert.ok(!fs.existsSync(path.join(tmp, '..', 'escape.txt')));
});

test('sanity gate: a database emptied between two backups fails the run (the file is kept), or only warns', async () => {
  const d = db();
  const bk = tempDir();
  const env = { DATABASE_URL: d.url, BACKUP_DIR: bk };
  const first = await runScript('backup-db', [], { env: { ...env, COMPOSE_BACKUP_NOW: '2026-01-01T02:00:00Z' } });
  assert.equal(first.code, 0, first.stderr);
  assert.doesNotMatch(first.stderr, /sanity/);
  sql(d.name, `TRUNCATE shop.orders, public."Weird ""Name"""`);
  const failed = await runScript('backup-db', [], { env: { ...env, COMPOSE_BACKUP_NOW: '2026-01-02T02:00:00Z' } });
  assert.equal(failed.code, 1, failed.stderr);
  const kept = failed.stdout.trim();
  assert.equal(path.basename(kept), 'backup_2026_01_02T02_00_00.sql.zst');
  assert.ok(fs.existsSync(kept) && fs.existsSync(kept + '.manifest.json'), 'the backup is kept');
  const errors = failed.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, failed.stderr);
  assert.match(errors[0]!, /^error: sanity check failed for backup_2026_01_02T02_00_00\.sql\.zst: .*the dump holds no rows, the previous one held 502\. The backup was kept/);

  const cfg = writeConfig(tempDir(), 'environments:\n  local:\n    verify: { onShrink: warn }\n');
  const warned = await runScript('backup-db', ['--config', cfg], { env: { ...env, COMPOSE_BACKUP_NOW: '2026-01-01T03:00:00Z' } });
  assert.equal(warned.code, 0, warned.stderr);
  assert.match(warned.stderr, /^warning: sanity check of backup_2026_01_01T03_00_00\.sql\.zst: .*the dump holds no rows, the previous one held 502$/m);
  assert.equal(ls(pgdir(bk)).filter((n) => n.endsWith('.zst')).length, 3);

  // A first backup of a database with no tables at all: a warning, never a failure.
  const empty = db(false);
  const fresh = await runScript('backup-db', [], { env: { DATABASE_URL: empty.url, BACKUP_DIR: tempDir() } });
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.match(fresh.stderr, /warning: sanity check of backup_.*: the dump has an empty table of contents \(no tables\)/);
});

test('list-backups --stats (--json) and verify on an empty tree', async () => {
  const bk = tempDir();
  const empty = await runScript('verify', [], { env: { BACKUP_DIR: bk } });
  assert.equal(empty.code, 0);
  assert.equal(empty.stdout, '');
  assert.match(empty.stderr, /warning: nothing to verify: no backups of environment "local" in /);

  fs.mkdirSync(pgdir(bk), { recursive: true });
  fs.mkdirSync(mediadir(bk), { recursive: true });
  const put = (dir: string, name: string, size: number, durationMs?: number) => {
    fs.writeFileSync(path.join(dir, name), Buffer.alloc(size));
    if (durationMs !== undefined) {
      fs.writeFileSync(path.join(dir, name + '.manifest.json'), JSON.stringify({
        version: 1, name, kind: dir.endsWith('media') ? 'media' : 'database', role: 'backup', set: 'x', environment: 'local', codec: 'zstd',
        size, sha256: '0'.repeat(64), startedAt: '2026-01-15T02:00:00.000Z', finishedAt: '2026-01-15T02:00:09.000Z', durationMs,
      }));
    }
  };
  put(pgdir(bk), 'backup_2026_01_01T02_00_00.sql.gz', 1000);
  put(pgdir(bk), 'backup_2026_01_08T02_00_00.sql.zst', 1700, 3000);
  put(pgdir(bk), 'backup_2026_01_15T02_00_00.sql.zst', 2400, 9000);
  put(pgdir(bk), 'temp_before_restore_2026_01_10T00_00_00.sql.zst', 50);
  put(pgdir(bk), 'notes.txt', 5);
  put(mediadir(bk), 'media_backup_2026_01_15T02_00_00.tar.zst', 7000, 1000);
  const env = { BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: '2026-01-15T04:00:00Z' };

  const json = await runScript('list-backups', ['--stats', '--json'], { env });
  assert.equal(json.code, 0, json.stderr);
  const stats = JSON.parse(json.stdout);
  assert.deepEqual(Object.keys(stats), ['environment', 'generatedAt', 'kinds']);
  assert.equal(stats.generatedAt, '2026-01-15T04:00:00.000Z');
  assert.deepEqual(Object.keys(stats.kinds), ['database', 'media']);
  const dbs_ = stats.kinds.database;
  assert.deepEqual(
    { count: dbs_.count, totalBytes: dbs_.totalBytes, newest: dbs_.newest.name, oldest: dbs_.oldest.name, lastSuccess: dbs_.lastSuccess, growthPerWeek: dbs_.growthPerWeek, averageDurationMs: dbs_.averageDurationMs, snapshots: dbs_.snapshots },
    { count: 3, totalBytes: 5100, newest: 'backup_2026_01_15T02_00_00.sql.zst', oldest: 'backup_2026_01_01T02_00_00.sql.gz', lastSuccess: '2026-01-15T02:00:09.000Z', growthPerWeek: 700, averageDurationMs: 6000, snapshots: { count: 1, bytes: 50 } },
  );
  assert.deepEqual(dbs_.history.map((h: { size: number; durationMs: number | null }) => [h.size, h.durationMs]), [[1000, null], [1700, 3000], [2400, 9000]]);
  assert.equal(dbs_.sparkline, '▁▅█');
  assert.equal(stats.kinds.media.count, 1);

  const text = await runScript('list-backups', ['--stats'], { env });
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^Database backups \(local\): 3, 5\.0 KiB in total$/m);
  assert.match(text.stdout, /^ {2}growth {8}\+700 B\/week \(3 backups in the last 28 days\)$/m);
  assert.doesNotMatch(text.stdout, /[▁▂▃▄▅▆▇█]/, 'no sparkline without a terminal');
  assert.doesNotMatch(text.stdout, /notes\.txt/);
});

test('verify: bad arguments exit 2 before anything is read', async () => {
  const bk = tempDir();
  fs.mkdirSync(pgdir(bk), { recursive: true });
  fs.writeFileSync(path.join(pgdir(bk), 'notes.txt'), 'mine');
  for (const args of [['notes.txt'], ['../../etc/passwd'], ['backup_2030_01_01T00_00_00.sql.zst'], ['media_backup_2030_01_01T00_00_00.tar.zst', '--all']]) {
    const r = await runScript('verify', args, { env: { BACKUP_DIR: bk } });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
