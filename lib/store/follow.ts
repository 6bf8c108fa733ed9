// Hashing and flushing a backup while it is being written. The last stage of a pipeline writes
// the temporary file through its own descriptor; meanwhile this reads back what has landed so
// far (from the page cache) into the SHA-256 and asks the kernel to flush it to disk. When the
// last stage exits only the tail is left to hash and sync, instead of a second full pass over
// the file followed by one long fsync.
//
// This relies on the writers appending: every stage we run (zstd, gzip, tar, cat) writes its
// output as a stream and never seeks back. The size check in finish() guards the rest.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { promisify } from 'node:util';

const fdatasync = promisify(fs.fdatasync);
const fsync = promisify(fs.fsync);

export interface FollowOptions {
  /** Flush to disk each time this many more bytes have been written (0: only at the end). */
  syncEvery?: number;
  /** How long to wait when the writer has not written anything new. */
  pollMs?: number;
}

export interface Followed {
  sha256: string;
  size: number;
}

export interface Follower {
  /** Stop following and hash the rest; with `durable`, fsync the file before resolving. */
  finish(durable: boolean): Promise<Followed>;
  /** Stop following (the write failed); resolves once no read is in flight. */
  abandon(): Promise<void>;
  /** Bytes hashed so far (for progress). */
  readonly position: number;
}

/**
 * Follow the file open for writing as `writeFd` at `file`. One reused 1 MiB buffer: memory does
 * not grow with the file.
 */
export async function followFile(file: string, writeFd: number, opts: FollowOptions = {}): Promise<Follower> {
  const syncEvery = opts.syncEvery ?? 32 << 20;
  const pollMs = opts.pollMs ?? 25;
  const reader = await fsp.open(file, 'r');
  const hash = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let position = 0;
  let synced = 0;
  let stopped = false;
  let wake: (() => void) | null = null;

  /** Hash everything up to the current end of the file; returns the bytes read. */
  const drain = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      const { bytesRead } = await reader.read(buf, 0, buf.length, position);
      if (bytesRead === 0) return total;
      hash.update(buf.subarray(0, bytesRead));
      position += bytesRead;
      total += bytesRead;
    }
  };

  const loop = (async () => {
    while (!stopped) {
      await drain();
      // Flushing as we go keeps the final fsync short; fdatasync of the writer's file waits only
      // for this file's pages, not the whole disk's.
      if (syncEvery > 0 && position - synced >= syncEvery) {
        synced = position;
        await fdatasync(writeFd).catch(() => undefined);
        continue;
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  })();

  const stop = async () => {
    stopped = true;
    (wake as (() => void) | null)?.();
    await loop;
  };

  return {
    get position() {
      return position;
    },
    async finish(durable) {
      await stop();
      try {
        // The writers have exited: what is in the file now is all of it. The tail's hash and
        // the flush are independent, so they overlap.
        await Promise.all([drain(), durable ? fsync(writeFd) : Promise.resolve()]);
        const size = fs.fstatSync(writeFd).size;
        if (size !== position) throw new Error(`the file changed while it was hashed (${position} of ${size} bytes read)`);
        return { sha256: hash.digest('hex'), size };
      } finally {
        await reader.close();
      }
    },
    async abandon() {
      await stop();
      await reader.close().catch(() => undefined);
    },
  };
}
