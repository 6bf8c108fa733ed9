// scheduled-backup end to end: a local HTTP server plays Healthchecks.io and records every ping.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createDb, seedRichDb, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, fakeBin, withPath, ls, writeConfig, ROOT } from '../helpers/cli.ts';
import { startHcServer } from '../helpers/hc-server.ts';
import { freePort } from '../helpers/sshd.ts';

const dbs: TempDb[] = [];
after(() => dbs.forEach((d) => d.drop()));

function setup(extraConfig = '') {
  const d = createDb('cbt_sched');
  dbs.push(d);
  seedRichDb(d.name);
  const dir = tempDir();
  const bk = path.join(dir, 'backups');
  const media = path.join(dir, 'media');
  fs.mkdirSync(path.join(media, 'photos'), { recursive: true });
  fs.writeFileSync(path.join(media, 'photos', 'a.jpg'), Buffer.alloc(4096, 7));
  // Short ping timeouts keep the "server misbehaves" cases quick; the bound is what is tested.
  const cfg = writeConfig(dir, `environments:\n  local:\n    healthchecks: { timeoutSeconds: 1, retries: 2, budgetSeconds: 4 }\n${extraConfig}`);
  return { d, dir, bk, media, cfg, env: { DATABASE_URL: d.url, BACKUP_DIR: bk, MEDIA_DIR: media } };
}
const logOf = (bk: string) => fs.readFileSync(path.join(bk, 'backup.log'), 'utf8');

test('start then success, same rid, the run log as body; one log line per step with time, duration, size', async () => {
  const s = setup();
  const hc = await startHcServer('ok');
  after(() => hc.close());
  const r = await runScript('scheduled-backup', ['--config', s.cfg], { env: { ...s.env, HEALTHCHECKS_URL: hc.url } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(hc.pings.map((p) => p.kind), ['start', 'success']);
  assert.equal(hc.pings[0]!.rid, hc.pings[1]!.rid);
  assert.match(hc.pings[0]!.rid ?? '', /^[0-9a-f-]{36}$/);
  assert.match(hc.pings[1]!.body, /backup-db ok .*backup_.*\.sql\.zst/);
  assert.match(hc.pings[1]!.body, /summary ok/);
  const log = logOf(s.bk);
  for (const stepName of ['backup-db', 'backup-media', 'verify-db', 'verify-media', 'prune']) {
    assert.match(log, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ ${stepName} ok \\d+:\\d\\d`, 'm'), stepName);
  }
  assert.match(log, /backup-db ok \d+:\d\d [\d.]+ (B|KiB|MiB) backup_/);
  assert.match(log, /summary ok/);
  assert.doesNotMatch(log + r.stderr, /0f6b2a3c-1d4e-4f5a-8b9c-0d1e2f3a4b5c/, 'the check URL never appears');
  assert.equal(ls(path.join(s.bk, 'postgres')).filter((n) => n.endsWith('.sql.zst')).length, 1);
  assert.equal(ls(path.join(s.bk, 'media')).filter((n) => n.endsWith('.tar.zst')).length, 1);
  assert.ok(!fs.existsSync(path.join(s.bk, '.scheduled-backup.lock')), 'lock released');
});

test('a failing pg_dump: fail ping with the error, exit 1, media still backed up, retention not run', async () => {
  const s = setup('    retention: { media: { keepLast: 1 } }\n');
  const hc = await startHcServer('ok');
  after(() => hc.close());
  // An old media backup that keepLast 1 would remove if prune ran.
  fs.mkdirSync(path.join(s.bk, 'media'), { recursive: true });
  const old = path.join(s.bk, 'media', 'media_backup_2020_01_01T00_00_00.tar.zst');
  fs.copyFileSync(path.join(ROOT, 'test/fixtures/empty.tar.zst'), old);
  const bin = fakeBin({ pg_dump: '#!/bin/sh\ncase "$*" in *--version*) echo "pg_dump (PostgreSQL) 15.20";; *) echo "pg_dump: error: permission denied for table secrets" >&2; exit 1;; esac\n' });
  const r = await runScript('scheduled-backup', ['--config', s.cfg], { env: { ...s.env, HEALTHCHECKS_URL: hc.url, PATH: withPath(bin) } });
  assert.equal(r.code, 1);
  assert.deepEqual(hc.pings.map((p) => p.kind), ['start', 'fail']);
  assert.match(hc.pings[1]!.body, /permission denied for table secrets/);
  assert.match(logOf(s.bk), /prune skipped .*because a step failed/);
  assert.ok(fs.existsSync(old), 'retention did not run');
  assert.equal(ls(path.join(s.bk, 'media')).filter((n) => /^media_backup_2\d{3}.*\.tar\.zst$/.test(n)).length, 2, 'media half still made');
  assert.match(logOf(s.bk), /summary FAILED .*failed: backup-db/);
});

for (const mode of ['error500', 'hang', 'refused', 'notfound'] as const) {
  test(`Healthchecks.io ${mode}: the backup still succeeds, exit 0, within the bound`, async () => {
    const s = setup();
    let url: string;
    let close = async () => {};
    if (mode === 'refused') {
      url = `http://127.0.0.1:${await freePort()}/ping/0f6b2a3c-1d4e-4f5a-8b9c-0d1e2f3a4b5c`;
    } else {
      const hc = await startHcServer(mode);
      url = hc.url;
      close = hc.close;
    }
    after(close);
    const started = Date.now();
    const r = await runScript('scheduled-backup', ['--config', s.cfg], { env: { ...s.env, HEALTHCHECKS_URL: url } });
    const took = Date.now() - started;
    assert.equal(r.code, 0, r.stderr);
    // Two pings, each bounded by budgetSeconds (4 s), plus the backup itself.
    assert.ok(took < 40_000, `took ${took} ms`);
    assert.match(logOf(s.bk), /summary ok/);
    assert.match(r.stderr, /ping|Healthchecks/i);
    assert.doesNotMatch(r.stderr + logOf(s.bk), /0f6b2a3c-1d4e-4f5a-8b9c-0d1e2f3a4b5c/);
  });
}

test('the ping body is trimmed to the server\'s Ping-Body-Limit, keeping the end of the log', async () => {
  const s = setup();
  const hc = await startHcServer('ok', { bodyLimit: 300 });
  after(() => hc.close());
  const r = await runScript('scheduled-backup', ['--config', s.cfg], { env: { ...s.env, HEALTHCHECKS_URL: hc.url } });
  assert.equal(r.code, 0, r.stderr);
  const body = hc.pings[1]!.body;
  assert.ok(Buffer.byteLength(body) <= 300, `${Buffer.byteLength(body)} bytes`);
  assert.match(body, /trimmed/);
  assert.match(body, /summary ok/);
});

test('two concurrent runs: one exits 75 and touches nothing; a run killed with SIGKILL leaves no final-named partial file', async () => {
  const s = setup();
  // The first run's pg_dump waits for a release file, so the second run surely finds the lock held.
  const release = path.join(s.dir, 'release');
  const bin = fakeBin({ pg_dump: `#!/bin/sh\ncase "$*" in *--version*) exec /usr/bin/pg_dump "$@";; esac\nfor i in $(seq 600); do [ -e ${release} ] && break; sleep 0.1; done\nexec /usr/bin/pg_dump "$@"\n` });
  const env = { ...s.env, PATH: withPath(bin) };
  const first = runScript('scheduled-backup', ['--config', s.cfg], { env });
  for (let i = 0; i < 100 && !fs.existsSync(path.join(s.bk, '.scheduled-backup.lock')); i++) await new Promise((r) => setTimeout(r, 100));
  const second = await runScript('scheduled-backup', ['--config', s.cfg], { env });
  assert.equal(second.code, 75, second.stderr);
  assert.match(second.stderr, /another run|lock/i);
  fs.writeFileSync(release, '');
  const a = await first;
  assert.equal(a.code, 0, a.stderr);
  assert.equal(ls(path.join(s.bk, 'postgres')).filter((n) => n.endsWith('.sql.zst')).length, 1);

  // Kill a run with SIGKILL in the middle of its dump: its lock and temporary file stay behind.
  fs.rmSync(release);
  const child = spawn('npx', ['zx', 'scripts/scheduled-backup.ts', '--config', s.cfg], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore', detached: true });
  for (let i = 0; i < 100 && !ls(path.join(s.bk, 'postgres')).some((n) => n.includes('.partial-')); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(ls(path.join(s.bk, 'postgres')).some((n) => n.includes('.partial-')), 'the run was killed mid-dump');
  process.kill(-child.pid!, 'SIGKILL');
  await new Promise((r) => child.on('close', r));
  assert.ok(fs.existsSync(path.join(s.bk, '.scheduled-backup.lock')), 'the killed run left its lock');
  const third = await runScript('scheduled-backup', ['--config', s.cfg], { env: s.env });
  assert.equal(third.code, 0, third.stderr);
  const names = ls(path.join(s.bk, 'postgres'));
  assert.ok(!names.some((n) => n.includes('.partial-')), `no partial file left: ${names}`);
  for (const n of names.filter((x) => x.endsWith('.sql.zst'))) assert.ok(fs.existsSync(path.join(s.bk, 'postgres', n + '.manifest.json')), `${n} is complete`);
});

test('under cron\'s bare environment (env -i, minimal PATH, cwd /) with the crontab\'s command', async () => {
  const s = setup();
  const cron = fs.readFileSync(path.join(ROOT, 'crontab.example'), 'utf8');
  const daily = cron.split('\n').find((l) => l.startsWith('0 2 * * *'))!;
  const command = daily.split(/\s+/).slice(5).join(' ').replace(' --env production', ` --config ${s.cfg}`).replace('>> backups/backup.log', `>> ${s.bk}/cron.out`);
  fs.mkdirSync(s.bk, { recursive: true });
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn('env', ['-i', 'PATH=/usr/bin:/bin', `HOME=${process.env.HOME}`, `APP=${ROOT}`, 'COMPOSE_BACKUP_ON_HOST=1', `DATABASE_URL=${s.d.url}`, `BACKUP_DIR=${s.bk}`, `MEDIA_DIR=${s.media}`, 'sh', '-c', command], { cwd: '/', stdio: 'ignore' });
    child.on('close', resolve);
  });
  assert.equal(code, 0, fs.existsSync(path.join(s.bk, 'cron.out')) ? fs.readFileSync(path.join(s.bk, 'cron.out'), 'utf8') : '');
  assert.match(logOf(s.bk), /summary ok/);
  assert.equal(fs.existsSync(path.join(s.bk, 'cron.out')) ? fs.readFileSync(path.join(s.bk, 'cron.out'), 'utf8') : '', '', '--quiet: nothing besides backup.log');
});

test('a manual operation with a configured check pings start and its exit status with its output', async () => {
  const hc = await startHcServer('ok');
  after(() => hc.close());
  const s = setup();
  fs.writeFileSync(s.cfg, `environments:\n  local:\n    healthchecks: { timeoutSeconds: 1, retries: 0, budgetSeconds: 2, checks: { backup-db: '${hc.url}' } }\n`);
  const ok = await runScript('backup-db', ['--config', s.cfg], { env: s.env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(hc.pings.map((p) => p.kind), ['start', 'success']);
  assert.match(hc.pings[1]!.body, /ok: backup_.*\.sql\.zst/);
  const bad = await runScript('backup-db', ['--config', s.cfg], { env: { ...s.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/x' } });
  assert.equal(bad.code, 1);
  assert.deepEqual(hc.pings.slice(2).map((p) => p.kind), ['start', '1']);
  assert.match(hc.pings[3]!.body, /cannot reach the database/);
  // Operations without a check send nothing.
  const list = await runScript('list-backups', ['--config', s.cfg], { env: s.env });
  assert.equal(list.code, 0);
  assert.equal(hc.pings.length, 4);
});
