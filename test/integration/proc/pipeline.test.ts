// runPipeline with real processes: data moving between stages, and the tap through which Node
// sees one stage's output on its way to the next (the dump scanner's view of pg_dump). Every byte
// reaches both sides whatever the size; exit codes and signals are the command's own; a command
// that cannot start, a consumer that gives up, an observer that throws, SIGTERM and an abort are
// each reported as what they are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runPipeline, type PipelineSpec } from '../../../lib/proc/pipeline.ts';
import { stopChildren } from '../../../lib/proc/signals.ts';
import { tempDir } from '../../helpers/cli.ts';

test('runPipeline streams between processes and reports each stage', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const fd = fs.openSync(out, 'w');
  const ok = await runPipeline({ stages: [{ name: 'seq', argv: ['seq', '1', '100000'] }, { name: 'gzip', argv: ['gzip', '-c'] }], stdout: fd });
  fs.closeSync(fd);
  assert.equal(ok.ok, true);
  assert.ok(fs.statSync(out).size > 1000);
  const fd2 = fs.openSync(out, 'w');
  const bad = await runPipeline({ stages: [{ name: 'seq', argv: ['seq', '1', '10000000'] }, { name: 'head', argv: ['sh', '-c', 'head -c 10 >/dev/null; echo boom >&2; exit 3'] }], stdout: fd2 });
  fs.closeSync(fd2);
  assert.equal(bad.ok, false);
  assert.equal(bad.failure?.message, 'head failed (exit 3): boom');
  const missing = await runPipeline({ stages: [{ name: 'nope', argv: ['definitely-not-a-command-xyz'] }], stdout: 'ignore' });
  assert.equal(missing.failure?.message, 'nope could not start: definitely-not-a-command-xyz not found on PATH');
});

/** Runs `producer` → `cat` into a file, tapping the producer; returns what each side got. */
async function tapped(producer: string[], extra: Partial<PipelineSpec> = {}) {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const fd = fs.openSync(out, 'w');
  const seen: Buffer[] = [];
  const res = await runPipeline({
    stages: [{ name: 'producer', argv: producer }, { name: 'cat', argv: ['cat'] }],
    stdout: fd,
    // Copied: the chunks are not ours to keep.
    tap: { after: 0, look: (c) => seen.push(Buffer.from(c)) },
    ...extra,
  });
  fs.closeSync(fd);
  return { res, seen: Buffer.concat(seen), written: fs.readFileSync(out) };
}

const sizes = [0, 1, 65_535, 65_537, 3 * 1024 * 1024 + 7];

test('tap: Node and the next stage each get every byte, for sizes from 0 to 3 MiB', async () => {
  const dir = tempDir();
  for (const size of sizes) {
    const input = path.join(dir, `in-${size}`);
    fs.writeFileSync(input, crypto.randomBytes(size));
    const { res, seen, written } = await tapped(['cat', input]);
    assert.equal(res.ok, true, `${size}: ${res.failure?.message}`);
    const want = fs.readFileSync(input);
    assert.ok(seen.equals(want), `${size}: Node saw ${seen.length} bytes`);
    assert.ok(written.equals(want), `${size}: the file has ${written.length} bytes`);
  }
});

test('tap on the last stage: Node sees what goes to the file, and the file gets all of it', async () => {
  const dir = tempDir();
  const input = path.join(dir, 'in');
  fs.writeFileSync(input, crypto.randomBytes(1024 * 1024 + 3));
  const out = path.join(dir, 'out');
  const fd = fs.openSync(out, 'w');
  const seen: Buffer[] = [];
  const res = await runPipeline({ stages: [{ name: 'cat', argv: ['cat', input] }], stdout: fd, tap: { after: 0, look: (c) => seen.push(Buffer.from(c)) } });
  fs.closeSync(fd);
  assert.equal(res.ok, true, res.failure?.message);
  assert.ok(Buffer.concat(seen).equals(fs.readFileSync(input)));
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(input)));
});

test('tap: the producer\'s exit code and signal are reported as its own', async () => {
  const exit3 = await tapped(['sh', '-c', 'printf abc; echo "pg_dump: error: gone" >&2; exit 3']);
  assert.equal(exit3.res.stages[0]!.code, 3);
  assert.equal(exit3.res.failure?.message, 'producer failed (exit 3): pg_dump: error: gone');
  assert.deepEqual([exit3.res.failure?.stage, exit3.res.failure?.why, exit3.res.failure?.code], ['producer', 'exit', 3]);
  assert.equal(exit3.seen.toString(), 'abc');
  assert.equal(exit3.written.toString(), 'abc');
  const killed = await tapped(['sh', '-c', 'printf abc; kill -KILL $$']);
  assert.equal(killed.res.stages[0]!.signal, 'SIGKILL');
  assert.equal(killed.res.failure?.message, 'producer failed (killed by SIGKILL)');
  assert.deepEqual([killed.res.failure?.why, killed.res.failure?.signal], ['signal', 'SIGKILL']);
  assert.equal(killed.seen.toString(), 'abc');
});

test('tap: a command that cannot start is named as such', async () => {
  const { res } = await tapped(['definitely-not-a-command-xyz']);
  assert.equal(res.failure?.message, 'producer could not start: definitely-not-a-command-xyz not found on PATH');
  assert.equal(res.failure?.why, 'spawn');
  assert.equal(res.stages[0]!.spawnCode, 'ENOENT');
});

test('tap: a consumer that gives up stops the producer, and is the one blamed', async () => {
  const dir = tempDir();
  const fd = fs.openSync(path.join(dir, 'out'), 'w');
  let seen = 0;
  const res = await runPipeline({
    stages: [
      { name: 'yes', argv: ['yes', 'a line of a never-ending dump'] },
      { name: 'zstd', argv: ['sh', '-c', 'head -c 100000 >/dev/null; echo "zstd: disk full" >&2; exit 4'] },
    ],
    stdout: fd,
    tap: { after: 0, look: (c) => void (seen += c.length) },
  });
  fs.closeSync(fd);
  assert.equal(res.failure?.message, 'zstd failed (exit 4): zstd: disk full');
  assert.ok(res.stages[0]!.signal === 'SIGPIPE' || res.stages[0]!.code !== 0, JSON.stringify(res.stages[0]));
  // Relayed by Node, each chunk is seen before the consumer gets it.
  assert.ok(seen >= 100000, `${seen}`);
});

test('tap: an observer that throws fails the run with its message and stops the stages', async () => {
  const dir = tempDir();
  const fd = fs.openSync(path.join(dir, 'out'), 'w');
  const res = await runPipeline({
    stages: [{ name: 'pg_dump', argv: ['yes', 'endless'] }, { name: 'zstd', argv: ['cat'] }],
    stdout: fd,
    tap: {
      after: 0,
      look: () => {
        throw new Error('scanner broke');
      },
    },
  });
  fs.closeSync(fd);
  assert.equal(res.ok, false);
  assert.equal(res.failure?.message, 'reading the output of pg_dump failed: scanner broke');
  assert.equal(res.failure?.why, 'observer');
});

test('tap: SIGTERM to the running children (what a stop signal does) reaches the tapped command', async () => {
  const dir = tempDir();
  const marker = path.join(dir, 'got-term');
  const fd = fs.openSync(path.join(dir, 'out'), 'w');
  const res = await runPipeline({
    stages: [
      { name: 'pg_dump', argv: ['sh', '-c', `trap 'echo term > ${marker}; exit 9' TERM; printf started; while :; do sleep 0.05; done`] },
      { name: 'cat', argv: ['cat'] },
    ],
    stdout: fd,
    tap: { after: 0, look: () => stopChildren('SIGTERM') },
  });
  fs.closeSync(fd);
  assert.equal(fs.readFileSync(marker, 'utf8'), 'term\n');
  // cat may die by the same SIGTERM first; the producer's own exit status is what it chose.
  assert.equal(res.stages[0]!.code, 9);
});

test('an aborted run stops every stage and says so, without blaming one', async () => {
  const stop = new AbortController();
  const running = runPipeline({ stages: [{ name: 'sleep', argv: ['sleep', '30'] }, { name: 'cat', argv: ['cat'] }], stdout: 'ignore', signal: stop.signal });
  // The stages are started by the time runPipeline returns its promise.
  stop.abort();
  const res = await running;
  assert.deepEqual([res.ok, res.aborted, res.failure], [false, true, null]);
  assert.equal(res.stages[0]!.signal, 'SIGTERM');
});
