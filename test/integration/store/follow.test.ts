// Hashing a backup while another process writes it: the hash must be the whole file's, however
// the writes and the reads interleave, and a file that is rewritten behind the reader is caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { followFile } from '../../../lib/store/follow.ts';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

function tempFile(): { dir: string; file: string; fd: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cbt-follow-'));
  const file = path.join(dir, 'out');
  return { dir, file, fd: fs.openSync(file, 'wx', 0o600) };
}

test('a file written in bursts by a child process hashes to the sha256 of its final content', async () => {
  const { dir, file, fd } = tempFile();
  // 40 bursts of 300 000 random bytes with pauses: the follower reads while the file grows, and
  // syncs every 1 MB on the way.
  const follower = await followFile(file, fd, { syncEvery: 1 << 20, pollMs: 5 });
  const child = spawn('sh', ['-c', 'for i in $(seq 40); do head -c 300000 /dev/urandom; sleep 0.01; done'], { stdio: ['ignore', fd, 'inherit'] });
  const mid: number[] = [];
  const timer = setInterval(() => mid.push(follower.position), 20);
  await new Promise((resolve) => child.on('close', resolve));
  clearInterval(timer);
  const done = await follower.finish(true);
  fs.closeSync(fd);
  const content = fs.readFileSync(file);
  assert.equal(done.size, 12_000_000);
  assert.equal(done.size, content.length);
  assert.equal(done.sha256, sha(content));
  assert.ok(mid.some((p) => p > 0 && p < content.length), 'hashing went on while the file was being written');
  fs.rmSync(dir, { recursive: true });
});

test('an empty file, and a file that shrank behind the reader', async () => {
  const empty = tempFile();
  const f0 = await followFile(empty.file, empty.fd);
  assert.deepEqual(await f0.finish(false), { size: 0, sha256: sha(Buffer.alloc(0)) });
  fs.closeSync(empty.fd);

  const shrunk = tempFile();
  const f1 = await followFile(shrunk.file, shrunk.fd, { pollMs: 5 });
  fs.writeSync(shrunk.fd, Buffer.alloc(4 << 20, 1));
  await new Promise((r) => setTimeout(r, 100));
  fs.ftruncateSync(shrunk.fd, 1000);
  await assert.rejects(f1.finish(true), /the file changed while it was hashed/);
  fs.closeSync(shrunk.fd);

  const abandoned = tempFile();
  const f2 = await followFile(abandoned.file, abandoned.fd);
  await f2.abandon();
  fs.closeSync(abandoned.fd);
  for (const t of [empty, shrunk, abandoned]) fs.rmSync(t.dir, { recursive: true });
});
