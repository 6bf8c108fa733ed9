// The archives a media restore point needs, found beside it and opened: the point itself when it
// is a full, else its chain (lib/core/chains), full first. Each is opened once (lib/store/source),
// with its manifest, for lib/media/restore to check and unpack.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { FailedError } from '../cli/errors.ts';
import { chainByNames } from '../core/chains.ts';
import { parseBackupName, type BackupName } from '../core/naming.ts';
import { manifestForRestore } from '../store/manifest.ts';
import { openSource } from '../store/source.ts';
import type { MediaLink } from './restore.ts';

/** Pure over a folder's names: the chain of `point` among them, or a refusal naming the gap. */
export function chainIn(point: BackupName, names: readonly string[]): BackupName[] {
  const chain = chainByNames(point, names);
  if (chain.broken) {
    throw new FailedError(
      `refusing to restore ${point.name}, nothing was changed: its chain is broken (${chain.broken}); restore an earlier point (list-backups shows the chains)`,
    );
  }
  return chain.links;
}

/** Open every archive a restore of `file` needs; `close` closes them all. */
export async function openChain(file: { path: string; name: string }): Promise<{ links: MediaLink[]; close: () => void }> {
  const point = parseBackupName(file.name);
  if (!point) throw new FailedError(`${file.name} is not a media backup name`);
  const dir = path.dirname(file.path);
  const names = point.level > 0 ? await fsp.readdir(dir) : [];
  const chain = chainIn(point, names);
  const links: MediaLink[] = [];
  const close = () => {
    for (const l of links) l.src.close();
  };
  try {
    for (const b of chain) {
      const p = path.join(dir, b.name);
      const manifest = await manifestForRestore(p, b.name, file.name);
      links.push({ src: openSource(p), name: b.name, codec: b.codec, manifest });
    }
  } catch (err) {
    close();
    throw err;
  }
  return { links, close };
}
