// The scheduled run's lock: a file created with O_EXCL that names its holder. A run killed before it
// could remove the file leaves a stale lock; the next run recognises it (its pid is gone, or it dates
// from before the last boot) and takes over, so a crash never blocks backups for good.
//
// Race safety: two runs may find the same stale file at once. Removing it is "check, then unlink",
// which is not atomic, so only the holder of a short-lived recovery gate (a second O_EXCL file) may
// do it, after checking under the gate that the file is still the very one judged stale (same inode,
// same content). Creating the lock itself needs no gate: O_EXCL lets exactly one creator win.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { LockedError } from '../cli/errors.ts';
import { processAlive } from '../proc/pid.ts';

export interface LockHandle {
  path: string;
  /** Removes the lock file if it is still this run's. Never throws. */
  release(): Promise<void>;
}

interface Holder {
  pid?: unknown;
  host?: unknown;
  startedAt?: unknown;
}

/** A lock file without readable content is someone's lock being written, until it is this old. */
const UNREADABLE_GRACE_MS = 5_000;
/** How long an acquirer waits for a lock file being written, or for another run's recovery. */
const SETTLE_MS = 2_000;
/** Slack on the boot time computed from the uptime (clock steps, rounding). */
const BOOT_SLACK_MS = 60_000;

type Seen =
  | { state: 'missing' }
  | { state: 'settling' }
  | { state: 'held'; message: string }
  | { state: 'stale'; id: FileId; reason: string };

interface FileId {
  dev: number;
  ino: number;
  content: string;
}

/**
 * Take the lock or throw LockedError (exit 75) naming the run that holds it. The file holds JSON
 * {pid, host, startedAt, ...info}. The lock is also removed on process exit as a best effort.
 */
export async function acquireLock(lockPath: string, info: Record<string, unknown> = {}): Promise<LockHandle> {
  const file = path.resolve(lockPath);
  const holder = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  // The holder's fields come first and cannot be overridden by `info`.
  const content = JSON.stringify({ ...holder, ...info, ...holder }, null, 2) + '\n';
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const deadline = Date.now() + SETTLE_MS;
  let lastReason = '';
  for (;;) {
    const id = await createExclusive(file, content);
    if (id) return handle(file, id);
    const seen = await inspect(file);
    if (seen.state === 'held') throw new LockedError(seen.message);
    if (Date.now() > deadline) {
      throw new LockedError(
        `could not take the lock ${file}${lastReason ? ` (${lastReason})` : ''}: another run is starting; try again, or delete the file if no backup is running`,
      );
    }
    if (seen.state === 'settling') {
      lastReason = 'its file is being written';
      await sleep(20);
    } else if (seen.state === 'stale') {
      lastReason = `stale lock: ${seen.reason}`;
      if (!(await removeStale(file, seen.id))) await sleep(10);
    }
  }
}

/**
 * Whether another run holds the lock, found without writing anything (the scheduled run asks
 * before its first ping, when even a full disk must not keep it from being heard): the message
 * LockedError would carry, or null when the lock is free or stale.
 */
export async function lockHolder(lockPath: string): Promise<string | null> {
  const seen = await inspect(path.resolve(lockPath)).catch(() => ({ state: 'missing' }) as Seen);
  return seen.state === 'held' ? seen.message : null;
}

async function createExclusive(file: string, content: string): Promise<FileId | null> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw err;
  }
  try {
    await fh.writeFile(content);
    const st = await fh.stat();
    return { dev: st.dev, ino: st.ino, content };
  } catch (err) {
    await fsp.unlink(file).catch(() => {});
    throw err;
  } finally {
    await fh.close().catch(() => {});
  }
}

async function readId(file: string): Promise<(FileId & { mtimeMs: number }) | null> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    // Stat and read through one descriptor so that identity and content belong to the same file.
    const st = await fh.stat();
    const content = await fh.readFile('utf8');
    return { dev: st.dev, ino: st.ino, content, mtimeMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}

async function inspect(file: string): Promise<Seen> {
  const found = await readId(file);
  if (!found) return { state: 'missing' };
  const id: FileId = { dev: found.dev, ino: found.ino, content: found.content };
  const bootTime = Date.now() - os.uptime() * 1000;
  if (found.mtimeMs < bootTime - BOOT_SLACK_MS) return { state: 'stale', id, reason: 'it dates from before the last boot' };
  const holder = parse(found.content);
  if (!holder || !isPid(holder.pid)) {
    if (Date.now() - found.mtimeMs > UNREADABLE_GRACE_MS) return { state: 'stale', id, reason: 'its content is unreadable' };
    return { state: 'settling' };
  }
  const pid = holder.pid;
  const host = typeof holder.host === 'string' ? holder.host : null;
  const started = typeof holder.startedAt === 'string' ? holder.startedAt : 'an unknown time';
  if (host !== null && host !== os.hostname()) {
    return {
      state: 'held',
      message: `the lock ${file} is held by pid ${pid} on host ${host}, started ${started}; this host cannot check that process: delete the file if that run is gone`,
    };
  }
  if (!processAlive(pid)) return { state: 'stale', id, reason: `process ${pid} is gone` };
  return {
    state: 'held',
    message: `another run holds the lock ${file} (pid ${pid}, started ${started}); nothing was touched. If no backup is running, delete that file`,
  };
}

function parse(content: string): Holder | null {
  try {
    const value: unknown = JSON.parse(content);
    return value && typeof value === 'object' ? (value as Holder) : null;
  } catch {
    return null;
  }
}

function isPid(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function sameFile(a: FileId, b: FileId): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.content === b.content;
}

/** Remove the lock file judged stale, if it still is that file. False when another run is recovering it. */
async function removeStale(file: string, stale: FileId): Promise<boolean> {
  const gate = `${file}.recover`;
  const gateContent = JSON.stringify({ pid: process.pid, host: os.hostname(), token: randomUUID() }) + '\n';
  const gateId = await createExclusive(gate, gateContent);
  if (!gateId) {
    await clearDeadGate(gate);
    return false;
  }
  try {
    const current = await readId(file);
    if (current && sameFile(current, stale)) await fsp.unlink(file);
    return true;
  } finally {
    await removeIfSame(gate, gateId);
  }
}

/** A gate is held for milliseconds; one left behind by a killed run would block recovery forever. */
async function clearDeadGate(gate: string): Promise<void> {
  const found = await readId(gate);
  if (!found) return;
  const holder = parse(found.content);
  const dead = holder && isPid(holder.pid) ? holder.host === os.hostname() && !processAlive(holder.pid) : Date.now() - found.mtimeMs > UNREADABLE_GRACE_MS;
  if (!dead) return;
  // Move it aside first, then check what was moved: if a live run replaced the dead gate meanwhile,
  // put its gate back instead of deleting it.
  const aside = `${gate}.${process.pid}.${randomUUID()}`;
  try {
    await fsp.rename(gate, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await readId(aside);
  if (moved && !sameFile(moved, found)) await fsp.link(aside, gate).catch(() => {});
  await fsp.unlink(aside).catch(() => {});
}

async function removeIfSame(file: string, id: FileId): Promise<void> {
  try {
    const current = await readId(file);
    if (current && sameFile(current, id)) await fsp.unlink(file);
  } catch {
    // Best effort: a lock or gate we cannot remove is recovered as stale by the next run.
  }
}

function handle(file: string, id: FileId): LockHandle {
  let released = false;
  const onExit = () => {
    // 'exit' listeners must be synchronous.
    try {
      const st = fs.statSync(file);
      if (st.dev === id.dev && st.ino === id.ino && fs.readFileSync(file, 'utf8') === id.content) fs.unlinkSync(file);
    } catch {
      // Nothing more can be done while exiting; the next run sees a dead pid.
    }
  };
  process.on('exit', onExit);
  return {
    path: file,
    async release() {
      if (released) return;
      released = true;
      process.off('exit', onExit);
      await removeIfSame(file, id);
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
