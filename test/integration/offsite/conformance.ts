// One suite for every kind of offsite target (as restic tests its backends): the same cases run
// against a folder (path), a host over ssh (the loopback sshd) and S3 (s3rver). Each case works in
// its own environment folder at the target, so the cases do not see each other's objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { OffsiteTarget } from '../../../lib/config/resolve.ts';
import { collectCopies, copyKeys, type RemoteCopy } from '../../../lib/core/offsite-names.ts';
import { copyIncomplete } from '../../../lib/core/offsite-plan.ts';
import { checkTarget } from '../../../lib/offsite/check.ts';
import { fetchCopy } from '../../../lib/offsite/fetch.ts';
import { pruneTarget } from '../../../lib/offsite/prune.ts';
import { pushToTarget } from '../../../lib/offsite/push.ts';
import { openStore, type OffsiteStore } from '../../../lib/offsite/store.ts';
import { tempDir } from '../../helpers/cli.ts';
import { makeBackup, sha256, type AgeKeys } from '../../helpers/offsite.ts';

export interface KindUnderTest {
  /** The target, with the recipients of `keys`, as the config would resolve it (name: the kind). */
  target: (retention?: OffsiteTarget['retention']) => OffsiteTarget;
  keys: AgeKeys;
  /** The bytes the target holds for `key` of environment `env`, read there directly (not through the store). */
  stored: (env: string, key: string) => Buffer;
  /** Flip a byte of the stored object, there directly. */
  tamper: (env: string, key: string) => void;
}

const RETAIN_ALL = { database: {}, media: {} };

async function storeFor(k: KindUnderTest, env: string, retention = RETAIN_ALL): Promise<OffsiteStore> {
  return openStore(k.target(retention), env);
}

/** A body that sends some bytes, then fails (a reader or an encryption stage dying halfway). */
function failingBody(bytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) {
        this.destroy(new Error('the source broke halfway'));
        return;
      }
      sent += 64 * 1024;
      this.push(Buffer.alloc(64 * 1024, 7));
    },
  });
}

const copiesIn = async (store: OffsiteStore): Promise<RemoteCopy[]> => collectCopies(await store.list()).copies;
const now = () => new Date();

export function conformance(kind: string, get: () => KindUnderTest): void {
  test(`${kind}: small objects are written and read back exactly; listing covers this environment only`, async () => {
    const k = get();
    const a = await storeFor(k, 'small-a');
    const b = await storeFor(k, 'small-b');
    const data = Buffer.from([0, 1, 2, 250, 255, 10, 13, 0]);
    await a.writeSmall('postgres/x.bin', data, null);
    await b.writeSmall('media/y.txt', 'y\n', null);
    assert.deepEqual(await a.read('postgres/x.bin'), data);
    assert.deepEqual((await a.list()).map((o) => [o.key, o.size]), [['postgres/x.bin', 8]]);
    assert.deepEqual((await b.list()).map((o) => o.key), ['media/y.txt']);
    await a.remove('postgres/x.bin');
    assert.deepEqual(await a.list(), []);
  });

  test(`${kind}: a copy counts only once committed; its bytes there are exactly what was sent (9 MiB)`, async () => {
    const k = get();
    const store = await storeFor(k, 'exact');
    const name = { name: 'backup_2026_01_02T03_04_05.sql.zst', kind: 'database' as const };
    const keys = copyKeys(name, true);
    const data = Buffer.concat([Buffer.alloc(9 * 1024 * 1024 - 3, 1), Buffer.from('end')]);
    for (let i = 0; i < data.length; i += 4096) data[i] = i % 251;
    const staged = await store.stage(keys, Readable.from([data.subarray(0, 5_000_000), data.subarray(5_000_000)]), { sizeHint: data.length, lock: null });
    const before = (await copiesIn(store)).find((c) => c.name === name.name);
    assert.ok(!before || copyIncomplete(before), 'before commit, no complete copy is listed');
    await staged.commit(`${sha256(data)}  ${path.posix.basename(keys.data)}\n`);
    const [copy] = await copiesIn(store);
    assert.equal(copy?.name, name.name);
    assert.equal(copy?.size, data.length);
    assert.equal(copy?.hasChecksum, true);
    assert.ok(k.stored('exact', keys.data).equals(data), 'the stored bytes are exactly the ones sent');
    const read: Buffer[] = [];
    for await (const chunk of await store.open(keys.data)) read.push(chunk as Buffer);
    assert.ok(Buffer.concat(read).equals(data), 'and they read back the same');
  });

  test(`${kind}: a write whose body fails leaves nothing under a final name, and nothing half-written`, async () => {
    const k = get();
    const store = await storeFor(k, 'failing');
    const keys = copyKeys({ name: 'media_backup_2026_01_02T03_04_05.tar.zst', kind: 'media' }, true);
    await assert.rejects(store.stage(keys, failingBody(2 * 1024 * 1024), { sizeHint: 4 << 20, lock: null }), /the source broke halfway/);
    assert.deepEqual(await store.list(), [], 'no object, final or temporary');
    const staged = await store.stage(keys, Readable.from([Buffer.from('abc')]), { sizeHint: 3, lock: null });
    await staged.discard();
    assert.deepEqual(await store.list(), [], 'a discarded copy is gone');
    await assert.rejects(store.open('media/nothing-here.tar.zst.age').then(async (s) => {
      for await (const _ of s) void _;
    }));
  });

  test(`${kind}: push, the plain age CLI decrypts the copy to the backup byte for byte, fetch back, and a second push sends nothing`, async () => {
    const k = get();
    const backupDir = tempDir('cbt-offsite-tree-');
    const db = makeBackup(backupDir, 'database', '2026_03_01T02_00_00', 200_000);
    const media = makeBackup(backupDir, 'media', '2026_03_01T02_00_00', 300_000);
    const store = await storeFor(k, 'push');
    const first = await pushToTarget(store, { backupDir }, now, { prune: true });
    assert.deepEqual(first.pushed.map((c) => c.name).sort(), [db.name, media.name]);
    for (const b of [db, media]) {
      const key = copyKeys(b, true).data;
      const plain = execFileSync('age', ['-d', '-i', k.keys.identityFile], { input: k.stored('push', key), maxBuffer: 1 << 28 });
      assert.ok(plain.equals(b.bytes), `age -d -i key.txt gives ${b.name} byte for byte`);
      const manifest = execFileSync('age', ['-d', '-i', k.keys.identityFile], { input: k.stored('push', copyKeys(b, true).manifest) }).toString();
      assert.equal(JSON.parse(manifest).name, b.name, 'the manifest is pushed encrypted, and decrypts the same way');
    }
    const again = await pushToTarget(store, { backupDir }, now, { prune: true });
    assert.deepEqual(again.pushed, []);
    assert.deepEqual(again.decisions.map((d) => d.action), ['there', 'there']);

    const elsewhere = tempDir('cbt-offsite-fetched-');
    const copy = (await copiesIn(store)).find((c) => c.name === db.name)!;
    const got = await fetchCopy({ store, copy, identity: k.keys.identityFile, backupDir: elsewhere, name: db.name });
    assert.equal(got.transferred, true);
    assert.ok(fs.readFileSync(got.path).equals(db.bytes));
    assert.equal(fs.readFileSync(`${got.path}.manifest.json`, 'utf8'), fs.readFileSync(`${db.path}.manifest.json`, 'utf8'));
    const twice = await fetchCopy({ store, copy, identity: k.keys.identityFile, backupDir: elsewhere, name: db.name });
    assert.equal(twice.transferred, false, 'an identical file already there is kept');
  });

  test(`${kind}: a flipped byte at the target fails the deep check, naming the copy; nothing is fetched from it`, async () => {
    const k = get();
    const backupDir = tempDir('cbt-offsite-tree-');
    const db = makeBackup(backupDir, 'database', '2026_03_02T02_00_00');
    const store = await storeFor(k, 'flip');
    await pushToTarget(store, { backupDir }, now, { prune: false });
    const good = await checkTarget(store, { backupDir }, { deep: (c) => c, identity: k.keys.identityFile });
    assert.equal(good.ok, true, JSON.stringify(good));
    k.tamper('flip', copyKeys(db, true).data);
    const bad = await checkTarget(store, { backupDir }, { deep: (c) => c, identity: k.keys.identityFile });
    assert.equal(bad.ok, false);
    const [c] = bad.copies;
    assert.equal(c?.name, db.name);
    assert.match(c!.problems.join('; '), /sha256 mismatch/);
    assert.match(c!.problems.join('; '), /failed to decrypt and authenticate/);
    const elsewhere = tempDir('cbt-offsite-fetched-');
    await assert.rejects(
      fetchCopy({ store, copy: (await copiesIn(store))[0]!, identity: k.keys.identityFile, backupDir: elsewhere, name: db.name }),
      /nothing was kept/,
    );
    assert.deepEqual(fs.readdirSync(path.join(elsewhere, 'postgres')), [], 'not even a temporary file');
  });

  test(`${kind}: the target's retention removes old copies and keeps the newest verified one`, async () => {
    const k = get();
    const backupDir = tempDir('cbt-offsite-tree-');
    const names = ['2026_04_01T02_00_00', '2026_04_02T02_00_00', '2026_04_03T02_00_00'].map((s) => makeBackup(backupDir, 'database', s).name);
    const keepAll = await storeFor(k, 'retention');
    await pushToTarget(keepAll, { backupDir }, now, { prune: true });
    const narrow = await storeFor(k, 'retention', { database: { keepLast: 1 }, media: {} });
    const dry = await pruneTarget(narrow, { backupDir }, new Date(), { dryRun: true });
    assert.deepEqual(dry.plan.remove.map((c) => c.name).sort(), names.slice(0, 2));
    assert.equal((await copiesIn(narrow)).length, 3, 'a dry run changes nothing');
    const done = await pruneTarget(narrow, { backupDir }, new Date(), { dryRun: false });
    assert.deepEqual(done.removed.sort(), names.slice(0, 2));
    assert.deepEqual((await narrow.list()).map((o) => o.key).sort(), [
      `postgres/${names[2]}.age`,
      `postgres/${names[2]}.age.sha256`,
      `postgres/${names[2]}.manifest.json.age`,
    ]);
    // A push afterwards does not send back what the target's retention would remove at once.
    const after = await pushToTarget(narrow, { backupDir }, now, { prune: false });
    assert.deepEqual(after.pushed, []);
    assert.deepEqual(after.decisions.map((d) => d.action), ['there', 'skip', 'skip']);
  });
}
