// upload-backups: its arguments (backups found in a real tree; what the receiving end is told and
// checks), and receiveBackup, the remote end, writing into a real tree: the file and its manifest
// under their names, and nothing kept or replaced when the transfer is not the file.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FailedError, UsageError } from '../../../lib/cli/errors.ts';
import { parseBackupName } from '../../../lib/core/naming.ts';
import { parseReceive, receiveArgs, receiveBackup, resolveUpload } from '../../../lib/remote/upload.ts';
import { ls, tempDir } from '../../helpers/cli.ts';

const NAME = 'backup_2024_01_15T14_30_00.sql.zst';
const MEDIA = 'media_backup_2024_01_15T14_30_00.tar.zst';

test('upload arguments: local names or paths of backups; the receiving end checks what it is told', () => {
  const bk = tempDir();
  fs.mkdirSync(path.join(bk, 'postgres'));
  fs.writeFileSync(path.join(bk, 'postgres', `production_${NAME}`), 'x');
  assert.equal(resolveUpload(`production_${NAME}`, bk).path, path.join(bk, 'postgres', `production_${NAME}`));
  assert.equal(resolveUpload(path.join(bk, 'postgres', `production_${NAME}`), '/elsewhere').parsed.env, 'production');
  assert.throws(() => resolveUpload('notes.txt', bk), UsageError);
  assert.throws(() => resolveUpload(NAME, bk), /no such backup/);
  fs.rmSync(bk, { recursive: true, force: true });

  const h = 'c'.repeat(64);
  assert.deepEqual(receiveArgs(NAME, { size: 12, sha256: h }), ['--receive', NAME, '--size', '12', '--sha256', h]);
  assert.deepEqual(parseReceive(NAME, '12', h).expected, { size: 12, sha256: h });
  assert.equal(parseReceive(`production_${MEDIA}`, '0', h).name.kind, 'media');
  for (const [name, size, sha] of [
    [`../${NAME}`, '12', h],
    ['x', '12', h],
    [NAME, undefined, h],
    [NAME, '-1', h],
    [NAME, '1e3', h],
    [NAME, '12', undefined],
    [NAME, '12', 'C'.repeat(64)],
    [NAME, '12', `${h}  x`],
  ] as const) {
    assert.throws(() => parseReceive(name, size, sha), UsageError, `${name} ${size} ${sha}`);
  }
});

describe('receiveBackup (the remote end of upload-backups)', () => {
  const data = crypto.randomBytes(300_000);
  const fp = { size: data.length, sha256: crypto.createHash('sha256').update(data).digest('hex') };
  const manifest = JSON.stringify({
    version: 1, name: NAME, kind: 'database', role: 'backup', set: '2024_01_15T14_30_00', environment: 'production',
    codec: 'zstd', size: fp.size, sha256: fp.sha256, startedAt: 'x', finishedAt: 'y', durationMs: 1,
  });
  const name = parseBackupName(`production_${NAME}`)!;
  /** The input in uneven chunks, as a pipe delivers it. */
  const input = (buf: Buffer) => Readable.from([buf.subarray(0, 1000), buf.subarray(1000, 250_001), buf.subarray(250_001)]);

  test('writes the file and its manifest under their names, then finds them identical', async () => {
    const bk = tempDir();
    const r = await receiveBackup(bk, name, fp, input(Buffer.concat([data, Buffer.from(manifest)])));
    assert.deepEqual(r, { path: path.join(bk, 'postgres', name.name), written: true });
    assert.deepEqual(fs.readFileSync(r.path), data);
    assert.equal(fs.readFileSync(`${r.path}.manifest.json`, 'utf8'), manifest);
    assert.equal((fs.statSync(r.path).mode & 0o777).toString(8), '600');
    assert.deepEqual(await receiveBackup(bk, name, fp, input(data)), { path: r.path, written: false });
    fs.rmSync(bk, { recursive: true, force: true });
  });

  test('a short, damaged or mismatched transfer, or a different file there, keeps nothing and replaces nothing', async () => {
    const bk = tempDir();
    const pg = path.join(bk, 'postgres');
    const flipped = Buffer.from(data);
    flipped[123] = flipped[123]! ^ 1;
    const cases: [string, Buffer, RegExp][] = [
      ['short', data.subarray(0, 200_000), /^receiving production_backup_\S+ failed: the copy does not match its source \(195 KiB \(200000 bytes\) instead of 300000 bytes\); nothing was kept/],
      ['damaged', flipped, /the copy does not match its source \(sha256 [0-9a-f]+ instead of/],
      ['bad manifest', Buffer.concat([data, Buffer.from('{not json')]), /manifest sent with .* is damaged/],
      ['other manifest', Buffer.concat([data, Buffer.from(manifest.replace(fp.sha256, 'd'.repeat(64)))]), /does not match the manifest/],
    ];
    for (const [what, buf, message] of cases) {
      await assert.rejects(receiveBackup(bk, name, fp, input(buf)), (err: Error) => err instanceof FailedError && message.test(err.message), what);
      assert.deepEqual(ls(pg), [], what);
    }
    fs.writeFileSync(path.join(pg, name.name), 'someone else\'s');
    await assert.rejects(receiveBackup(bk, name, fp, input(data)), /already exists here and is a different file; it is never replaced/);
    assert.equal(fs.readFileSync(path.join(pg, name.name), 'utf8'), 'someone else\'s');
    fs.rmSync(bk, { recursive: true, force: true });
  });
});
