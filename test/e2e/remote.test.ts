// Production over SSH end to end: the real scripts here, the system ssh client, a real OpenSSH
// sshd on loopback (test/helpers/sshd.ts), and a second copy of the project playing the
// production server, with its own config, backup tree and database. The tests run in order and
// share that server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { JUST, ROOT, baseEnv, ls, runScript, snapshotFiles, tempDir, type RunResult } from '../helpers/cli.ts';
import { createDb, dumpText, seedRichDb, sql, type TempDb } from '../helpers/pg.ts';
import { projectCopy, type ProjectCopy } from '../helpers/project-copy.ts';
import { freePort, startSshd, type TestSshd } from '../helpers/sshd.ts';

let sshd: TestSshd;
let server: ProjectCopy;
let laptop: ProjectCopy;
let newServer: ProjectCopy;
let remoteDb: TempDb;
let localDb: TempDb;
let newDb: TempDb;
/** The remote database as it was when first backed up. */
let original: string;
/** The backup the first test makes on the server. */
let backupName: string;

const serverPg = () => path.join(server.backupDir, 'postgres');
const laptopPg = () => path.join(laptop.backupDir, 'postgres');
const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const yamlString = (s: string) => JSON.stringify(s);

before(async () => {
  sshd = await startSshd();
  remoteDb = createDb('cbt_remote');
  seedRichDb(remoteDb.name);
  original = dumpText(remoteDb.name);
  localDb = createDb('cbt_local');
  newDb = createDb('cbt_new');
  // The server's config is what the laptop's would be, cloned: its ssh section names a variable
  // nobody sets there, which must not matter on the host itself.
  server = projectCopy(
    [
      'environments:',
      '  production:',
      '    ssh: { target: "${CBT_NEVER_SET_PRODUCTION_TARGET}", projectDir: /nowhere }',
      '    backupDir: ./backups',
      `    database: { mode: direct, url: ${yamlString(remoteDb.url)} }`,
      '    media: { mode: host, path: ./media }',
      '',
    ].join('\n'),
    'cbt-server-',
  );
  // A new server being rebuilt from backups: a fresh checkout, no backups, an empty database.
  newServer = projectCopy(
    ['environments:', '  production:', `    database: { mode: direct, url: ${yamlString(newDb.url)} }`, ''].join('\n'),
    'cbt-new-server-',
  );
  const ssh = (port: number, dir = server.dir, more = '') =>
    `{ target: ${sshd.target}, port: ${port}, identityFile: ${yamlString(sshd.identityFile)}, knownHostsFile: ${yamlString(sshd.knownHostsFile)}, projectDir: ${yamlString(dir)}, connectTimeout: 5${more} }`;
  laptop = projectCopy(
    [
      'environments:',
      '  local:',
      '    backupDir: ./backups',
      `    database: { mode: direct, url: ${yamlString(localDb.url)} }`,
      '  production:',
      `    ssh: ${ssh(sshd.port)}`,
      '  unreachable:',
      `    ssh: ${ssh(await freePort())}`,
      '  new-server:',
      // Called new-server here, production in its own config.
      `    ssh: ${ssh(sshd.port, newServer.dir, ', remoteEnv: production')}`,
      '',
    ].join('\n'),
    'cbt-laptop-',
  );
});

after(async () => {
  await sshd?.stop();
  remoteDb?.drop();
  localDb?.drop();
  newDb?.drop();
  server?.remove();
  newServer?.remove();
  laptop?.remove();
});

/** A script run from this checkout with the laptop's config named by --config (which the remote side must not see). */
const run = (script: string, args: string[], opts: Parameters<typeof runScript>[2] = {}) =>
  runScript(script, [...args, '--config', laptop.configPath], { timeoutMs: 90_000, ...opts });

const explain = (r: RunResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\nsshd: ${sshd.logs().slice(-2000)}`;

test('a production backup runs on the server: the file is made there, nothing here', async () => {
  const r = await run('backup-db', ['--env', 'production']);
  assert.equal(r.code, 0, explain(r));
  const made = r.stdout.trim();
  assert.equal(path.dirname(made), serverPg(), 'stdout is the remote run\'s result: the path on the server');
  backupName = path.basename(made);
  assert.match(backupName, /^backup_\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d\.sql\.zst$/);
  assert.deepEqual(ls(serverPg()), [backupName, `${backupName}.manifest.json`]);
  assert.equal(JSON.parse(fs.readFileSync(`${made}.manifest.json`, 'utf8')).database.rows['shop.orders'], 500);
  assert.deepEqual(ls(laptop.backupDir), []);
  assert.match(r.stderr, new RegExp(`backup-db on ${sshd.target.replace('.', '\\.')} \\(production`));
});

test('just production-list-backups lists the server\'s backups (flags pass through)', async () => {
  const r = await new Promise<RunResult>((resolve, reject) => {
    const child = spawn(JUST, ['--justfile', path.join(ROOT, 'justfile'), '--set', 'compose_backup', laptop.dir, 'production-list-backups', '--json'], {
      cwd: tempDir(),
      env: baseEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid! }));
  });
  assert.equal(r.code, 0, explain(r));
  const listed = JSON.parse(r.stdout) as { name: string; path: string; environment: string }[];
  assert.deepEqual(listed.map((b) => [b.name, b.path, b.environment]), [[backupName, path.join(serverPg(), backupName), 'production']]);
});

test('download: a checksum-verified copy and its manifest, not fetched twice, restorable here', async () => {
  const onServer = path.join(serverPg(), backupName);
  const copyName = `production_${backupName}`;
  const r = await run('download-backup', ['postgres', backupName, '--env', 'production']);
  assert.equal(r.code, 0, explain(r));
  const copy = path.join(laptopPg(), copyName);
  assert.equal(r.stdout.trim(), copy);
  assert.deepEqual(ls(laptopPg()), [copyName, `${copyName}.manifest.json`]);
  assert.equal(sha256(copy), sha256(onServer));
  assert.deepEqual(fs.readFileSync(`${copy}.manifest.json`), fs.readFileSync(`${onServer}.manifest.json`));
  assert.match(r.stderr, /size and sha256 match/);
  const inode = fs.statSync(copy).ino;

  const again = await run('download-backup', ['postgres', backupName, '--env', 'production', '--json']);
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stderr, /already here, identical/);
  assert.equal(JSON.parse(again.stdout).transferred, false);
  assert.equal(fs.statSync(copy).ino, inode, 'the existing copy was left alone');

  // The seed's monthly routine: the copy shows in the local list and restores into a local database.
  const list = await run('list-backups', ['--json']);
  assert.equal(list.code, 0, explain(list));
  assert.deepEqual(JSON.parse(list.stdout).map((b: { name: string; environment: string }) => [b.name, b.environment]), [[copyName, 'production']]);
  const restore = await run('restore-db', [copyName, '--yes']);
  assert.equal(restore.code, 0, explain(restore));
  assert.equal(dumpText(localDb.name), original);
});

test('a new server is rebuilt from the copy: upload (checked there), then restore there', async () => {
  const copyName = `production_${backupName}`;
  const copy = path.join(laptopPg(), copyName);
  const up = await run('upload-backups', [copyName, '--env', 'new-server']);
  assert.equal(up.code, 0, explain(up));
  const arrived = path.join(newServer.backupDir, 'postgres', copyName);
  assert.equal(up.stdout.trim(), arrived);
  assert.match(up.stderr, /received: .*size and sha256 match/);
  assert.deepEqual(ls(path.dirname(arrived)), [copyName, `${copyName}.manifest.json`]);
  assert.equal(sha256(arrived), sha256(copy));
  assert.deepEqual(fs.readFileSync(`${arrived}.manifest.json`), fs.readFileSync(`${copy}.manifest.json`));

  const restore = await run('restore-db', [copyName, '--env', 'new-server', '--yes']);
  assert.equal(restore.code, 0, explain(restore));
  assert.equal(dumpText(newDb.name), original);
});

test('an interrupted download leaves nothing with a final name; a different local copy is never replaced', async () => {
  const name = 'backup_2020_01_01T00_00_00.sql.zst';
  const copyName = `production_${name}`;
  const big = path.join(serverPg(), name);
  fs.writeFileSync(big, crypto.randomBytes(64 * 1024 * 1024));
  try {
    let killed = false;
    let poll: NodeJS.Timeout | undefined;
    const running = run('download-backup', ['postgres', name, '--env', 'production']);
    // Kill the connections once the copy is well under way.
    poll = setInterval(() => {
      const partial = ls(laptopPg()).find((n) => n.startsWith(`.${copyName}.partial-`));
      const size = partial ? fs.statSync(path.join(laptopPg(), partial), { throwIfNoEntry: false })?.size ?? 0 : 0;
      if (!killed && size > 4 * 1024 * 1024) {
        killed = true;
        clearInterval(poll);
        void sshd.killConnections();
      }
    }, 10);
    const r = await running.finally(() => clearInterval(poll));
    assert.ok(killed, `the transfer was never seen under way: ${explain(r)}`);
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stderr, /lost the connection to .* while downloading backup_2020_01_01T00_00_00\.sql\.zst; nothing was kept/);
    assert.ok(!ls(laptopPg()).some((n) => n.includes(name)), `left behind: ${ls(laptopPg()).join(', ')}`);

    fs.writeFileSync(path.join(laptopPg(), copyName), 'not the same backup');
    const before = snapshotFiles(laptopPg());
    const conflict = await run('download-backup', ['postgres', name, '--env', 'production']);
    assert.equal(conflict.code, 1, explain(conflict));
    assert.match(conflict.stderr, /already exists and is not the backup on .*never replaced/);
    assert.deepEqual(snapshotFiles(laptopPg()), before);
  } finally {
    fs.rmSync(big, { force: true });
    fs.rmSync(path.join(laptopPg(), copyName), { force: true });
  }
});

test('a remote restore is confirmed here first: refused without a terminal or --yes, done with --yes', async () => {
  sql(remoteDb.name, 'DELETE FROM shop.orders WHERE id > 10; CREATE TABLE shop.extra (x int);');
  const changed = dumpText(remoteDb.name);
  const serverFiles = snapshotFiles(serverPg());

  const refused = await run('restore-db', [backupName, '--env', 'production']);
  assert.equal(refused.code, 3, explain(refused));
  assert.match(refused.stderr, /This replaces the database on .*127\.0\.0\.1 \(production\) with backup_.*add --yes/);
  assert.doesNotMatch(refused.stderr, /restore-db on /, 'nothing was started on the server');
  assert.equal(dumpText(remoteDb.name), changed);
  assert.deepEqual(snapshotFiles(serverPg()), serverFiles);

  const done = await run('restore-db', [backupName, '--env', 'production', '--yes']);
  assert.equal(done.code, 0, explain(done));
  assert.equal(dumpText(remoteDb.name), original);
  // The replaced database is kept on the server, and its name reported from there.
  const safety = done.stdout.trim();
  assert.match(safety, new RegExp(`^${remoteDb.name}_temp_before_restore_\\d{4}_\\d\\d_\\d\\dT\\d\\d_\\d\\d_\\d\\d$`));
  assert.equal(dumpText(safety), changed);
});

test('exit codes: the remote one passes through, a lost host is 1 with a clear line, bad names never connect', async () => {
  const missing = await run('restore-db', ['backup_2019_01_01T00_00_00.sql.zst', '--env', 'production', '--yes']);
  assert.equal(missing.code, 2, explain(missing));
  assert.match(missing.stderr, /no such backup: .*backup_2019_01_01T00_00_00\.sql\.zst/);

  const unreachable = await run('list-backups', ['--env', 'unreachable']);
  assert.equal(unreachable.code, 1, explain(unreachable));
  assert.match(unreachable.stderr, /Connection refused/);
  assert.match(unreachable.stderr, /^error: ssh to .*127\.0\.0\.1 failed \(exit 255\): it could not connect.*check with: ssh /m);

  // Against the unreachable host: a connection attempt would end in exit 1, not 2.
  for (const [script, args] of [
    ['restore-db', ['../../etc/passwd', '--yes']],
    ['download-backup', ['postgres', `../${backupName}`]],
  ] as const) {
    const r = await run(script, [...args, '--env', 'unreachable']);
    assert.equal(r.code, 2, `${script} ${args.join(' ')}: ${explain(r)}`);
    assert.doesNotMatch(r.stderr, /ssh|Connection refused/);
  }
});
