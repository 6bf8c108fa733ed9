// lib/tee-stdout.pl and runPipeline's `observe`: Node sees exactly the bytes the next stage gets,
// whether the kernel makes the copy (tee(2)/splice(2) under perl), perl copies with plain reads
// and writes (--copy), or Node relays them (no perl); exit codes and signals come through as the
// command's own; a command that cannot start, a reader that goes away and SIGTERM are handled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { killAll, runPipeline, type PipelineSpec } from '../lib/pipeline.ts';
import { findOnPath, TEE_SCRIPT, teeArgv } from '../lib/tee.ts';
import { tempDir } from './helpers/cli.ts';

test('findOnPath: the first executable in PATH order; empty entries and missing folders skipped', () => {
  const files = new Set(['/b/perl', '/c/perl']);
  const exec = (f: string) => files.has(f);
  const table: [string | undefined, string | null][] = [
    ['/a:/b:/c', '/b/perl'],
    ['/c:/b', '/c/perl'],
    ['::/a', null],
    ['', null],
    [undefined, null],
  ];
  for (const [value, want] of table) assert.equal(findOnPath('perl', value, exec), want, String(value));
  assert.ok(findOnPath('sh', process.env.PATH)?.endsWith('/sh'));
});

test('teeArgv: the command follows "--", untouched', () => {
  assert.deepEqual(teeArgv('/usr/bin/perl', ['pg_dump', '--', '-x y']), ['/usr/bin/perl', TEE_SCRIPT, '--', 'pg_dump', '--', '-x y']);
  assert.ok(fs.existsSync(TEE_SCRIPT));
});

/** Runs `producer` → `cat` into a file, observing the producer; returns what each side got. */
async function observed(producer: string[], via: 'kernel' | 'relay', extra: Partial<PipelineSpec> = {}, env?: NodeJS.ProcessEnv) {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const fd = fs.openSync(out, 'w');
  const seen: Buffer[] = [];
  const res = await runPipeline({
    stages: [{ name: 'producer', argv: producer, env }, { name: 'cat', argv: ['cat'] }],
    stdout: fd,
    // Copied: the chunks are not ours to keep.
    observe: { after: 0, onData: (c) => seen.push(Buffer.from(c)), via },
    ...extra,
  });
  fs.closeSync(fd);
  return { res, seen: Buffer.concat(seen), written: fs.readFileSync(out) };
}

const sizes = [0, 1, 65_535, 65_537, 3 * 1024 * 1024 + 7];
for (const via of ['kernel', 'relay'] as const) {
  test(`observe (${via}): Node and the next stage each get every byte, for sizes from 0 to 3 MiB`, async () => {
    const dir = tempDir();
    for (const size of sizes) {
      const input = path.join(dir, `in-${size}`);
      fs.writeFileSync(input, crypto.randomBytes(size));
      const { res, seen, written } = await observed(['cat', input], via);
      assert.equal(res.ok, true, `${size}: ${res.failure}`);
      const want = fs.readFileSync(input);
      assert.ok(seen.equals(want), `${size}: Node saw ${seen.length} bytes`);
      assert.ok(written.equals(want), `${size}: the file has ${written.length} bytes`);
    }
  });

  test(`observe (${via}): the producer's exit code and signal are reported as its own`, async () => {
    const exit3 = await observed(['sh', '-c', 'printf abc; echo "pg_dump: error: gone" >&2; exit 3'], via);
    assert.equal(exit3.res.stages[0]!.code, 3);
    assert.equal(exit3.res.failure, 'producer failed (exit 3): pg_dump: error: gone');
    assert.equal(exit3.seen.toString(), 'abc');
    assert.equal(exit3.written.toString(), 'abc');
    const killed = await observed(['sh', '-c', 'printf abc; kill -KILL $$'], via);
    assert.equal(killed.res.stages[0]!.signal, 'SIGKILL');
    assert.equal(killed.res.failure, 'producer failed (killed by SIGKILL)');
    assert.equal(killed.seen.toString(), 'abc');
  });

  test(`observe (${via}): a command that cannot start is named as such`, async () => {
    const { res } = await observed(['definitely-not-a-command-xyz'], via);
    assert.equal(res.failure, 'producer could not start: definitely-not-a-command-xyz not found on PATH');
  });

  test(`observe (${via}): a consumer that gives up stops the producer, and is the one blamed`, async () => {
    const dir = tempDir();
    const fd = fs.openSync(path.join(dir, 'out'), 'w');
    let seen = 0;
    const res = await runPipeline({
      stages: [
        { name: 'yes', argv: ['yes', 'a line of a never-ending dump'] },
        { name: 'zstd', argv: ['sh', '-c', 'head -c 100000 >/dev/null; echo "zstd: disk full" >&2; exit 4'] },
      ],
      stdout: fd,
      observe: { after: 0, onData: (c) => void (seen += c.length), via },
    });
    fs.closeSync(fd);
    assert.equal(res.failure, 'zstd failed (exit 4): zstd: disk full');
    assert.ok(res.stages[0]!.signal === 'SIGPIPE' || res.stages[0]!.code !== 0, JSON.stringify(res.stages[0]));
    // Relayed, Node sees each chunk before the consumer; copied by the kernel, the consumer may
    // go away while perl still moves the first chunk to it, before Node's copy.
    if (via === 'relay') assert.ok(seen >= 100000, `${seen}`);
  });
}

for (const via of ['kernel', 'relay'] as const) {
  test(`observe (${via}): an observer that throws fails the run with its message and stops the stages`, async () => {
    const dir = tempDir();
    const fd = fs.openSync(path.join(dir, 'out'), 'w');
    const res = await runPipeline({
      stages: [{ name: 'pg_dump', argv: ['yes', 'endless'] }, { name: 'zstd', argv: ['cat'] }],
      stdout: fd,
      observe: {
        after: 0,
        onData: () => {
          throw new Error('scanner broke');
        },
        via,
      },
    });
    fs.closeSync(fd);
    assert.equal(res.ok, false);
    assert.equal(res.failure, 'reading the output of pg_dump failed: scanner broke');
  });
}

test('observe: SIGTERM to the pipeline reaches the command under tee-stdout.pl', async () => {
  const dir = tempDir();
  const marker = path.join(dir, 'got-term');
  const fd = fs.openSync(path.join(dir, 'out'), 'w');
  const running = runPipeline({
    stages: [
      { name: 'pg_dump', argv: ['sh', '-c', `trap 'echo term > ${marker}; exit 9' TERM; printf started; while :; do sleep 0.05; done`] },
      { name: 'cat', argv: ['cat'] },
    ],
    stdout: fd,
    observe: {
      after: 0,
      onData: () => killAll('SIGTERM'),
      via: 'kernel',
    },
  });
  const res = await running;
  fs.closeSync(fd);
  assert.equal(fs.readFileSync(marker, 'utf8'), 'term\n');
  // cat may die by the same SIGTERM first; the producer's own exit status is what it chose.
  assert.equal(res.stages[0]!.code, 9);
});

test('observe: without perl on the stage PATH, Node relays (the command runs under Node, not perl)', async () => {
  // The producer prints its parent's command line: perl's under tee-stdout.pl, Node's otherwise.
  const parent = ['/bin/sh', '-c', `${findOnPath('tr', process.env.PATH)} "\\0" " " < /proc/$PPID/cmdline`];
  const kernel = await observed(parent, 'kernel');
  assert.match(kernel.seen.toString(), /tee-stdout\.pl/);
  const relay = await observed(parent, 'kernel', {}, { PATH: '/nonexistent' });
  assert.equal(relay.res.ok, true, relay.res.failure ?? '');
  assert.doesNotMatch(relay.seen.toString(), /tee-stdout\.pl|perl/);
  assert.equal(relay.seen.toString(), relay.written.toString());
});

/** tee-stdout.pl on its own: fd 1 and fd 3 both get the command's output. */
function runTee(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: Buffer; side: Buffer; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('perl', [TEE_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const side: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => side.push(c));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, out: Buffer.concat(out), side: Buffer.concat(side), err }));
  });
}

test('tee-stdout.pl: the kernel copy where it can, read/write with --copy (the fallback); both outputs get every byte', async () => {
  const dir = tempDir();
  const input = path.join(dir, 'in');
  fs.writeFileSync(input, crypto.randomBytes(2 * 1024 * 1024 + 3));
  for (const [mode, how] of [
    [['--copy', '--verbose', '--'], 'read(2)/write(2)'],
    [['--verbose', '--'], 'tee(2)/splice(2)'],
  ] as const) {
    const r = await runTee([...mode, 'cat', input]);
    assert.equal(r.code, 0, r.err);
    // On this machine (x86-64 or arm64 Linux) the kernel copy is the one taken unless --copy says otherwise.
    assert.equal(r.err, `tee-stdout: copying with ${how}\n`);
    assert.ok(r.out.equals(fs.readFileSync(input)), `${mode}: fd 1`);
    assert.ok(r.side.equals(fs.readFileSync(input)), `${mode}: fd 3`);
  }
  const bad = await runTee(['--frobnicate', '--', 'true']);
  assert.equal(bad.code, 255);
  assert.match(bad.err, /unknown option --frobnicate/);
});
