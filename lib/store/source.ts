// A backup opened for reading, once, for everything a restore or a drill does with it: the checks
// and then the restore read the same open file (the same inode, whatever happens to the path
// meanwhile), and every read hashes what it hands on. A restore then compares the hash of the
// bytes it restored with the hash of the bytes it checked, and refuses to finish when they differ:
// what is restored is, byte for byte, what was checked, even if the file was replaced or written
// to while a person took minutes to type the confirmation.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { FailedError } from '../cli/errors.ts';
import type { Fingerprint } from './writer.ts';

const CHUNK = 1 << 20;

export interface SourceRead {
  /** The file's bytes from the first, read by position (no shared offset), hashed as they pass. */
  stream: Readable;
  /** What was read, once the stream has ended: size and sha256 of exactly those bytes. */
  done: Promise<Fingerprint>;
  /** Bytes handed on so far (for progress). */
  position(): number;
}

export interface BackupSource {
  readonly path: string;
  readonly size: number;
  /** Read the whole file once more, from its first byte. */
  read(): SourceRead;
  /**
   * The bytes of the checked read, to compare a later read with: set by `check(fp)` after the
   * checks passed; `verifySame(fp)` throws when a later read gave other bytes.
   */
  check(fp: Fingerprint): void;
  verifySame(fp: Fingerprint, what: string): void;
  close(): void;
}

/** Open a backup file for reading: a regular file, not followed through a symlink. */
export function openSource(file: string): BackupSource {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new FailedError(`${file} is a symbolic link, not a backup file; nothing was changed`, { cause: err });
    throw new FailedError(`cannot open ${file}: ${(err as Error).message}`, { cause: err });
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new FailedError(`${file} is not a regular file; nothing was changed`);
  }
  let checked: Fingerprint | null = null;
  let closed = false;
  return {
    path: file,
    size: st.size,
    read() {
      if (closed) throw new Error(`${file} is closed`);
      const hash = crypto.createHash('sha256');
      let position = 0;
      let settle!: (fp: Fingerprint) => void;
      let fail!: (err: Error) => void;
      const done = new Promise<Fingerprint>((resolve, reject) => {
        settle = resolve;
        fail = reject;
      });
      done.catch(() => undefined);
      const stream = new Readable({
        highWaterMark: CHUNK,
        read() {
          const buf = Buffer.allocUnsafe(CHUNK);
          fs.read(fd, buf, 0, CHUNK, position, (err, n) => {
            if (err) {
              fail(err);
              this.destroy(err);
              return;
            }
            if (n === 0) {
              settle({ size: position, sha256: hash.digest('hex') });
              this.push(null);
              return;
            }
            const chunk = buf.subarray(0, n);
            hash.update(chunk);
            position += n;
            this.push(chunk);
          });
        },
      });
      stream.once('close', () => fail(new Error('the read was stopped before the end')));
      return { stream, done, position: () => position };
    },
    check(fp) {
      checked = fp;
    },
    verifySame(fp, what) {
      if (!checked) throw new Error(`${file}: nothing was checked before ${what}`);
      if (fp.size !== checked.size || fp.sha256 !== checked.sha256) {
        throw new FailedError(
          `${file} changed after it was checked (${fp.size} bytes, sha256 ${fp.sha256.slice(0, 12)}…, checked: ${checked.size} bytes, ${checked.sha256.slice(0, 12)}…); ${what}`,
        );
      }
    },
    close() {
      if (closed) return;
      closed = true;
      fs.closeSync(fd);
    },
  };
}
