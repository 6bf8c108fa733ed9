// Offsite copies end to end: the real scripts, a real database and media folder, two targets (a
// folder, and S3 played by s3rver started by the test), age keys from age-keygen. The tests run in
// order and share the project: backups are pushed, listed, verified, fetched back, damaged at the
// target and caught, and finally the server is "lost" (backup folder, database, media) and
// recover.ts brings both back from the S3 copies, identical to what was backed up.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { envFolder } from '../../lib/core/offsite-names.ts';
import { ls, runScript, snapshotFiles, tempDir, type RunResult } from '../helpers/cli.ts';
import { describeTree, makeAwkwardTree, withoutSetIds } from '../helpers/media-tree.ts';
import { ageKeys, flipByte, sha256 } from '../helpers/offsite.ts';
import { createDb, dumpText, seedRichDb, sql, type TempDb } from '../helpers/pg.ts';
import { projectCopy, type ProjectCopy } from '../helpers/project-copy.ts';
import { S3_KEYS, startS3, type TestS3 } from '../helpers/s3.ts';

let db: TempDb;
let project: ProjectCopy;
let s3: TestS3;
let nas: string;
const keys = ageKeys();
/** The database and media as first backed up. */
let originalDb: string;
let originalMedia: ReturnType<typeof describeTree>;
let first: { db: string; media: string };

const media = () => path.join(project.dir, 'media');
const pg = () => path.join(project.backupDir, 'postgres');
const run = (script: string, args: string[], env: Record<string, string> = {}) =>
  runScript(script, [...args, '--config', project.configPath], { env: { ...S3_KEYS, ...env }, timeoutMs: 120_000 });
const explain = (r: RunResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const s3Object = (key: string) => s3.objectFile(`${envFolder('backups', 'local')}/${key}`);

before(async () => {
  s3 = await startS3();
  nas = tempDir('cbt-nas-');
  db = createDb('cbt_offsite');
  seedRichDb(db.name);
  project = projectCopy(
    [
      'environments:',
      '  local:',
      '    backupDir: ./backups',
      `    database: { mode: direct, url: ${JSON.stringify(db.url)} }`,
      '    media: { mode: host, path: ./media }',
      '    offsite:',
      '      nas:',
      '        kind: path',
      `        path: ${JSON.stringify(nas)}`,
      `        recipients: [${keys.recipient}]`,
      '        retention: { database: { keepLast: 1 } }',
      '      cloud:',
      '        kind: s3',
      `        endpoint: ${s3.endpoint}`,
      `        bucket: ${s3.bucket}`,
      '        prefix: backups',
      '        forcePathStyle: true',
      `        recipients: [${keys.recipient}]`,
      '',
    ].join('\n'),
    'cbt-offsite-',
  );
  fs.mkdirSync(media());
  makeAwkwardTree(media());
  originalDb = dumpText(db.name);
  originalMedia = describeTree(media());
});

after(async () => {
  await s3?.stop();
  db?.drop();
  project?.remove();
});

test('push-offsite sends every backup to every target, encrypted, and prints where each copy is; a second push sends nothing', async () => {
  const b = await run('backup-full', []);
  assert.equal(b.code, 0, explain(b));
  const [dbPath, mediaPath] = b.stdout.trim().split('\n');
  first = { db: path.basename(dbPath!), media: path.basename(mediaPath!) };
  const r = await run('push-offsite', []);
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(r.stdout.trim().split('\n').sort(), [
    `${nas}/local/media/${first.media}.age`,
    `${nas}/local/postgres/${first.db}.age`,
    `s3://${s3.bucket}/backups/local/media/${first.media}.age`,
    `s3://${s3.bucket}/backups/local/postgres/${first.db}.age`,
  ]);
  assert.match(r.stderr, /ok: nas \(.*\): pushed 2 copies/);
  assert.match(r.stderr, /ok: cloud \(s3:\/\/.*\): pushed 2 copies/);
  assert.doesNotMatch(r.stdout + r.stderr, /S3RVER/, 'the credentials never appear');
  for (const file of [path.join(nas, 'local/postgres', `${first.db}.age`), s3Object(`postgres/${first.db}.age`)]) {
    assert.equal(fs.readFileSync(file).subarray(0, 21).toString(), 'age-encryption.org/v1', `${file} is an age file`);
  }
  // Manifests are small text: armored, which age -d reads the same way.
  assert.match(fs.readFileSync(path.join(nas, 'local/postgres', `${first.db}.manifest.json.age`), 'utf8'), /^-----BEGIN AGE ENCRYPTED FILE-----\n/);
  const receipts = fs.readFileSync(path.join(project.backupDir, 'offsite/cloud.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(receipts.map((e) => [e.event, e.name, e.sha256 === sha256(fs.readFileSync(s3Object(e.key)))]).sort(), [
    ['pushed', first.db, true],
    ['pushed', first.media, true],
  ]);

  const again = await run('push-offsite', ['--to', 'cloud', '--json']);
  assert.equal(again.code, 0, explain(again));
  const [o] = JSON.parse(again.stdout);
  assert.deepEqual(o.pushed, []);
  assert.deepEqual(o.alreadyThere.sort(), [first.db, first.media]);
});

test('list-backups --offsite shows what is there and which backups are not yet pushed; verify --offsite checks it', async () => {
  const b = await run('backup-db', []);
  assert.equal(b.code, 0, explain(b));
  const newer = path.basename(b.stdout.trim());
  const r = await run('list-backups', ['--offsite', 'cloud', '--json']);
  assert.equal(r.code, 0, explain(r));
  const listing = JSON.parse(r.stdout);
  assert.deepEqual(listing.copies.map((c: { name: string; status: string; encrypted: boolean }) => [c.name, c.status, c.encrypted]).sort(), [
    [first.db, 'ok', true],
    [first.media, 'ok', true],
  ]);
  assert.deepEqual(listing.notPushed.map((n: { name: string; willPush: boolean }) => [n.name, n.willPush]), [[newer, true]]);

  // The cheap checks, the deep ones (download, decrypt, decompress) of the newest of each kind,
  // and the restore drill from the target (fetched into a scratch tree, restored into a throwaway
  // database and folder), in one run.
  const deep = await run('verify', ['--offsite', 'cloud', '--deep', '--drill', '--identity', keys.identityFile]);
  assert.equal(deep.code, 0, explain(deep));
  assert.match(deep.stdout, new RegExp(`^ok  ${first.db}  \\(complete, size and sha256 as pushed, downloaded, decrypted, decompression, plaintext sha256 against the manifest\\)$`, 'm'));
  assert.match(deep.stdout, new RegExp(`^ok  ${first.media}  \\(.*decrypted, decompression, plaintext sha256 against the manifest\\)$`, 'm'));
  assert.match(deep.stdout, new RegExp(`^ok  drill ${first.db}  \\(loaded without error, rows of \\d+ tables match the manifest`, 'm'));
  assert.match(deep.stdout, new RegExp(`^ok  drill ${first.media}  \\(unpacked without error`, 'm'));

  // The folder target keeps one database copy: pushing the newer one removes the older there.
  const p = await run('push-offsite', ['--to', 'nas']);
  assert.equal(p.code, 0, explain(p));
  assert.match(p.stderr, /pushed 1 copy .*removed 1 old copy/);
  assert.deepEqual(ls(path.join(nas, 'local/postgres')), [`${newer}.age`, `${newer}.age.sha256`, `${newer}.manifest.json.age`]);
  fs.rmSync(path.join(pg(), newer));
  fs.rmSync(path.join(pg(), `${newer}.manifest.json`));
});

test('download-backup --from fetches a copy back, decrypted and checked against its manifest', async () => {
  const file = path.join(pg(), first.db);
  const before = snapshotFiles(pg());
  fs.renameSync(file, `${file}.moved`);
  fs.renameSync(`${file}.manifest.json`, `${file}.manifest.json.moved`);
  const r = await run('download-backup', ['--from', 'cloud', 'postgres', first.db, '--identity', keys.identityFile]);
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.stdout.trim(), file);
  assert.equal(sha256(fs.readFileSync(file)), before[first.db]);
  assert.equal(sha256(fs.readFileSync(`${file}.manifest.json`)), before[`${first.db}.manifest.json`]);
  fs.rmSync(`${file}.moved`);
  fs.rmSync(`${file}.manifest.json.moved`);
  const again = await run('download-backup', ['--from', 'cloud', 'postgres', first.db, '--identity', keys.identityFile]);
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stderr, /already here, identical to the copy at cloud; nothing fetched/);
});

test('a flipped byte in a copy at the target: verify --offsite --deep fails and names it', async () => {
  const object = s3Object(`postgres/${first.db}.age`);
  flipByte(object);
  const r = await run('verify', ['--offsite', 'cloud', '--deep', '--identity', keys.identityFile]);
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stdout, new RegExp(`^FAIL  ${first.db}: sha256 mismatch: .*age -d failed: .*failed to decrypt`, 'm'));
  assert.match(r.stdout, new RegExp(`^ok  ${first.media} `, 'm'));
  assert.match(r.stderr, /error: 1 of 2 copies at cloud failed verification/);
  flipByte(object); // back as it was
});

test('recover: on an empty server (no backup folder, no database, no media folder) the S3 copies bring back both, identical', async () => {
  fs.rmSync(project.backupDir, { recursive: true });
  sql('postgres', `DROP DATABASE "${db.name}" WITH (FORCE)`);
  fs.rmSync(media(), { recursive: true });

  const noYes = await run('recover', ['--from', 'cloud', '--identity', keys.identityFile]);
  assert.equal(noYes.code, 3, explain(noYes));
  const noKey = await run('recover', ['--from', 'cloud', '--yes']);
  assert.equal(noKey.code, 2, explain(noKey));
  assert.match(noKey.stderr, /^error: recover needs the age identity: add --identity <file>/m);

  const r = await run('recover', ['--from', 'cloud', '--identity', keys.identityFile, '--yes']);
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(r.stdout.trim().split('\n'), [path.join(pg(), first.db), path.join(project.backupDir, 'media', first.media)]);
  assert.match(r.stderr, /ok: local recovered from cloud: database ".*" from backup_.*, media from media_backup_/);
  assert.equal(dumpText(db.name), originalDb, 'the database is what was backed up');
  // As restore-media brings a tree back: setuid/setgid bits are never restored.
  assert.deepEqual(describeTree(media()), withoutSetIds(originalMedia), 'the media folder is what was backed up');
});
