// The scheduled run's lock across real processes: refused while held (exit 75), recovered when
// its holder is dead, exactly one winner when runs race, in one process or several.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { acquireLock } from '../../../lib/store/lock.ts';
import { LockedError } from '../../../lib/cli/errors.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-test-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ['-e', '']);
  assert.ok(pid);
  return pid;
}

async function writeStale(file: string, pid: number): Promise<void> {
  await fs.writeFile(file, JSON.stringify({ pid, host: os.hostname(), startedAt: '2026-11-28T02:00:00.000Z' }));
}

async function lockedError(p: Promise<unknown>): Promise<LockedError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof LockedError, `expected LockedError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the lock to be refused');
}

test('a held lock refuses a second run with exit code 75, and is free again after release', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'scheduled-backup.lock');
  const lock = await acquireLock(file, { operation: 'scheduled-backup', pid: 1 });
  assert.equal(lock.path, file);
  const holder = JSON.parse(await fs.readFile(file, 'utf8'));
  assert.equal(holder.pid, process.pid, 'info cannot override the pid');
  assert.equal(holder.host, os.hostname());
  assert.equal(holder.operation, 'scheduled-backup');
  assert.ok(!Number.isNaN(Date.parse(holder.startedAt)));

  const err = await lockedError(acquireLock(file));
  assert.equal(err.exitCode, 75);
  assert.ok(err.message.includes(`pid ${process.pid}`), err.message);
  assert.ok(err.message.includes(holder.startedAt), err.message);
  assert.ok(!err.message.includes('\n'));

  await lock.release();
  await assert.rejects(fs.stat(file), { code: 'ENOENT' });
  await lock.release(); // twice is harmless
  const again = await acquireLock(file);
  await again.release();
  assert.deepEqual(await fs.readdir(dir), []);
});

test('the lock directory is created when missing', async (t) => {
  const dir = await tempDir(t);
  const lock = await acquireLock(path.join(dir, 'a', 'b', 'run.lock'));
  await lock.release();
});

test('release leaves a lock file that is no longer ours', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.lock');
  const lock = await acquireLock(file);
  await fs.rm(file);
  await fs.writeFile(file, '{"pid": 1}');
  await lock.release();
  assert.equal(await fs.readFile(file, 'utf8'), '{"pid": 1}');
});

test('a lock left by a dead process is recovered', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.lock');
  const pid = deadPid();
  await writeStale(file, pid);
  const lock = await acquireLock(file);
  assert.equal(JSON.parse(await fs.readFile(file, 'utf8')).pid, process.pid);
  await lock.release();
  assert.deepEqual(await fs.readdir(dir), [], 'no recovery debris');
});

test('an unreadable lock file is stale only once it is old', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.lock');
  await fs.writeFile(file, '');
  const old = new Date(Date.now() - 60_000);
  await fs.utimes(file, old, old);
  const lock = await acquireLock(file);
  await lock.release();

  // A fresh empty file is a run still writing its lock: wait for it, then name it.
  await fs.writeFile(file, '');
  setTimeout(() => void writeStaleLive(file), 100);
  const err = await lockedError(acquireLock(file));
  assert.ok(err.message.includes(`pid ${process.pid}`), err.message);
});

async function writeStaleLive(file: string): Promise<void> {
  await fs.writeFile(file, JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: 'then' }));
}

test('a lock from before the last boot is stale even if its pid was reused', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.lock');
  await writeStale(file, process.pid); // alive, but...
  const beforeBoot = new Date(Date.now() - os.uptime() * 1000 - 24 * 3600_000);
  await fs.utimes(file, beforeBoot, beforeBoot);
  const lock = await acquireLock(file);
  await lock.release();
});

test('a lock held on another host is refused, naming that host', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.lock');
  await fs.writeFile(file, JSON.stringify({ pid: deadPid(), host: 'other-host.example', startedAt: '2026-11-29T02:00:00Z' }));
  const err = await lockedError(acquireLock(file));
  assert.equal(err.exitCode, 75);
  assert.match(err.message, /other-host\.example/);
  assert.match(err.message, /2026-11-29T02:00:00Z/);
});

test('a recovery gate left by a killed run does not block recovery', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.lock');
  const pid = deadPid();
  await writeStale(file, pid);
  await fs.writeFile(`${file}.recover`, JSON.stringify({ pid, host: os.hostname() }));
  const lock = await acquireLock(file);
  await lock.release();
  assert.deepEqual(await fs.readdir(dir), []);
});

test('racing acquirers in one process over a stale lock: exactly one wins', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run.lock');
  const pid = deadPid();
  for (let round = 0; round < 10; round++) {
    await writeStale(file, pid);
    const results = await Promise.allSettled([acquireLock(file), acquireLock(file), acquireLock(file)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1, `round ${round}`);
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof LockedError);
    await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLock>>>).value.release();
    assert.deepEqual(await fs.readdir(dir), [], `round ${round}`);
  }
});

// A child process that takes the lock on command, so that separate processes really race.
const CHILD = `
import readline from 'node:readline';
import { acquireLock } from ${JSON.stringify(pathToFileURL(path.join(root, 'lib/store/lock.ts')).href)};
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
say('ready');
for (;;) {
  const { value, done } = await lines.next();
  if (done) break;
  const [command, file] = JSON.parse(value);
  if (command === 'race') {
    let lock = null;
    try {
      lock = await acquireLock(file);
      say({ won: true });
    } catch (err) {
      say({ won: false, name: err.constructor.name, exitCode: err.exitCode, message: err.message });
    }
    await lines.next();
    await lock?.release();
    say('released');
  } else if (command === 'hold') {
    await acquireLock(file);
    say('held');
  } else if (command === 'exit') {
    process.exit(0);
  }
}
`;

class Child {
  private proc: ChildProcessWithoutNullStreams;
  private lines: AsyncIterator<string>;
  constructor(script: string) {
    // The project's loader (amaro's hook on Node 20, native type stripping later), as npm test and npx use it.
    this.proc = spawn(process.execPath, ['--import', 'compose-backup-loader', script], { cwd: root });
    this.lines = readline.createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  }
  get pid(): number {
    return this.proc.pid ?? 0;
  }
  send(value: unknown): void {
    this.proc.stdin.write(JSON.stringify(value) + '\n');
  }
  async next(): Promise<unknown> {
    const { value, done } = await this.lines.next();
    assert.ok(!done, 'child ended early');
    return JSON.parse(value);
  }
  exited(): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve(this.proc.exitCode);
    return new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
  }
  kill(): Promise<number | null> {
    const done = this.exited();
    this.proc.kill('SIGKILL');
    return done;
  }
  async end(): Promise<void> {
    this.proc.stdin.end();
    await this.exited();
  }
}

describe('separate processes', () => {
  let dir = '';
  let script = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-race-'));
    script = path.join(dir, 'child.mjs');
    await fs.writeFile(script, CHILD);
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  test('racing over a stale lock: exactly one wins, ten rounds', async () => {
    const file = path.join(dir, 'race', 'run.lock');
    await fs.mkdir(path.dirname(file));
    const children = Array.from({ length: 4 }, () => new Child(script));
    try {
      for (const c of children) assert.equal(await c.next(), 'ready');
      const pid = deadPid();
      for (let round = 0; round < 10; round++) {
        await writeStale(file, pid);
        for (const c of children) c.send(['race', file]);
        const results = (await Promise.all(children.map((c) => c.next()))) as { won: boolean; name?: string; exitCode?: number }[];
        assert.equal(results.filter((r) => r.won).length, 1, `round ${round}: ${JSON.stringify(results)}`);
        for (const r of results) if (!r.won) assert.deepEqual([r.name, r.exitCode], ['LockedError', 75]);
        for (const c of children) c.send(['release']);
        for (const c of children) assert.equal(await c.next(), 'released');
        assert.deepEqual(await fs.readdir(path.dirname(file)), [], `round ${round}: debris`);
      }
    } finally {
      await Promise.all(children.map((c) => c.end()));
    }
  });

  test('a run killed with SIGKILL leaves a lock the next run recovers', async () => {
    const file = path.join(dir, 'killed.lock');
    const child = new Child(script);
    assert.equal(await child.next(), 'ready');
    child.send(['hold', file]);
    assert.equal(await child.next(), 'held');
    const err = await lockedError(acquireLock(file));
    assert.ok(err.message.includes(`pid ${child.pid}`), err.message);
    await child.kill();
    const lock = await acquireLock(file);
    await lock.release();
  });

  test('a run that exits without releasing removes its lock on exit', async () => {
    const file = path.join(dir, 'exit.lock');
    const child = new Child(script);
    assert.equal(await child.next(), 'ready');
    child.send(['hold', file]);
    assert.equal(await child.next(), 'held');
    child.send(['exit']);
    assert.equal(await child.exited(), 0);
    await assert.rejects(fs.stat(file), { code: 'ENOENT' });
  });
});
