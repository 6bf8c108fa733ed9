// The safety databases restore-db keeps, end to end against the real PostgreSQL: prune drops
// those the snapshots policy does not keep and nothing else (not another live database's, not a
// look-alike), --dry-run drops nothing, an unreachable server leaves the files' prune and the
// listing working; and the 63-byte rule on a real long, multi-byte database name.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { safetyDatabaseName } from '../../lib/db/safety-names.ts';
import { createDb, databasesLike, dumpText, sql, urlFor, PG_ENV, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, ls, writeConfig } from '../helpers/cli.ts';

const dbs: TempDb[] = [];
/** Safety databases whose names do not start with their live database's (cut names). */
const extra: string[] = [];
after(() => {
  dbs.forEach((d) => d.drop());
  for (const n of extra) sql('postgres', `DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`);
});
function db(prefix = 'cbt_sdb'): TempDb {
  const d = createDb(prefix);
  dbs.push(d);
  return d;
}

const NOW = '2027-01-15T12:00:00Z';
const DUMP = '--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n\n--\n-- PostgreSQL database dump complete\n--\n\n';

/** A backup tree with three small, complete dumps (so a file prune has work to do). */
function tree(): { bk: string; files: string[] } {
  const bk = tempDir();
  const pg = path.join(bk, 'postgres');
  fs.mkdirSync(pg);
  const files = ['2027_01_15T03_00_00', '2027_01_14T03_00_00', '2027_01_13T03_00_00'].map((s) => path.join(pg, `backup_${s}.sql.zst`));
  for (const f of files) fs.writeFileSync(f, execFileSync('zstd', ['-q', '-c'], { input: DUMP }));
  return { bk, files };
}

const allDatabases = () => sql('postgres', 'SELECT datname FROM pg_database ORDER BY 1').split('\n');

test('prune drops the safety databases the snapshots policy does not keep, and never any other database', async () => {
  const live = db();
  const other = db();
  sql(live.name, 'CREATE TABLE t (x int)');
  const own = (stamp: string, seq = 1) => safetyDatabaseName(live.name, stamp, seq);
  const keep = [own('2027_01_15T10_00_00', 2), own('2027_01_15T10_00_00')];
  const drop = [own('2027_01_10T10_00_00'), own('2027_01_01T10_00_00'), own('2026_12_01T10_00_00')];
  const untouchable = [
    safetyDatabaseName(`${live.name}x`, '2026_01_01T00_00_00'), // another live database with a longer name
    safetyDatabaseName(other.name, '2026_01_01T00_00_00'), // another live database's
    `${own('2026_01_01T00_00_00')}_old`,
    `${own('2026_01_01T00_00_00')}_1`,
    own('2026_01_01T00_00_00').replace('T', 't'),
    `${live.name}_temp_before_restore_2026_13_01T00_00_00`,
    `${live.name}_unwanted`,
  ];
  for (const n of [...keep, ...drop, ...untouchable]) sql('postgres', `CREATE DATABASE "${n}"`);
  const { bk, files } = tree();
  const cfg = writeConfig(tempDir(), 'environments:\n  local:\n    retention:\n      database: { keepLast: 1 }\n      snapshots: { keepLast: 2 }\n');
  const env = { DATABASE_URL: live.url, BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: NOW };
  // Other test files create and drop databases meanwhile: compare only the ones of this test.
  const mine = () => [...databasesLike(live.name), ...databasesLike(other.name)];
  const before = mine();
  assert.equal(before.length, 2 + keep.length + drop.length + untouchable.length);

  const dry = await runScript('prune', ['--config', cfg, '--dry-run', '--json'], { env });
  assert.equal(dry.code, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout);
  assert.equal(plan.safetyDatabases.database, live.name);
  assert.deepEqual(plan.safetyDatabases.databases.map((d: { name: string; action: string }) => [d.name, d.action]), [
    ...keep.map((n) => [n, 'keep']),
    ...drop.map((n) => [n, 'remove']),
  ]);
  assert.deepEqual(plan.safetyDatabases.drop, drop);
  assert.deepEqual(plan.safetyDatabases.dropped, []);
  assert.deepEqual(plan.remove, files.slice(1));
  const text = await runScript('prune', ['--config', cfg, '--dry-run'], { env });
  assert.equal(text.code, 0, text.stderr);
  assert.ok(text.stdout.includes(`Safety databases of "${live.name}" (the databases restores replaced, kept on the server):\n  ${keep[0]}   keep    last, newest\n`), text.stdout);
  assert.match(text.stdout, /\nWould remove 2 backups .*\nWould drop 3 safety databases and keep 2\.\nDry run: nothing was changed\.\n$/);
  assert.deepEqual(mine(), before, 'a dry run drops nothing');
  assert.deepEqual(ls(path.join(bk, 'postgres')), files.map((f) => path.basename(f)).sort());

  const real = await runScript('prune', ['--config', cfg], { env });
  assert.equal(real.code, 0, real.stderr);
  assert.deepEqual(real.stdout.trim().split('\n'), [...files.slice(1), ...drop]);
  assert.match(real.stderr, new RegExp(`safety databases of "${live.name}": 2 kept, 3 dropped\\n`));
  assert.match(real.stderr, /ok: removed 2 backups \(.*\), dropped 3 of 3 safety databases\n$/);
  assert.deepEqual(mine(), before.filter((n) => !drop.includes(n)));
  for (const n of untouchable) assert.ok(mine().includes(n), `${n} untouched`);
  assert.equal(sql(live.name, 'SELECT count(*) FROM t'), '0', 'the live database is untouched');

  const again = await runScript('prune', ['--config', cfg], { env });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, '');
  assert.match(again.stderr, /ok: nothing to remove/);
});

test('a safety database someone is connected to is not dropped: one warning, the rest goes on', async () => {
  const live = db();
  const busy = safetyDatabaseName(live.name, '2027_01_01T10_00_00');
  const idle = safetyDatabaseName(live.name, '2027_01_02T10_00_00');
  for (const n of [busy, idle, safetyDatabaseName(live.name, '2027_01_15T10_00_00')]) sql('postgres', `CREATE DATABASE "${n}"`);
  const cfg = writeConfig(tempDir(), 'environments:\n  local:\n    retention:\n      snapshots: { keepLast: 1 }\n');
  const client = spawn('psql', ['-X', '-d', busy, '-c', 'SELECT pg_sleep(60)'], { env: { ...process.env, ...PG_ENV }, stdio: 'ignore' });
  try {
    for (let i = 0; i < 50 && sql('postgres', `SELECT count(*) FROM pg_stat_activity WHERE datname = '${busy}'`) === '0'; i++) await new Promise((r) => setTimeout(r, 100));
    const r = await runScript('prune', ['--config', cfg], { env: { DATABASE_URL: live.url, BACKUP_DIR: tempDir(), COMPOSE_BACKUP_NOW: NOW } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), idle);
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('warning:')).length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`warning: safety database "${busy}" was not dropped \\(.*being accessed by other users.*\\); the next prune tries again`));
    assert.ok(allDatabases().includes(busy));
    assert.ok(!allDatabases().includes(idle));
  } finally {
    client.kill();
  }
});

test('an unreachable server: prune still prunes the files with one warning, list-backups lists them with one note', async () => {
  const { bk, files } = tree();
  const cfg = writeConfig(tempDir(), 'environments:\n  local:\n    retention:\n      database: { keepLast: 1 }\n');
  const env = { DATABASE_URL: 'postgres://postgres:Hunter2Secret@127.0.0.1:1/x', BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: NOW };
  const dry = await runScript('prune', ['--config', cfg, '--dry-run', '--json'], { env });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(JSON.parse(dry.stdout).safetyDatabases.unavailable, /^cannot reach the database server: .*refused/);

  const r = await runScript('prune', ['--config', cfg], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), files.slice(1));
  assert.deepEqual(ls(path.join(bk, 'postgres')), [path.basename(files[0]!)]);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, /^warning: safety databases not pruned \(files are\): cannot reach the database server: .*Connection refused/);
  assert.doesNotMatch(r.stderr + r.stdout, /Hunter2Secret/);

  const list = await runScript('list-backups', [], { env });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^Database backups:\\n  ${path.basename(files[0]!)} `));
  assert.doesNotMatch(list.stdout, /Safety databases/);
  assert.match(list.stderr, /^note: safety databases not listed \(cannot reach the database server: .*\)\n$/);
  const json = await runScript('list-backups', ['--json'], { env });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout).map((i: { name: string }) => i.name), [path.basename(files[0]!)]);
});

test('a long, multi-byte database name: safety names cut to 63 bytes, never the stamp, told apart by prune', async () => {
  const live = db(`cbt_lång_${'x'.repeat(36)}`);
  assert.ok(Buffer.byteLength(live.name) > 40);
  sql(live.name, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1)');
  const bk = tempDir();
  const env = { DATABASE_URL: urlFor(live.name), BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: '2027-01-15T10:00:00Z' };
  const b = await runScript('backup-db', [], { env });
  assert.equal(b.code, 0, b.stderr);
  sql(live.name, 'INSERT INTO t VALUES (2)');
  const changed = dumpText(live.name);
  const names: string[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await runScript('restore-db', [b.stdout.trim(), '--yes', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    const name = JSON.parse(r.stdout).safetyDatabase as string;
    extra.push(name);
    names.push(name);
  }
  assert.deepEqual(names, [safetyDatabaseName(live.name, '2027_01_15T10_00_00'), safetyDatabaseName(live.name, '2027_01_15T10_00_00', 2)]);
  for (const n of names) {
    assert.ok(Buffer.byteLength(n) <= 63, n);
    assert.match(n, /^cbt_lång_x+_[0-9a-f]{6}_temp_before_restore_2027_01_15T10_00_00(_2)?$/);
  }
  // PostgreSQL kept the names exactly as given (it would have cut a longer one on its own).
  const onServer = allDatabases();
  for (const n of names) assert.ok(onServer.includes(n), `${n} exists`);
  assert.equal(dumpText(names[0]!), changed);
  assert.equal(sql(live.name, 'SELECT count(*) FROM t'), '1');

  const cfg = writeConfig(tempDir(), 'environments:\n  local:\n    retention:\n      snapshots: { keepLast: 1 }\n');
  const p = await runScript('prune', ['--config', cfg], { env: { ...env, COMPOSE_BACKUP_NOW: NOW } });
  assert.equal(p.code, 0, p.stderr);
  assert.equal(p.stdout.trim(), names[0]);
  assert.ok(!allDatabases().includes(names[0]!));
  assert.ok(allDatabases().includes(names[1]!));
  assert.deepEqual(databasesLike(live.name), [live.name]);
});
