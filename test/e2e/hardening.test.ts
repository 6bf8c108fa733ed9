// The smaller promises of the hardening round, end to end: room for a scratch database checked
// up front, a full backup disk heard at once by Healthchecks.io (start, then /fail with the
// reason), bad config values as config errors (exit 2), and scheduled-backup --json.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createDb, databasesLike, dumpText, seedRichDb, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, withPath, writeConfig, FIXTURE_BIN } from '../helpers/cli.ts';
import { startHcServer } from '../helpers/hc-server.ts';

const dbs: TempDb[] = [];
const mounts: string[] = [];
after(() => {
  dbs.forEach((d) => d.drop());
  for (const m of mounts) execFileSync('umount', ['-l', m]);
});
function db(): TempDb {
  const d = createDb('cbt_hard');
  dbs.push(d);
  seedRichDb(d.name);
  return d;
}
/** A small filesystem of its own (tmpfs), for disks that fill up. */
function smallDisk(size: string): string {
  const dir = tempDir('cbt-disk-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

test('restore-db refuses up front when the database server has no room for the scratch database (compose mode)', async () => {
  const d = db();
  const proj = tempDir();
  const bk = path.join(proj, 'backups');
  fs.writeFileSync(path.join(proj, 'docker-compose.yml'), 'services:\n  postgres:\n    image: postgres:15\n');
  const cfg = writeConfig(proj, `environments:\n  local:\n    backupDir: ${bk}\n    compose: { file: docker-compose.yml }\n    database: { mode: compose, service: postgres }\n`);
  const env = { PATH: withPath(FIXTURE_BIN), STANDIN_POSTGRES_DB: d.name, STANDIN_POSTGRES_USER: 'postgres' };
  const b = await runScript('backup-db', ['--config', cfg], { env });
  assert.equal(b.code, 0, b.stderr);
  const live = dumpText(d.name);
  // The "container"'s data directory is a 16 MiB disk: less than the dump plus the 64 MiB margin.
  const r = await runScript('restore-db', [path.basename(b.stdout.trim()), '--yes', '--config', cfg], { env: { ...env, PGDATA: smallDisk('16m') } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /refusing to restore backup_.*: not enough free space in the database server's data directory: .* free, .* needed .*nothing was changed/);
  assert.equal(dumpText(d.name), live);
  assert.deepEqual(databasesLike(d.name), [d.name]);
});

test('a full backup disk: the start ping goes out first, then /fail with "no space left", exit 1', async () => {
  const d = db();
  const bk = smallDisk('1m');
  // Fill it to the last byte.
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${path.join(bk, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
  } catch {
    // dd stops with "No space left on device": the point.
  }
  const media = tempDir();
  const hc = await startHcServer('ok');
  after(() => hc.close());
  const r = await runScript('scheduled-backup', [], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk, MEDIA_DIR: media, HEALTHCHECKS_URL: hc.url } });
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(hc.pings.map((p) => p.kind), ['start', 'fail']);
  assert.equal(hc.pings[0]!.rid, hc.pings[1]!.rid);
  assert.match(hc.pings[1]!.body, /no space left on .*\(the disk is full\)/);
  assert.match(r.stderr, /no space left/);
});

test('bad config values are config errors (exit 2, one line), not crashes', async () => {
  const dir = tempDir();
  const bomb = writeConfig(dir, `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nenvironments: {}\n`);
  const notUrl = writeConfig(tempDir(), 'environments:\n  local:\n    healthchecks: { url: "not a url" }\n');
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--config', bomb], {}, /invalid YAML: .*alias/i],
    [['--config', notUrl], {}, /healthchecks\.url: not a URL/],
    [[], { DATABASE_URL: 'postgres://app:50%@127.0.0.1/x' }, /DATABASE_URL has a bad percent-escape in its password/],
  ];
  for (const [args, env, why] of cases) {
    const r = await runScript('backup-db', args, { env: { BACKUP_DIR: dir, ...env } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, why);
    assert.doesNotMatch(r.stderr, /unexpected|50%/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('scheduled-backup --json prints what the run did', async () => {
  const d = db();
  const bk = tempDir();
  const media = tempDir();
  fs.writeFileSync(path.join(media, 'a.txt'), 'a');
  const r = await runScript('scheduled-backup', ['--json'], { env: { DATABASE_URL: d.url, BACKUP_DIR: bk, MEDIA_DIR: media } });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; environment: string; steps: { step: string; status: string }[]; summary: string };
  assert.equal(out.ok, true);
  assert.equal(out.environment, 'local');
  assert.deepEqual(out.steps.map((s) => `${s.step} ${s.status}`), ['backup-db ok', 'backup-media ok', 'verify-db ok', 'verify-media ok', 'sanity ok', 'prune ok']);
  assert.match(out.summary, /^summary ok/);
});
