// Atomic publication of backup files. Work in progress lives under a hidden temporary name;
// a file gets its final name only after its data (and its manifest) are on disk, through
// link(2), which unlike rename(2) refuses to replace an existing file: two backups started
// in the same second can never overwrite each other.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { tempName } from '../core/naming.ts';
import { processAlive } from '../proc/pid.ts';

/** Create a folder of the backup tree as 0700 whatever the umask; existing folders keep their mode. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      await fsp.stat(d);
      break;
    } catch {
      missing.push(d);
      if (path.dirname(d) === d) break;
    }
  }
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  for (const d of missing) await fsp.chmod(d, 0o700).catch(() => undefined);
}

export interface TempFile {
  path: string;
  fd: number;
  /** Remove the temporary file (after a failure); safe to call twice. */
  discard(): Promise<void>;
}

const live = new Set<string>();
// A run interrupted by a signal or an uncaught error must not leave work in progress behind.
process.once('exit', () => {
  for (const p of live) {
    try {
      fs.unlinkSync(p);
    } catch {
      /* already gone */
    }
  }
});

/** Open a new temporary file (0600) in `dir` for the backup that will be called `finalName`. */
export async function openTemp(dir: string, finalName: string): Promise<TempFile> {
  await ensurePrivateDir(dir);
  const p = path.join(dir, tempName(finalName, `${process.pid}-${Math.random().toString(36).slice(2, 8)}`));
  const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  fs.fchmodSync(fd, 0o600);
  live.add(p);
  let closed = false;
  return {
    path: p,
    fd,
    async discard() {
      if (!closed) {
        closed = true;
        try {
          fs.closeSync(fd);
        } catch {
          /* closed already */
        }
      }
      live.delete(p);
      await fsp.rm(p, { force: true });
    },
  };
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Write a small file atomically (manifests, textfiles): temp, fsync, rename. With
 * `noReplace` the final step is link(2), which fails with EEXIST rather than replace a file.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600, noReplace = false): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.partial-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  live.add(tmp);
  try {
    const fd = fs.openSync(tmp, 'wx', mode);
    try {
      fs.writeFileSync(fd, data);
      fs.fchmodSync(fd, mode);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (noReplace) {
      fs.linkSync(tmp, file);
      fs.unlinkSync(tmp);
    } else {
      fs.renameSync(tmp, file);
    }
    live.delete(tmp);
    fsyncDir(dir);
  } finally {
    if (live.has(tmp)) {
      live.delete(tmp);
      fs.rmSync(tmp, { force: true });
    }
  }
}

/**
 * Give a finished temporary file its final name. `nameFor(seq)` proposes names; the first that
 * does not exist yet is taken. `beforeLink(name)` runs first for each attempt (the manifest).
 */
export async function publish(
  temp: TempFile,
  dir: string,
  nameFor: (seq: number) => string,
  firstSeq = 1,
  beforeLink?: (finalName: string) => Promise<void>,
  undoBeforeLink?: (finalName: string) => Promise<void>,
): Promise<string> {
  fs.fsyncSync(temp.fd);
  for (let seq = firstSeq; seq < firstSeq + 1000; seq++) {
    const name = nameFor(seq);
    const finalPath = path.join(dir, name);
    if (fs.existsSync(finalPath)) continue;
    try {
      if (beforeLink) await beforeLink(name);
    } catch (err) {
      // The name was taken in the meantime (its manifest exists): try the next one.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    try {
      fs.linkSync(temp.path, finalPath);
    } catch (err) {
      if (undoBeforeLink) await undoBeforeLink(name);
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    await temp.discard();
    fsyncDir(dir);
    return finalPath;
  }
  throw new Error(`no free name for ${nameFor(firstSeq)}`);
}

/** Pure: the pid that owns a temporary file, from its name. */
export function tempOwner(name: string): number | null {
  const m = /^\..+\.partial-(\d+)-[a-z0-9]+$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Remove temporary files whose run is gone (killed with SIGKILL, power loss). Returns their names. */
export async function sweepStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = tempOwner(name);
    if (pid !== null && pid !== process.pid && !processAlive(pid)) {
      await fsp.rm(path.join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** Pure: the smallest sequence number whose names are free in every folder listing given. */
export function freeSeq(taken: Set<string>, namesFor: (seq: number) => string[]): number {
  for (let seq = 1; ; seq++) {
    if (namesFor(seq).every((n) => !taken.has(n) && ![...taken].some((t) => t.startsWith(`.${n}.partial-`)))) return seq;
  }
}
