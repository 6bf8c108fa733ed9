// The conformance suite against S3, run against s3rver (npm) started on a free loopback port, and
// what only S3 has: the bytes stored being exactly the bytes sent (flexible checksums off), Object
// Lock (through a recording proxy, since s3rver ignores lock headers), an aborted multipart upload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { OffsiteTarget } from '../../../lib/config/resolve.ts';
import { collectCopies, copyKeys, envFolder } from '../../../lib/core/offsite-names.ts';
import { pruneTarget } from '../../../lib/offsite/prune.ts';
import { pushToTarget } from '../../../lib/offsite/push.ts';
import { openS3 } from '../../../lib/offsite/s3.ts';
import { tempDir } from '../../helpers/cli.ts';
import { ageKeys, flipByte, makeBackup, sha256 } from '../../helpers/offsite.ts';
import { S3_KEYS, startLockProxy, startS3, type LockProxy, type TestS3 } from '../../helpers/s3.ts';
import { conformance } from './conformance.ts';

let s3: TestS3;
let proxy: LockProxy;
const keys = ageKeys();
const PREFIX = 'team/app';

before(async () => {
  s3 = await startS3();
  proxy = await startLockProxy(s3.endpoint, s3.bucket);
});
after(async () => {
  await proxy?.close();
  await s3?.stop();
});

type S3Target = Extract<OffsiteTarget, { kind: 's3' }>;
const target = (retention: OffsiteTarget['retention'] = { database: {}, media: {} }, more: Partial<S3Target> = {}): S3Target => ({
  kind: 's3',
  name: 's3',
  bucket: s3.bucket,
  prefix: PREFIX,
  endpoint: s3.endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  accessKeyId: S3_KEYS.AWS_ACCESS_KEY_ID,
  secretAccessKey: S3_KEYS.AWS_SECRET_ACCESS_KEY,
  immutableMode: 'compliance',
  encryption: 'age',
  recipients: [keys.recipient],
  retention,
  ...more,
});
const objectFile = (env: string, key: string) => s3.objectFile(`${envFolder(PREFIX, env)}/${key}`);

conformance('s3', () => ({
  target,
  keys,
  stored: (env, key) => fs.readFileSync(objectFile(env, key)),
  tamper: (env, key) => flipByte(objectFile(env, key)),
}));

test('s3: what the server stores is exactly the ciphertext that was hashed (no aws-chunked framing), for a single PUT and a multipart upload', async () => {
  const backupDir = tempDir('cbt-offsite-tree-');
  const small = makeBackup(backupDir, 'database', '2026_06_01T02_00_00', 10_000);
  // Random bytes do not compress: over one part (8 MiB), so this one goes up in parts.
  const big = makeBackup(backupDir, 'media', '2026_06_01T02_00_00', 20 * 1024 * 1024);
  const store = openS3(target(), 'exact-bytes');
  const o = await pushToTarget(store, { backupDir }, () => new Date(), { prune: false });
  assert.equal(o.pushed.length, 2);
  for (const b of [small, big]) {
    const keysOf = copyKeys(b, true);
    const stored = fs.readFileSync(objectFile('exact-bytes', keysOf.data));
    const record = fs.readFileSync(objectFile('exact-bytes', keysOf.checksum), 'utf8');
    // The record is the sha256 of the bytes as they left this machine: equal, they arrived unchanged.
    assert.equal(record, `${sha256(stored)}  ${keysOf.data.split('/')[1]}\n`, `${b.name}: the stored bytes are the ones sent`);
  }
});

test('s3: Object Lock: every object of a copy is written with the lock headers and a checksum; prune keeps a locked copy and never sends its delete', async () => {
  const backupDir = tempDir('cbt-offsite-tree-');
  const older = makeBackup(backupDir, 'database', '2026_06_02T02_00_00');
  const newer = makeBackup(backupDir, 'database', '2026_06_03T02_00_00');
  const before = Date.now();
  await pushToTarget(openS3(target(undefined, { endpoint: proxy.endpoint, immutableDays: 30 }), 'locked'), { backupDir }, () => new Date(), { prune: false });
  const store = openS3(target({ database: { keepLast: 1 }, media: {} }, { endpoint: proxy.endpoint, immutableDays: 30 }), 'locked');
  const writes = proxy.requests.filter((r) => r.method === 'PUT' || (r.method === 'POST' && r.query.includes('uploads')));
  assert.ok(writes.length >= 6, `data, record and manifest of two copies: ${writes.length}`);
  for (const w of writes) {
    assert.equal(w.headers['x-amz-object-lock-mode'], 'COMPLIANCE', `${w.method} ${w.key}`);
    const until = new Date(String(w.headers['x-amz-object-lock-retain-until-date'])).getTime();
    assert.ok(until >= before + 29 * 86_400_000 && until <= Date.now() + 31 * 86_400_000, `${w.key}: retain until ${until}`);
    assert.ok(w.headers['content-md5'] || Object.keys(w.headers).some((h) => h.startsWith('x-amz-checksum-')), `${w.key}: S3 wants a checksum with a retention period`);
  }
  const plan = await pruneTarget(store, { backupDir }, new Date(), { dryRun: false });
  const kept = plan.plan.groups.flatMap((g) => g.entries).find((e) => e.file.name === older.name)!;
  assert.equal(kept.action, 'keep');
  assert.match(kept.reasons.join(), /^locked until \d{4}-\d\d-\d\d \(Object Lock\)$/);
  assert.deepEqual(plan.removed, []);
  assert.deepEqual(proxy.requests.filter((r) => r.method === 'DELETE'), [], 'no delete was even tried');
  assert.deepEqual(collectCopies(await store.list()).copies.map((c) => c.name), [newer.name, older.name]);
  // Once its date has passed, the same copy goes.
  const later = new Date(Date.now() + 31 * 86_400_000);
  for (const k of proxy.locks.keys()) proxy.locks.set(k, { mode: 'COMPLIANCE', until: new Date(Date.now() - 1000) });
  const done = await pruneTarget(store, { backupDir }, later, { dryRun: false });
  assert.deepEqual(done.removed, [older.name]);
});

test('s3: an upload that fails is aborted (its parts do not linger), and nothing is left under its name', async () => {
  const store = openS3(target(undefined, { endpoint: proxy.endpoint }), 'aborted');
  const keysOf = copyKeys({ name: 'media_backup_2026_06_04T02_00_00.tar.zst', kind: 'media' }, true);
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= 20 << 20) return void this.destroy(new Error('the encryption stage died'));
      sent += 1 << 20;
      this.push(Buffer.alloc(1 << 20, 3));
    },
  });
  await assert.rejects(store.stage(keysOf, body, { sizeHint: 40 << 20, lock: null }), /the encryption stage died/);
  const aborts = proxy.requests.filter((r) => r.answered === 'abort');
  assert.equal(aborts.length, 1);
  assert.equal(aborts[0]!.key, `${envFolder(PREFIX, 'aborted')}/${keysOf.data}`);
  assert.deepEqual(await store.list(), []);
});

test('s3: the next push aborts the unfinished uploads a killed push left, once they are a day old, and only those of its folder', async () => {
  const folder = envFolder(PREFIX, 'swept');
  proxy.unfinished = [
    { key: `${folder}/media/media_backup_2026_06_05T02_00_00.tar.zst.age`, uploadId: 'old-one', initiated: new Date(Date.now() - 2 * 86_400_000) },
    { key: `${folder}/media/media_backup_2026_06_06T02_00_00.tar.zst.age`, uploadId: 'in-progress', initiated: new Date(Date.now() - 3600_000) },
    { key: `${envFolder(PREFIX, 'elsewhere')}/media/x.age`, uploadId: 'not-ours', initiated: new Date(Date.now() - 9 * 86_400_000) },
  ];
  const before = proxy.requests.length;
  const o = await pushToTarget(openS3(target(undefined, { endpoint: proxy.endpoint }), 'swept'), { backupDir: tempDir('cbt-offsite-tree-') }, () => new Date(), { prune: false });
  proxy.unfinished = [];
  assert.deepEqual(o.swept, ['media/media_backup_2026_06_05T02_00_00.tar.zst.age (unfinished upload old-one)']);
  const aborts = proxy.requests.slice(before).filter((r) => r.answered === 'abort');
  assert.deepEqual(aborts.map((r) => new URLSearchParams(r.query).get('uploadId')), ['old-one']);
});
