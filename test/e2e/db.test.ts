// backup-db, list-backups and restore-db end to end: the real `npx zx scripts/…` against the
// real PostgreSQL, with faults injected by fake tools placed first on PATH.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { createDb, dumpText, seedRichDb, sql, databasesLike, urlFor, PG_ENV, type TempDb } from '../helpers/pg.ts';
import { baseEnv, runScript, tempDir, fakeBin, withPath, ls, snapshotFiles, writeConfig, FIXTURE_BIN, ROOT } from '../helpers/cli.ts';

const dbs: TempDb[] = [];
after(() => dbs.forEach((d) => d.drop()));
function db(seed = true): TempDb {
  const d = createDb('cbt_db');
  dbs.push(d);
  if (seed) seedRichDb(d.name);
  return d;
}
const pgdir = (bk: string) => path.join(bk, 'postgres');
const backups = (bk: string) => ls(pgdir(bk)).filter((n) => /^backup_.*\.sql\.(zst|gz)$/.test(n));

test('round trip: backup, change, restore, compare (schemas, sequences, view, enum, large object, json, unicode)', async () => {
  const d = db();
  const bk = tempDir();
  const before = dumpText(d.name);
  const b = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(b.code, 0, b.stderr);
  const file = b.stdout.trim();
  assert.match(path.basename(file), /^backup_\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d\.sql\.zst$/);
  assert.equal(path.dirname(file), pgdir(bk));
  assert.ok(fs.existsSync(file + '.manifest.json'));
  const manifest = JSON.parse(fs.readFileSync(file + '.manifest.json', 'utf8'));
  assert.equal(manifest.database.rows['shop.orders'], 500);
  assert.equal(manifest.database.name, d.name);

  sql(d.name, `DELETE FROM shop.orders WHERE id > 10; DROP VIEW shop.paid; SELECT setval('public.counter', 1000); CREATE TABLE extra(x int);`);
  const replaced = dumpText(d.name);
  assert.notEqual(replaced, before);
  const r = await runScript('restore-db', [path.basename(file), '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: '2026-11-28T02:00:00Z' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(dumpText(d.name), before);
  assert.equal(sql(d.name, 'SELECT count(*) FROM pg_largeobject_metadata'), '1');
  // The replaced database itself is the safety copy: renamed aside with exactly what it held, no file.
  const safety = r.stdout.trim();
  assert.equal(safety, `${d.name}_temp_before_restore_2026_11_28T02_00_00`);
  assert.deepEqual(databasesLike(d.name), [d.name, safety], 'no scratch database left, the replaced one kept');
  assert.equal(dumpText(safety), replaced);
  assert.equal(sql(safety, 'SELECT count(*) FROM shop.orders'), '10');
  assert.deepEqual(ls(pgdir(bk)).filter((n) => n.startsWith('temp_before_restore')), [], 'no safety file');
  assert.match(r.stderr, new RegExp(`the replaced data is kept in database "${safety}".*to undo, rename`));

  const list = await runScript('list-backups', ['--json'], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(list.code, 0, list.stderr);
  const items = JSON.parse(list.stdout);
  assert.deepEqual(items.map((i: { role: string; kind: string }) => `${i.kind}/${i.role}`), ['database/backup', 'database/safety-database']);
  assert.deepEqual([items[1].name, items[1].path, items[1].set], [safety, null, '2026_11_28T02_00_00']);
  assert.ok(items[1].size > 0, 'the server told its size');
  const text = await runScript('list-backups', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Database backups:\n {2}backup_.*\.sql\.zst +\d/);
  assert.match(text.stdout, new RegExp(`Safety databases of "${d.name}" \\(replaced by restores, kept on the server\\):\\n {2}${safety} +\\d`));
  assert.equal(text.stderr, '');

  // The README's undo: the names swapped back in one transaction.
  execFileSync('psql', ['-X', '-q', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1'], {
    env: { ...process.env, ...PG_ENV },
    input: `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${d.name}';
BEGIN;
ALTER DATABASE ${d.name} RENAME TO ${d.name}_unwanted;
ALTER DATABASE "${safety}" RENAME TO ${d.name};
COMMIT;
`,
  });
  assert.equal(dumpText(d.name), replaced);
  assert.equal(dumpText(`${d.name}_unwanted`), before);
});

test('gzip backups, and the seed\'s own pg_dump | gzip files, restore', async () => {
  const d = db();
  const bk = tempDir();
  const before = dumpText(d.name);
  const b = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk, BACKUP_COMPRESSION: 'gzip' } });
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout.trim(), /\.sql\.gz$/);
  execFileSync('gzip', ['-t', b.stdout.trim()]);
  // A dump made exactly as the seed's script does, with no manifest.
  const seedFile = path.join(pgdir(bk), 'backup_2024_01_15T14_30_00.sql.gz');
  execFileSync('sh', ['-c', `pg_dump -d ${d.name} | gzip > ${seedFile}`], { env: { ...process.env, ...PG_ENV } });
  sql(d.name, 'TRUNCATE shop.orders');
  const r = await runScript('restore-db', ['backup_2024_01_15T14_30_00.sql.gz', '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk, BACKUP_COMPRESSION: 'zstd' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(dumpText(d.name), before);
});

test('modes: files 0600 and folders 0700 whatever the umask', async () => {
  const d = db(false);
  const bk = path.join(tempDir(), 'new', 'tree');
  const b = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk }, umask: '000' });
  assert.equal(b.code, 0, b.stderr);
  const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
  assert.equal(mode(b.stdout.trim()), '600');
  assert.equal(mode(b.stdout.trim() + '.manifest.json'), '600');
  assert.equal(mode(pgdir(bk)), '700');
  assert.equal(mode(bk), '700');
});

// Fake tools: the real one, broken in one precise way.
const REAL_PG_DUMP = execFileSync('sh', ['-c', 'command -v pg_dump'], { encoding: 'utf8' }).trim();
const REAL_ZSTD = execFileSync('sh', ['-c', 'command -v zstd'], { encoding: 'utf8' }).trim();
const fakes = {
  halfway: `#!/bin/sh\ncase "$*" in *--version*) exec ${REAL_PG_DUMP} "$@";; esac\n${REAL_PG_DUMP} "$@" | head -c 3000\necho "pg_dump: error: query failed: server closed the connection unexpectedly" >&2\nexit 1\n`,
  killed: `#!/bin/sh\ncase "$*" in *--version*) exec ${REAL_PG_DUMP} "$@";; esac\n${REAL_PG_DUMP} "$@" | head -c 3000\nkill -9 $$\n`,
  empty: `#!/bin/sh\ncase "$*" in *--version*) exec ${REAL_PG_DUMP} "$@";; esac\nexit 0\n`,
  nofooter: `#!/bin/sh\ncase "$*" in *--version*) exec ${REAL_PG_DUMP} "$@";; esac\n${REAL_PG_DUMP} "$@" | grep -v 'database dump complete'\n`,
  old: `#!/bin/sh\necho "pg_dump (PostgreSQL) 11.22"\n`,
};

for (const [name, body, expected] of [
  ['pg_dump failing halfway', fakes.halfway, /pg_dump failed \(exit 1\): pg_dump: error: query failed/],
  ['pg_dump killed by a signal', fakes.killed, /pg_dump failed \(killed by SIGKILL\)/],
  ['pg_dump producing nothing', fakes.empty, /produced no output/],
  ['a dump without its completion footer', fakes.nofooter, /ends without "-- PostgreSQL database dump complete"/],
  ['pg_dump older than the server', fakes.old, /pg_dump 11 is older than the server \(15\).*postgresql-client-15/],
] as const) {
  test(`fault: ${name} → exit 1, one line, no new file, existing backups byte-identical`, async () => {
    const d = db();
    const bk = tempDir();
    const ok = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
    assert.equal(ok.code, 0, ok.stderr);
    const before = snapshotFiles(pgdir(bk));
    const bin = fakeBin({ pg_dump: body });
    const r = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk, PATH: withPath(bin), COMPOSE_BACKUP_NOW: '2030-01-01T00:00:00Z' } });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, expected);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('error:')).length, 1);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(snapshotFiles(pgdir(bk)), before);
  });
}

test('fault: compressor failing → exit 1, nothing left', async () => {
  const d = db();
  const bk = tempDir();
  const bin = fakeBin({ zstd: `#!/bin/sh\ncase " $* " in *" -d "*|*" -t "*) exec ${REAL_ZSTD} "$@";; esac\nhead -c 100 >/dev/null\necho "zstd: error 70 : Write error : No space left on device" >&2\nexit 1\n` });
  const r = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk, PATH: withPath(bin) } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /zstd failed \(exit 1\): zstd: error 70 : Write error : No space left on device/);
  assert.deepEqual(ls(pgdir(bk)), []);
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const [who, how] of [
  ['to the whole process group (Ctrl-C, timeout, systemd)', 'group'],
  ['to npx alone (kill <pid>)', 'npx'],
] as const) {
  test(`SIGTERM in the middle of a dump, ${who}: nothing left, nothing running`, async () => {
    const d = db();
    const bk = tempDir();
    const pidFile = path.join(tempDir(), 'pg_dump.pid');
    // Starts a dump, then hangs as a slow server would; its pid is the one to find gone afterwards.
    const bin = fakeBin({
      pg_dump: `#!/bin/sh\ncase "$*" in *--version*) exec ${REAL_PG_DUMP} "$@";; esac\necho $$ > ${pidFile}\nprintf -- '--\\n-- PostgreSQL database dump\\n--\\n'\nexec sleep 60\n`,
    });
    const env = baseEnv({ DATABASE_URL: d.url, BACKUP_DIR: bk, PATH: withPath(bin) });
    const child = spawn('npx', ['zx', 'scripts/backup-db.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.stdout.on('data', (c) => assert.fail(`printed ${c}`));
    // All of the run's output is in once every process holding its pipes has exited.
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
    for (let i = 0; i < 200 && !(fs.existsSync(pidFile) && ls(pgdir(bk)).some((n) => n.includes('.partial-'))); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ls(pgdir(bk)).some((n) => n.includes('.partial-')), 'the dump was under way');
    const dumper = Number(fs.readFileSync(pidFile, 'utf8'));
    process.kill(how === 'group' ? -child.pid! : child.pid!, 'SIGTERM');
    const [code, signal] = await closed;
    // npx either passes on the script's 143 or dies by the same signal: never a success.
    assert.ok(code === 143 || signal === 'SIGTERM', `${code} ${signal}: ${stderr}`);
    assert.match(stderr, how === 'group' ? /interrupted by SIGTERM; stopping and removing work in progress/ : /the process that started this run \(pid \d+\) is gone; stopping and removing work in progress/);
    assert.deepEqual(ls(pgdir(bk)), [], 'no partial file, no backup');
    assert.equal(alive(dumper), false, 'pg_dump was stopped with the script');
  });
}

test('the manifest describes the dump it was made from (rows, table of contents, bytes); a dump without its footer is refused', async () => {
  const d = db();
  const bk = tempDir();
  const b = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(b.code, 0, b.stderr);
  const file = b.stdout.trim();
  const m = JSON.parse(fs.readFileSync(file + '.manifest.json', 'utf8')).database;
  // Counted apart from the scanner that wrote the manifest: the server's own row counts, and the
  // dump in the file read back.
  assert.deepEqual(m.rows, {
    'shop.orders': Number(sql(d.name, 'SELECT count(*) FROM shop.orders')),
    'public.Weird "Name"': Number(sql(d.name, 'SELECT count(*) FROM public."Weird ""Name"""')),
  });
  const text = execFileSync('zstd', ['-d', '-c', '-q', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(m.dumpBytes, Buffer.byteLength(text));
  const toc: Record<string, number> = {};
  for (const [, type] of text.matchAll(/^-- Name: .*; Type: ([A-Z][A-Z ]*?); Schema: /gm)) toc[type!] = (toc[type!] ?? 0) + 1;
  assert.deepEqual(m.toc, toc);
  assert.ok(m.toc.TABLE >= 2 && m.toc.VIEW === 1, JSON.stringify(m.toc));

  const before = snapshotFiles(pgdir(bk));
  const nofooter = fakeBin({ pg_dump: fakes.nofooter });
  const cut = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk, PATH: withPath(nofooter) } });
  assert.equal(cut.code, 1, cut.stderr);
  assert.match(cut.stderr, /ends without "-- PostgreSQL database dump complete"/);
  assert.deepEqual(snapshotFiles(pgdir(bk)), before);
});

test('fault: unreachable server and missing database → exit 1 with the reason, no file', async () => {
  const bk = tempDir();
  const down = await runScript('backup-db', [], { env: { DATABASE_URL: 'postgres://postgres:Hunter2Secret@127.0.0.1:1/x', BACKUP_DIR: bk } });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach the database: .*(refused|connect)/i);
  assert.doesNotMatch(down.stderr + down.stdout, /Hunter2Secret/);
  const missing = await runScript('backup-db', [], { env: { DATABASE_URL: urlFor('cbt_no_such_db_x'), BACKUP_DIR: bk } });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /database "cbt_no_such_db_x" does not exist/);
  assert.deepEqual(ls(pgdir(bk)), []);
});

test('same-second backups never overwrite each other', async () => {
  const d = db();
  const bk = tempDir();
  const env = { DATABASE_URL: d.url, BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: '2026-11-28T02:00:00Z' };
  const runs = await Promise.all([runScript('backup-db', [], { env }), runScript('backup-db', [], { env }), runScript('backup-db', [], { env })]);
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(backups(bk), ['backup_2026_11_28T02_00_00-2.sql.zst', 'backup_2026_11_28T02_00_00-3.sql.zst', 'backup_2026_11_28T02_00_00.sql.zst']);
  assert.deepEqual(new Set(runs.map((r) => r.stdout.trim())).size, 3);
  for (const n of backups(bk)) execFileSync('zstd', ['-t', '-q', path.join(pgdir(bk), n)]);
});

test('the password never appears in any argv, log line or output', async () => {
  const d = db();
  const bk = tempDir();
  const secret = 'Pw-' + Math.random().toString(36).slice(2) + '-x';
  const seen = tempDir();
  // The check itself must not put the secret on a command line: grep reads it from a file.
  fs.writeFileSync(path.join(seen, 'secret'), secret + '\n');
  // pg_dump records what it was given: argv, and whether its own environment holds the password (PGPASSWORD).
  const bin = fakeBin({
    pg_dump: `#!/bin/sh\necho "$*" >> ${seen}/argv\nprintf '%s\\n' "$PGPASSWORD" | grep -qxFf ${seen}/secret && echo yes > ${seen}/pgpassword\n[ -n "$PGPASSFILE" ] && echo set > ${seen}/passfile\nexec ${REAL_PG_DUMP} "$@"\n`,
  });
  const tmpBefore = new Set(fs.readdirSync(os.tmpdir()));
  const hits: string[] = [];
  const poll = setInterval(() => {
    for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes(secret)) hits.push(cmd.replace(/\0/g, ' '));
      } catch {
        /* exited */
      }
    }
  }, 5);
  const r = await runScript('backup-db', [], { env: { DATABASE_URL: urlFor(d.name, secret), BACKUP_DIR: bk, PATH: withPath(bin) } });
  clearInterval(poll);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(hits, []);
  assert.ok(fs.existsSync(path.join(seen, 'pgpassword')), 'pg_dump got the password in its environment');
  assert.ok(!fs.existsSync(path.join(seen, 'passfile')), 'no password file that a killed run could leave behind');
  assert.deepEqual([...fs.readdirSync(os.tmpdir())].filter((n) => !tmpBefore.has(n) && n.startsWith('compose-backup-pg')), []);
  assert.doesNotMatch(fs.readFileSync(path.join(seen, 'argv'), 'utf8'), new RegExp(secret));
  assert.doesNotMatch(r.stdout + r.stderr, new RegExp(secret));
  const manifest = fs.readFileSync(r.stdout.trim() + '.manifest.json', 'utf8');
  assert.doesNotMatch(manifest, new RegExp(secret));
});

test('restore without --yes and no terminal: exit 3, nothing touched', async () => {
  const d = db();
  const bk = tempDir();
  const b = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  sql(d.name, 'DELETE FROM shop.orders WHERE id > 5');
  const before = dumpText(d.name);
  const r = await runScript('restore-db', [path.basename(b.stdout.trim())], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /confirmation needed and no terminal is attached; add --yes/);
  assert.equal(dumpText(d.name), before);
  assert.deepEqual(backups(bk).length, 1);
  assert.ok(!ls(pgdir(bk)).some((n) => n.startsWith('temp_before_restore')), 'no safety copy taken before confirmation');
  assert.deepEqual(databasesLike(d.name), [d.name], 'no scratch or safety database either');
  // The answer is known to be missing before any check reads the file: even a damaged one gets exit 3 at once.
  const damaged = path.join(pgdir(bk), 'backup_2020_01_01T00_00_00.sql.zst');
  fs.writeFileSync(damaged, 'not zstd');
  const early = await runScript('restore-db', [path.basename(damaged)], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(early.code, 3, early.stderr);
  assert.match(early.stderr, /confirmation needed and no terminal is attached; add --yes/);
  fs.rmSync(damaged);
});

test('two restores in the same second keep two safety databases (_2), each with what it replaced', async () => {
  const d = db();
  const bk = tempDir();
  const b = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(b.code, 0, b.stderr);
  const backedUp = dumpText(d.name);
  sql(d.name, 'DELETE FROM shop.orders WHERE id > 20');
  const first = dumpText(d.name);
  const env = { DATABASE_URL: d.url, BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: '2026-11-28T02:00:00Z' };
  const r1 = await runScript('restore-db', [b.stdout.trim(), '--yes', '--json'], { env });
  assert.equal(r1.code, 0, r1.stderr);
  sql(d.name, 'CREATE TABLE public.between_restores (x int)');
  const second = dumpText(d.name);
  const r2 = await runScript('restore-db', [b.stdout.trim(), '--yes', '--json'], { env });
  assert.equal(r2.code, 0, r2.stderr);
  const [o1, o2] = [JSON.parse(r1.stdout), JSON.parse(r2.stdout)];
  const base = `${d.name}_temp_before_restore_2026_11_28T02_00_00`;
  assert.deepEqual([o1.safetyDatabase, o1.safetyCopy, o2.safetyDatabase, o2.safetyCopy], [base, null, `${base}_2`, null]);
  assert.deepEqual(databasesLike(d.name), [d.name, base, `${base}_2`]);
  assert.equal(dumpText(base), first);
  assert.equal(dumpText(`${base}_2`), second);
  assert.equal(dumpText(d.name), backedUp);
});

test('restore.databaseSafetyCopy: dump takes a safety file, as before, and keeps no extra database', async () => {
  const d = db();
  const dir = tempDir();
  const bk = path.join(dir, 'backups');
  const cfg = writeConfig(dir, 'environments:\n  local:\n    backupDir: ./backups\n    restore: { databaseSafetyCopy: dump }\n');
  const b = await runScript('backup-db', ['--config', cfg], { env: { DATABASE_URL: d.url } });
  assert.equal(b.code, 0, b.stderr);
  const backedUp = dumpText(d.name);
  sql(d.name, 'DELETE FROM shop.orders WHERE id > 3');
  const replaced = dumpText(d.name);
  const r = await runScript('restore-db', [path.basename(b.stdout.trim()), '--yes', '--config', cfg], { env: { DATABASE_URL: d.url } });
  assert.equal(r.code, 0, r.stderr);
  const safety = r.stdout.trim();
  assert.equal(path.dirname(safety), pgdir(bk));
  assert.match(path.basename(safety), /^temp_before_restore_\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d\.sql\.zst$/);
  assert.ok(fs.existsSync(`${safety}.manifest.json`));
  assert.equal(JSON.parse(fs.readFileSync(`${safety}.manifest.json`, 'utf8')).database.rows['shop.orders'], 3);
  assert.deepEqual(databasesLike(d.name), [d.name], 'the replaced database was dropped');
  assert.equal(dumpText(d.name), backedUp);
  // The safety file is a backup like any other: restoring it brings back what was replaced.
  const back = await runScript('restore-db', [path.basename(safety), '--yes', '--json', '--config', cfg], { env: { DATABASE_URL: d.url } });
  assert.equal(back.code, 0, back.stderr);
  const out = JSON.parse(back.stdout);
  assert.equal(out.safetyDatabase, null);
  assert.match(out.safetyCopy, /temp_before_restore_.*\.sql\.zst$/);
  assert.equal(dumpText(d.name), replaced);
});

for (const [name, damage] of [
  ['truncated', (f: string) => fs.truncateSync(f, fs.statSync(f).size - 1024)],
  ['corrupted', (f: string) => {
    const buf = fs.readFileSync(f);
    const i = Math.floor(buf.length / 2);
    buf[i] = buf[i]! ^ 0xff;
    fs.writeFileSync(f, buf);
  }],
] as const) {
  test(`restore of a ${name} backup: exit 1, live database unchanged, no helper database left`, async () => {
    const d = db();
    sql(d.name, `INSERT INTO shop.orders (status, note) SELECT 'new', repeat(md5(g::text), 20) FROM generate_series(1, 3000) g`);
    const bk = tempDir();
    const b = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
    const file = b.stdout.trim();
    damage(file);
    sql(d.name, 'DELETE FROM shop.orders WHERE id > 100');
    const before = dumpText(d.name);
    const r = await runScript('restore-db', [file, '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /refusing to restore .*, nothing was changed: .*(sha256 mismatch|decompression)/);
    assert.equal(dumpText(d.name), before);
    assert.deepEqual(databasesLike(d.name), [d.name]);
  });
}

test('restore while a client holds a connection to the live database', async () => {
  const d = db();
  const bk = tempDir();
  const before = dumpText(d.name);
  const b = await runScript('backup-db', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  sql(d.name, 'TRUNCATE shop.orders');
  const client = spawn('psql', ['-X', '-d', d.name, '-c', 'SELECT pg_sleep(120)'], { env: { ...process.env, ...PG_ENV }, stdio: 'ignore' });
  const clientExit = new Promise<number | null>((res) => client.on('close', (c) => res(c)));
  for (let i = 0; i < 50 && sql('postgres', `SELECT count(*) FROM pg_stat_activity WHERE datname = '${d.name}'`) === '0'; i++) await new Promise((r) => setTimeout(r, 100));
  const r = await runScript('restore-db', [b.stdout.trim(), '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual(await clientExit, 0, 'the client session was ended');
  assert.equal(dumpText(d.name), before);
});

test('unsafe or unknown names: exit 2 before anything is touched', async () => {
  const d = db(false);
  sql(d.name, 'CREATE TABLE keep(x int); INSERT INTO keep VALUES (1)');
  const bk = tempDir();
  fs.mkdirSync(pgdir(bk), { recursive: true });
  fs.writeFileSync(path.join(pgdir(bk), 'notes.txt'), 'mine');
  for (const arg of ['../../etc/passwd', '/etc/passwd', 'notes.txt', 'backup_2024_01_15T14_30_00.sql.gz', 'media_backup_2024_01_15T14_30_00.tar.gz', 'backup_2024_13_15T14_30_00.sql.gz']) {
    const r = await runScript('restore-db', [arg, '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
    assert.equal(r.code, 2, `${arg}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.equal(sql(d.name, 'SELECT count(*) FROM keep'), '1');
  assert.deepEqual(ls(pgdir(bk)), ['notes.txt']);
});

test('a dump from a newer pg_dump than the server is refused', async () => {
  const d = db(false);
  const bk = tempDir();
  fs.mkdirSync(pgdir(bk), { recursive: true });
  const f = path.join(pgdir(bk), 'backup_2030_01_01T00_00_00.sql.gz');
  execFileSync('sh', ['-c', `printf -- '--\\n-- PostgreSQL database dump\\n--\\n\\n-- Dumped from database version 99.1\\n-- Dumped by pg_dump version 99.1\\n\\n--\\n-- Name: nope; Type: TABLE; Schema: public; Owner: postgres\\n--\\n\\nCREATE TABLE public.nope(x int);\\n--\\n-- PostgreSQL database dump complete\\n--\\n\\n' | gzip > ${f}`]);
  const r = await runScript('restore-db', [path.basename(f), '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /made by pg_dump 99, newer than the server \(15\)/);
  assert.equal(sql(d.name, "SELECT count(*) FROM pg_tables WHERE tablename = 'nope'"), '0');
});

test('compose mode through the docker stand-in: exact argv with -T, backup and restore', async () => {
  const d = db();
  const bk = tempDir();
  const proj = tempDir();
  fs.writeFileSync(path.join(proj, 'docker-compose.local.yml'), 'services:\n  postgres:\n    image: postgres:15\n  django:\n    image: app\n');
  const cfg = writeConfig(proj, `environments:\n  local:\n    backupDir: ${bk}\n    compose: { file: docker-compose.local.yml }\n    database: { mode: compose, service: postgres }\n`);
  const logFile = path.join(proj, 'docker.log');
  const env = { PATH: withPath(FIXTURE_BIN), STANDIN_LOG: logFile, STANDIN_POSTGRES_DB: d.name, STANDIN_POSTGRES_USER: 'postgres' };
  const before = dumpText(d.name);
  const b = await runScript('backup-db', ['--config', cfg], { env });
  assert.equal(b.code, 0, b.stderr);
  const calls = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => l.split('\x1f').slice(0, -1));
  assert.ok(calls.length >= 3);
  for (const c of calls) {
    assert.deepEqual(c.slice(0, 3), ['compose', '-f', path.join(proj, 'docker-compose.local.yml')]);
    assert.deepEqual(c.slice(3, 6), ['exec', '-T', 'postgres']);
  }
  assert.ok(calls.some((c) => c.includes('pg_dump') && c.includes('sh')), 'pg_dump ran in the service');
  sql(d.name, 'TRUNCATE shop.orders');
  const truncated = dumpText(d.name);
  fs.writeFileSync(logFile, '');
  const r = await runScript('restore-db', [b.stdout.trim(), '--yes', '--config', cfg], { env: { ...env, COMPOSE_BACKUP_NOW: '2026-11-28T02:00:00Z' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(dumpText(d.name), before);
  const safety = r.stdout.trim();
  assert.equal(safety, `${d.name}_temp_before_restore_2026_11_28T02_00_00`);
  assert.equal(dumpText(safety), truncated);
  const restoreCalls = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => l.split('\x1f').slice(0, -1));
  assert.ok(restoreCalls.every((c) => c[3] === 'exec' && c[4] === '-T' && c[5] === 'postgres'), 'every psql ran in the service');
  assert.ok(restoreCalls.some((c) => c.some((a) => a.includes(`RENAME TO "${safety}"`))), 'the swap ran in the service');

  // list-backups and prune reach the safety database through the service too.
  const list = await runScript('list-backups', ['--json', '--config', cfg], { env });
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout).filter((i: { role: string }) => i.role === 'safety-database').map((i: { name: string }) => i.name), [safety]);
  sql('postgres', `CREATE DATABASE "${d.name}_temp_before_restore_2026_01_01T00_00_00"`);
  writeConfig(proj, `environments:\n  local:\n    backupDir: ${bk}\n    compose: { file: docker-compose.local.yml }\n    database: { mode: compose, service: postgres }\n    retention: { snapshots: { keepLast: 1 } }\n`);
  fs.writeFileSync(logFile, '');
  const pr = await runScript('prune', ['--config', cfg], { env: { ...env, COMPOSE_BACKUP_NOW: '2026-11-28T03:00:00Z' } });
  assert.equal(pr.code, 0, pr.stderr);
  assert.ok(pr.stdout.trim().split('\n').includes(`${d.name}_temp_before_restore_2026_01_01T00_00_00`), pr.stdout);
  assert.deepEqual(databasesLike(d.name), [d.name, safety]);
  assert.ok(fs.readFileSync(logFile, 'utf8').includes('DROP DATABASE'), 'the drop ran in the service');

  const wrong = writeConfig(proj, `environments:\n  local:\n    backupDir: ${bk}\n    compose: { file: docker-compose.local.yml }\n    database: { mode: compose, service: db }\n`);
  const w = await runScript('backup-db', ['--config', wrong], { env });
  assert.equal(w.code, 2);
  assert.match(w.stderr, /database service "db" is not in .*docker-compose\.local\.yml; it has: postgres, django/);
});

test('--help prints usage and exits 0; unknown flags exit 2; invalid config exits 2 listing every problem', async () => {
  const h = await runScript('backup-db', ['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage: npx zx scripts\/backup-db\.ts/);
  const u = await runScript('list-backups', ['--frobnicate']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown flag --frobnicate/);
  const dir = tempDir();
  const cfg = writeConfig(dir, 'environments:\n  local:\n    compression: lz4\n    retention: { media: { keepDaily: -1 } }\n');
  const c = await runScript('list-backups', ['--config', cfg]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /environments\.local\.compression: .*environments\.local\.retention\.media\.keepDaily/);
});

test('a dump that passes verify but fails while loading: exit 1, live database unchanged, no helper database left', async () => {
  const d = db();
  const bk = tempDir();
  fs.mkdirSync(pgdir(bk), { recursive: true });
  // A well-formed dump (footer present, no manifest, only what pg_dump writes) with a statement
  // that fails half way through.
  const text = execFileSync('pg_dump', ['-d', d.name], { env: { ...process.env, ...PG_ENV }, encoding: 'utf8' });
  const at = text.indexOf('COPY shop.orders');
  const broken = text.slice(0, at) + 'ALTER TABLE shop.no_such_table OWNER TO postgres;\n' + text.slice(at);
  const f = path.join(pgdir(bk), 'backup_2031_01_01T00_00_00.sql.gz');
  fs.writeFileSync(f, execFileSync('gzip', ['-c'], { input: broken, maxBuffer: 1 << 26 }));
  sql(d.name, 'DELETE FROM shop.orders WHERE id > 7');
  const before = dumpText(d.name);
  const r = await runScript('restore-db', [path.basename(f), '--yes'], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /restore failed, database ".*" is unchanged: psql failed \(exit 3\): .*"shop.no_such_table" does not exist/);
  assert.equal(dumpText(d.name), before);
  assert.deepEqual(databasesLike(d.name), [d.name]);
});
