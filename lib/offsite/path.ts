// An offsite target that is a folder on this machine: a mounted NAS or USB disk. A copy streams
// into a hidden temporary file, is fsynced, gets its checksum record, and is renamed to its name;
// the folder is fsynced after. Symbolic links and anything not a regular file are never followed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FailedError } from '../cli/errors.ts';
import type { OffsiteTarget } from '../config/resolve.ts';
import { envFolder, type StoredObject } from '../core/offsite-names.ts';
import { ensurePrivateDir, fsyncDir, writeFileAtomic } from '../store/publish.ts';
import { processAlive } from '../proc/pid.ts';
import { SMALL_MAX, stagingName, staleStaging, thisWriter, type OffsiteStore } from './store.ts';

const KIND_FOLDERS = ['postgres', 'media'];

export function openPathStore(target: Extract<OffsiteTarget, { kind: 'path' }>, env: string): OffsiteStore {
  const base = envFolder(target.path, env);
  const me = thisWriter();
  const full = (key: string) => path.join(base, key);
  const openRegular = (key: string): number => {
    const fd = fs.openSync(full(key), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw new FailedError(`${full(key)} is not a regular file`);
    }
    return fd;
  };

  const store: OffsiteStore = {
    target,
    where: base,
    async list() {
      const out: StoredObject[] = [];
      for (const folder of KIND_FOLDERS) {
        const names = await fsp.readdir(path.join(base, folder)).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return [] as string[];
          throw err;
        });
        for (const name of names) {
          const st = await fsp.lstat(path.join(base, folder, name)).catch(() => null);
          if (st?.isFile()) out.push({ key: `${folder}/${name}`, size: st.size, modified: st.mtime });
        }
      }
      return out;
    },
    async read(key, maxBytes = SMALL_MAX) {
      const fd = openRegular(key);
      try {
        if (fs.fstatSync(fd).size > maxBytes) throw new FailedError(`${full(key)} is larger than ${maxBytes} bytes`);
        return fs.readFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    },
    async open(key) {
      return fs.createReadStream('', { fd: openRegular(key), highWaterMark: 1 << 20 });
    },
    async writeSmall(key, data) {
      await ensurePrivateDir(path.dirname(full(key)));
      await writeFileAtomic(full(key), data, 0o600);
    },
    async stage(keys, body: Readable) {
      const final = full(keys.data);
      const dir = path.dirname(final);
      await ensurePrivateDir(dir);
      const temp = path.join(base, stagingName(keys.data, new Date(), me, crypto.randomBytes(4).toString('hex')));
      const fh = await fsp.open(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      const discard = async () => {
        await fsp.rm(temp, { force: true }).catch(() => undefined);
      };
      try {
        for await (const chunk of body) await fh.write(chunk as Buffer);
        await fh.sync();
      } catch (err) {
        await discard();
        throw err;
      } finally {
        await fh.close();
      }
      return {
        async commit(text) {
          try {
            await writeFileAtomic(full(keys.checksum), text, 0o600);
            fs.renameSync(temp, final);
            fsyncDir(dir);
          } catch (err) {
            await discard();
            throw err;
          }
        },
        discard,
      };
    },
    async remove(key) {
      await fsp.rm(full(key), { force: true });
    },
    async lockedUntil() {
      return null;
    },
    async hashThere() {
      return null;
    },
    async sweep(now, listed) {
      const stale = staleStaging(listed, now, me, processAlive);
      for (const o of stale) await store.remove(o.key);
      return stale.map((o) => o.key);
    },
  };
  return store;
}
