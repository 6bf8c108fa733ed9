// Which stage of a pipeline failed, and why: the one that failed on its own, not those killed by
// the broken pipe after it; a full disk said as such; a command that could not start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeFailure, firstError } from '../../../lib/proc/pipeline.ts';

test('describeFailure names the stage that failed on its own, not the one killed by the broken pipe', () => {
  const stages = [{ name: 'pg_dump', argv: [] }, { name: 'zstd', argv: [] }];
  assert.equal(describeFailure([{ name: 'pg_dump', code: null, signal: 'SIGPIPE', stderr: '' }, { name: 'zstd', code: 1, signal: null, stderr: 'zstd: error 70 : Write error : No space left on device\n' }], stages)?.message,
    'zstd failed (exit 1): zstd: error 70 : Write error : No space left on device');
  assert.equal(describeFailure([{ name: 'pg_dump', code: 1, signal: null, stderr: 'pg_dump: error: connection failed\nmore\n' }, { name: 'zstd', code: 0, signal: null, stderr: '' }], stages)?.message,
    'pg_dump failed (exit 1): pg_dump: error: connection failed');
  assert.equal(describeFailure([{ name: 'pg_dump', code: null, signal: 'SIGKILL', stderr: '' }, { name: 'zstd', code: 0, signal: null, stderr: '' }], stages)?.message, 'pg_dump failed (killed by SIGKILL)');
  assert.equal(describeFailure([{ name: 'tar', code: 1, signal: null, stderr: 'file changed' }], [{ name: 'tar', argv: [], okCodes: [1] }]), null);
});

test('describeFailure: the structured failure (stage, why, code, signal, detail, a full disk)', () => {
  const stages = [{ name: 'pg_dump', argv: [] }, { name: 'zstd', argv: [] }];
  assert.deepEqual(
    describeFailure([{ name: 'pg_dump', code: null, signal: 'SIGPIPE', stderr: '' }, { name: 'zstd', code: 1, signal: null, stderr: 'zstd: error 70 : Write error : No space left on device\n' }], stages),
    { stage: 'zstd', why: 'exit', code: 1, signal: null, detail: 'zstd: error 70 : Write error : No space left on device', noSpace: true, message: 'zstd failed (exit 1): zstd: error 70 : Write error : No space left on device' },
  );
  assert.deepEqual(
    describeFailure([{ name: 'pg_dump', code: null, signal: null, stderr: '', spawnError: 'pg_dump not found on PATH', spawnCode: 'ENOENT' }, { name: 'zstd', code: 0, signal: null, stderr: '' }], stages),
    { stage: 'pg_dump', why: 'spawn', code: null, signal: null, detail: 'pg_dump not found on PATH', noSpace: false, message: 'pg_dump could not start: pg_dump not found on PATH' },
  );
  assert.equal(describeFailure([{ name: 'pg_dump', code: 0, signal: null, stderr: '' }, { name: 'zstd', code: 0, signal: null, stderr: '' }], stages), null);
});

test('firstError: the line naming the error, else the last one', () => {
  assert.equal(firstError('pg_dump: warning: x\npg_dump: error: connection to server failed\nmore\n'), 'pg_dump: error: connection to server failed');
  assert.equal(firstError('psql:/x:3: FATAL:  database "x" does not exist\n'), 'psql:/x:3: FATAL:  database "x" does not exist');
  assert.equal(firstError('one\n  two  \n\n'), 'two');
  assert.equal(firstError(''), '');
});

test('heldOutput: the reader sees the end only when the caller says the run succeeded, or the caller\'s error', async () => {
  const { heldOutput } = await import('../../../lib/proc/pipeline.ts');
  const ok = heldOutput();
  const got: Buffer[] = [];
  ok.readable.on('data', (c: Buffer) => got.push(c));
  let ended = false;
  ok.readable.on('end', () => (ended = true));
  await new Promise<void>((resolve) => ok.sink.end(Buffer.from('abc'), () => resolve()));
  await new Promise((r) => setImmediate(r));
  assert.equal(Buffer.concat(got).toString(), 'abc');
  assert.equal(ended, false, 'the sink finished, the reader has not seen an end');
  ok.close();
  await new Promise((r) => setImmediate(r));
  assert.equal(ended, true);

  const bad = heldOutput();
  const failed = new Promise<Error>((resolve) => bad.readable.once('error', resolve));
  bad.readable.resume();
  bad.sink.end(Buffer.from('partial'));
  bad.close(new Error('age failed (exit 1)'));
  assert.equal((await failed).message, 'age failed (exit 1)');
});
