// restore-db and the drill against hostile files and unlucky moments: planted commands refused
// before anything loads, a load with no more privilege than the database's owner, the bytes
// restored being the bytes checked (a file replaced while the question waits at a terminal), and
// SIGKILL at named steps and at spread-out moments, after which the next run repairs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createDb, dumpText, seedRichDb, sql, databasesLike, uniqueName, PG_ENV, type TempDb } from '../helpers/pg.ts';
import { baseEnv, killGroup, runScript, tempDir, ROOT } from '../helpers/cli.ts';
import { runAtTerminal } from '../helpers/pty.ts';

const dbs: TempDb[] = [];
const roles: string[] = [];
after(() => {
  dbs.forEach((d) => d.drop());
  for (const r of roles) sql('postgres', `DROP ROLE IF EXISTS "${r}"`);
});
function db(opts: { owner?: string } = {}): TempDb {
  const d = createDb('cbt_dbh');
  dbs.push(d);
  if (opts.owner) sql('postgres', `ALTER DATABASE "${d.name}" OWNER TO "${opts.owner}"`);
  seedRichDb(d.name, opts.owner);
  return d;
}
const pgdir = (bk: string) => path.join(bk, 'postgres');

/** A plain dump of `d` as the old scripts made it (`pg_dump | gzip`, no manifest), edited by `edit`, in a fresh tree. */
function plantedBackup(d: TempDb, edit: (text: string) => string, name = 'backup_2026_11_20T02_00_00.sql.gz'): { bk: string; name: string; file: string } {
  const bk = tempDir();
  fs.mkdirSync(pgdir(bk), { recursive: true });
  const text = execFileSync('pg_dump', ['-d', d.name], { env: { ...process.env, ...PG_ENV }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const file = path.join(pgdir(bk), name);
  fs.writeFileSync(file, execFileSync('gzip', ['-c'], { input: edit(text), maxBuffer: 1 << 26 }));
  return { bk, name, file };
}
const withoutRestrict = (t: string) => t.replace(/^\\(un)?restrict .*\n/gm, '');
const before = (t: string, anchor: string, insert: string) => {
  const at = t.indexOf(anchor);
  assert.ok(at >= 0, anchor);
  return t.slice(0, at) + insert + t.slice(at);
};
const markerPath = () => path.join(os.tmpdir(), `cbt-pwned-${crypto.randomBytes(4).toString('hex')}`);
const lineOf = (text: string, needle: string) => text.slice(0, text.indexOf(needle)).split('\n').length;

test('planted commands are refused before anything loads, with their line, in restore-db and the drill; nothing runs', async () => {
  const d = db();
  const live = dumpText(d.name);
  const marker = markerPath();
  const cases: [string, (t: string) => string, string][] = [
    ['a shell escape, no \\restrict', (t) => before(withoutRestrict(t), 'CREATE SCHEMA shop', `\\! touch ${marker}\n`), '\\! touch'],
    ['COPY … TO PROGRAM on the server, with \\restrict', (t) => before(t, 'CREATE SCHEMA shop', `COPY (SELECT 1) TO PROGRAM 'touch ${marker}';\n`), 'COPY (SELECT 1)'],
    ['output piped to a command', (t) => before(withoutRestrict(t), 'CREATE SCHEMA shop', `\\o |touch ${marker}\nSELECT 1;\n`), '\\o |'],
  ];
  for (const [what, edit, needle] of cases) {
    const p = plantedBackup(d, edit);
    const text = execFileSync('gzip', ['-dc', p.file], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const line = lineOf(text, needle);
    const r = await runScript('restore-db', [p.name, '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: p.bk } });
    assert.equal(r.code, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`refusing to restore ${p.name}, nothing was changed: it holds what pg_dump never writes \\(line ${line}: `), what);
    assert.equal(fs.existsSync(marker), false, `${what}: nothing ran`);
    assert.equal(dumpText(d.name), live, `${what}: the live database is unchanged`);
    assert.deepEqual(databasesLike(d.name), [d.name], `${what}: no scratch database was even made`);
  }
  // The drill (and verify itself) refuse the newest backup the same way.
  const p = plantedBackup(d, cases[0]![1]);
  const v = await runScript('verify', ['--drill'], { env: { DATABASE_URL: d.url, BACKUP_DIR: p.bk } });
  assert.equal(v.code, 1, v.stderr);
  assert.match(v.stdout, new RegExp(`FAIL  ${p.name}: unsafe to restore: line \\d+: psql meta-command "\\\\!"`));
  assert.match(v.stdout, new RegExp(`FAIL  drill ${p.name}: refusing to restore .*psql meta-command "\\\\!"`));
  assert.equal(fs.existsSync(marker), false);
  assert.deepEqual(databasesLike(d.name), [d.name]);
});

test('the load runs as the database owner: a function that reaches for the server shell cannot', async () => {
  const owner = uniqueName('cbt_owner');
  sql('postgres', `CREATE ROLE "${owner}" LOGIN NOSUPERUSER`);
  roles.push(owner);
  const d = db({ owner });
  const live = dumpText(d.name);
  const marker = markerPath();
  // All of it is what pg_dump writes: a function, a table whose column defaults to it, a row. The
  // insert calls the function, which runs COPY … TO PROGRAM: as a superuser that would run a shell.
  const trap =
    `CREATE FUNCTION public.trap() RETURNS integer LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch ${marker}'''; RETURN 1; END $f$;\n` +
    `CREATE TABLE public.bait (x integer DEFAULT public.trap());\nINSERT INTO public.bait DEFAULT VALUES;\n`;
  const p = plantedBackup(d, (t) => before(t, 'CREATE SCHEMA shop', trap));
  const r = await runScript('restore-db', [p.name, '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: p.bk } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`loading as "${owner}", the database's owner, without superuser privileges`));
  assert.match(r.stderr, /restore failed, database ".*" is unchanged: psql failed .*(pg_execute_server_program|superuser)/);
  assert.equal(fs.existsSync(marker), false, 'the program never ran');
  assert.equal(dumpText(d.name), live);
  // The genuine dump of the same database restores as the owner, exactly.
  const ok = plantedBackup(d, (t) => t, 'backup_2026_11_21T02_00_00.sql.gz');
  const g = await runScript('restore-db', [ok.name, '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: ok.bk } });
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stderr, new RegExp(`loading as "${owner}"`));
  assert.equal(dumpText(d.name), live);
  assert.equal(sql('postgres', `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '${d.name}'`), owner);
});

test('what is restored is what was checked: the file changed or replaced while the question waits at a terminal', async () => {
  const d = db();
  const env = baseEnv({ DATABASE_URL: d.url, BACKUP_DIR: '' });
  for (const how of ['written to in place', 'replaced by another file'] as const) {
    const p = plantedBackup(d, (t) => t);
    const checkedText = dumpText(d.name);
    // What would land if the file were opened again by its name: other data, and a shell escape.
    const other = plantedBackup(d, (t) => before(withoutRestrict(t.replace(/\tlínea 1\b/g, '\tCHANGED')), 'CREATE SCHEMA shop', '\\! id\n'));
    sql(d.name, 'DELETE FROM shop.orders WHERE id > 100');
    const run = runAtTerminal(['npx', 'zx', 'scripts/restore-db.ts', p.name], { cwd: ROOT, env: { ...env, BACKUP_DIR: p.bk } });
    await run.waitFor(`Type ${d.name} to continue:`);
    if (how === 'written to in place') fs.writeFileSync(p.file, fs.readFileSync(other.file));
    else fs.renameSync(other.file, p.file);
    run.type(d.name);
    const { code, output } = await run.done;
    if (how === 'written to in place') {
      assert.equal(code, 1, output);
      assert.match(output, /changed after it was checked/);
      assert.equal(sql(d.name, 'SELECT count(*) FROM shop.orders'), '100', 'the live database is unchanged');
    } else {
      // The open file is the checked one: its content is restored, not what was put under its name.
      assert.equal(code, 0, output);
      assert.equal(dumpText(d.name), checkedText);
    }
    assert.deepEqual(databasesLike(d.name).filter((n) => n.includes('__')), []);
  }
});

/** Whether a database takes connections ('t' or 'f'). */
const allows = (name: string) => sql('postgres', `SELECT datallowconn FROM pg_database WHERE datname = '${name}'`);

/** The database's content, and whether it takes connections. */
function state(name: string): { text: string; allows: string } {
  const a = allows(name);
  return { text: a === 't' ? dumpText(name) : '(refuses connections)', allows: a };
}

test('restore-db killed at each step: the next run repairs, and the database is exactly the old or the new one', async () => {
  const d = db();
  const bk = tempDir();
  const env = { DATABASE_URL: d.url, BACKUP_DIR: bk };
  const b = await runScript('backup-db', [], { env });
  assert.equal(b.code, 0, b.stderr);
  const fresh = dumpText(d.name);
  // Few enough rows gone that the backup-db run below does not trip the sanity gate.
  sql(d.name, 'DELETE FROM shop.orders WHERE id > 300');
  const old = dumpText(d.name);
  const steps: [string, 'old' | 'new', string, Record<string, string>][] = [
    ['restore-db:loading', 'old', 'list-backups', {}],
    ['restore-db:noted', 'old', 'list-backups', {}],
    // The app is down here: every connection is refused until the next run reopens the database.
    ['restore-db:closed', 'old', 'backup-db', {}],
    ['restore-db:swapped', 'new', 'list-backups', { dump: '1' }],
  ];
  for (const [step, expect, next, opts] of steps) {
    const runEnv = { ...env, COMPOSE_BACKUP_CRASH_AT: step, ...(opts.dump ? { BACKUP_COMPRESSION: 'zstd' } : {}) };
    const cfg = opts.dump ? ['--config', writeDumpConfig(bk)] : [];
    const k = await runScript('restore-db', [path.basename(b.stdout.trim()), '--yes', ...cfg], { env: runEnv, newGroup: true });
    assert.equal(k.signal ?? k.code, 'SIGKILL', `${step}: killed (${k.code} ${k.stderr})`);
    if (step === 'restore-db:closed') assert.equal(allows(d.name), 'f', 'the dead run left the database closed');
    assert.ok(databasesLike(d.name).some((n) => /__(restoring|replaced)_\d+$/.test(n)), `${step}: a trace is there to repair`);
    const r = await runScript(next, [...cfg], { env });
    assert.equal(r.code, 0, `${step}: ${r.stderr}`);
    assert.match(r.stderr, /repaired what an interrupted run left: /, step);
    const s = state(d.name);
    assert.equal(s.allows, 't', `${step}: the database takes connections`);
    assert.equal(s.text, expect === 'old' ? old : fresh, `${step}: exactly the ${expect} database`);
    assert.deepEqual(databasesLike(d.name).filter((n) => /__(restoring|replaced|drill)_/.test(n)), [], `${step}: no helper database left`);
    if (expect === 'new') sql(d.name, 'DELETE FROM shop.orders WHERE id > 300');
  }
});

function writeDumpConfig(bk: string): string {
  const p = path.join(bk, 'dump-mode.yaml');
  fs.writeFileSync(p, `environments:\n  local:\n    restore: { databaseSafetyCopy: dump }\n`);
  return p;
}

test('restore-db killed at spread-out moments, again and again: each time the next run repairs to exactly old or new', async () => {
  const d = db();
  const bk = tempDir();
  const env = { DATABASE_URL: d.url, BACKUP_DIR: bk };
  const b = await runScript('backup-db', [], { env });
  assert.equal(b.code, 0, b.stderr);
  const fresh = dumpText(d.name);
  const name = path.basename(b.stdout.trim());
  let sawOld = 0;
  let sawNew = 0;
  for (const delayMs of [900, 1500, 2100, 2600, 3100, 3600, 4200]) {
    sql(d.name, 'DELETE FROM shop.orders WHERE id > 50');
    const old = dumpText(d.name);
    let pid = 0;
    const run = runScript('restore-db', [name, '--yes'], { env, newGroup: true, onSpawn: (p) => (pid = p) });
    const timer = setTimeout(() => killGroup(pid), delayMs);
    await run;
    clearTimeout(timer);
    const r = await runScript('list-backups', [], { env });
    assert.equal(r.code, 0, r.stderr);
    const s = state(d.name);
    assert.equal(s.allows, 't');
    assert.ok(s.text === old || s.text === fresh, `after a kill at ${delayMs} ms: neither the old nor the new database`);
    if (s.text === old) sawOld++;
    else sawNew++;
    assert.deepEqual(databasesLike(d.name).filter((n) => /__(restoring|replaced|drill)_/.test(n)), []);
  }
  assert.ok(sawOld > 0, 'some kills came before the swap');
});
