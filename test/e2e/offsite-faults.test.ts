// Offsite copies when things go wrong, end to end: the S3 server dies in the middle of an upload
// (a recording proxy in front of s3rver kills it once part of the copy has gone through), wrong
// credentials, a missing bucket, and the scheduled run: its push step says what it pushed, and a
// push that fails fails the run (exit 1, a /fail ping) with the local backups left as they are.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { collectCopies } from '../../lib/core/offsite-names.ts';
import { openS3 } from '../../lib/offsite/s3.ts';
import { runScript, snapshotFiles, type RunResult } from '../helpers/cli.ts';
import { startHcServer, type HcServer } from '../helpers/hc-server.ts';
import { ageKeys } from '../helpers/offsite.ts';
import { createDb, sql, type TempDb } from '../helpers/pg.ts';
import { projectCopy, type ProjectCopy } from '../helpers/project-copy.ts';
import { S3_KEYS, startLockProxy, startS3, type LockProxy, type TestS3 } from '../helpers/s3.ts';

let db: TempDb;
let project: ProjectCopy;
let s3: TestS3;
let proxy: LockProxy;
let hc: HcServer;
const keys = ageKeys();

const run = (script: string, args: string[], env: Record<string, string> = {}) =>
  runScript(script, [...args, '--config', project.configPath], { env: { ...S3_KEYS, ...env }, timeoutMs: 120_000 });
const explain = (r: RunResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const target = (name: string, more: string[] = []) => [
  `      ${name}:`,
  '        kind: s3',
  `        endpoint: ${proxy.endpoint}`,
  '        forcePathStyle: true',
  `        recipients: [${keys.recipient}]`,
  ...more.map((l) => `        ${l}`),
];

before(async () => {
  s3 = await startS3();
  proxy = await startLockProxy(s3.endpoint, s3.bucket);
  hc = await startHcServer();
  db = createDb('cbt_offsite_faults');
  sql(db.name, 'CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 200) g');
  const config = (offsite: string[]) =>
    [
      '  local:',
      '    backupDir: ./backups',
      `    database: { mode: direct, url: ${JSON.stringify(db.url)} }`,
      '    media: { mode: host, path: ./media }',
      `    healthchecks: { url: ${JSON.stringify(hc.url)}, retries: 0 }`,
      '    offsite:',
      ...offsite,
    ].join('\n');
  project = projectCopy(
    [
      'environments:',
      config(target('cloud', [`bucket: ${s3.bucket}`])),
      // The same project seen through other targets: one bucket missing.
      config(target('nowhere', ['bucket: no-such-bucket'])).replace('  local:', '  missing:'),
      '',
    ].join('\n'),
    'cbt-offsite-faults-',
  );
  // Random bytes do not compress: the media backup is ~12 MiB, an upload of two parts.
  fs.mkdirSync(path.join(project.dir, 'media'));
  fs.writeFileSync(path.join(project.dir, 'media', 'big.bin'), crypto.randomBytes(12 * 1024 * 1024));
});

after(async () => {
  await proxy?.close();
  await s3?.stop();
  await hc?.close();
  db?.drop();
  project?.remove();
});

const copiesAtCloud = async () => collectCopies(await openS3({ ...cloudTarget(), endpoint: s3.endpoint }, 'local').list()).copies.map((c) => c.name);
function cloudTarget() {
  return {
    kind: 's3' as const,
    name: 'cloud',
    bucket: s3.bucket,
    prefix: '',
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    immutableMode: 'compliance' as const,
    encryption: 'age' as const,
    recipients: [keys.recipient],
    retention: { database: {}, media: {} },
  };
}

test('the scheduled run pushes after prune, and its log and ping say what was pushed', async () => {
  const r = await run('scheduled-backup', []);
  assert.equal(r.code, 0, explain(r));
  const log = fs.readFileSync(path.join(project.backupDir, 'backup.log'), 'utf8');
  assert.match(log, /Z offsite-cloud ok \d+:\d\d pushed 2 copies \([\d.]+ MiB\): backup_\S+\.sql\.zst, media_backup_\S+\.tar\.zst\n/);
  assert.ok(log.indexOf(' prune ok ') < log.indexOf(' offsite-cloud ok '), 'after prune');
  const end = hc.pings.at(-1)!;
  assert.equal(end.kind, 'success');
  assert.match(end.body, /offsite-cloud ok .* pushed 2 copies/);
  assert.equal((await copiesAtCloud()).length, 2);
});

// s3rver checks the access key's id, not signatures (a wrong secret passes there): the wrong key is an unknown id.
const WRONG = { AWS_ACCESS_KEY_ID: 'NOT-THE-KEY', AWS_SECRET_ACCESS_KEY: 'not-the-secret' };

test('wrong credentials: one clear line, exit 1, nothing changed; and the scheduled run fails with a /fail ping, its new backups kept', async () => {
  const before = snapshotFiles(path.join(project.backupDir, 'postgres'));
  const r = await run('push-offsite', [], WRONG);
  assert.equal(r.code, 1, explain(r));
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, /the storage refused the credentials \(InvalidAccessKeyId\); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  assert.doesNotMatch(r.stderr, /not-the-secret|NOT-THE-KEY/);
  assert.deepEqual(snapshotFiles(path.join(project.backupDir, 'postgres')), before);

  const pings = hc.pings.length;
  const dumps = () => fs.readdirSync(path.join(project.backupDir, 'postgres')).filter((n) => n.endsWith('.sql.zst')).length;
  const had = dumps();
  const s = await run('scheduled-backup', [], WRONG);
  assert.equal(s.code, 1, explain(s));
  assert.equal(dumps(), had + 1, 'the run\'s new backup is kept');
  const end = hc.pings.slice(pings).at(-1)!;
  assert.equal(end.kind, 'fail');
  assert.match(end.body, /error: offsite-cloud failed .*the storage refused the credentials/);
  assert.match(end.body, /summary FAILED .*failed: offsite-cloud/);
  assert.doesNotMatch(end.body, /not-the-secret|NOT-THE-KEY/);
});

test('a missing bucket: one clear line, exit 1', async () => {
  const r = await run('push-offsite', ['--env', 'missing']);
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stderr, /^error: .*bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+; create it, or fix offsite\.nowhere\.bucket$/m);
});

test('the S3 server dies in the middle of an upload: nothing under a final name, and the next push completes', async () => {
  const b = await run('backup-media', []);
  assert.equal(b.code, 0, explain(b));
  const name = path.basename(b.stdout.trim());
  let killed: Promise<void> | null = null;
  proxy.onUploadBytes = (total) => {
    if (total > 4 * 1024 * 1024 && !killed) killed = s3.kill();
  };
  const r = await run('push-offsite', []);
  proxy.onUploadBytes = null;
  assert.ok(killed, 'the server was killed mid-upload');
  await killed;
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stderr, new RegExp(`error: .*${name.replaceAll('.', '\\.')}`));
  await s3.restart();
  assert.ok(!(await copiesAtCloud()).includes(name), 'no copy of it under its name');
  const again = await run('push-offsite', []);
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stderr, new RegExp(`ok: cloud .*pushed .*${name.replaceAll('.', '\\.')}`));
  assert.ok((await copiesAtCloud()).includes(name));
  const v = await run('verify', ['--offsite', 'cloud', name, '--deep', '--identity', keys.identityFile]);
  assert.equal(v.code, 0, explain(v));
});

test('a push killed (SIGKILL) between the upload and its checksum record: the copy counts as incomplete, and the next push completes it', async () => {
  const b = await run('backup-db', []);
  assert.equal(b.code, 0, explain(b));
  const name = path.basename(b.stdout.trim());
  const killed = await runScript('push-offsite', ['--config', project.configPath], { env: { ...S3_KEYS, COMPOSE_BACKUP_CRASH_AT: 'push-offsite:staged' }, newGroup: true, timeoutMs: 120_000 });
  assert.equal(killed.signal, 'SIGKILL', explain(killed));
  const listed = await run('list-backups', ['--offsite', 'cloud', '--json']);
  const copy = JSON.parse(listed.stdout).copies.find((c: { name: string }) => c.name === name);
  assert.equal(copy?.status, 'no checksum record (an interrupted push)', listed.stdout);
  const again = await run('push-offsite', []);
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stderr, new RegExp(`ok: cloud .*pushed 1 copy .*${name.replaceAll('.', '\\.')}`));
  const after = JSON.parse((await run('list-backups', ['--offsite', 'cloud', '--json'])).stdout);
  assert.equal(after.copies.find((c: { name: string }) => c.name === name)?.status, 'ok');
});
