// A restore of a backup file, as restore-db, restore-media and recover run it: the checks, the
// confirmation and the safety copies of lib/db/restore and lib/media/restore, with the wiring
// around them (the file opened once, the manifest, the safety copy's stamp) in one place.
import { confirm } from '../cli/confirm.ts';
import { log } from '../cli/output.ts';
import type { Settings } from '../config/resolve.ts';
import { humanBytes, plural } from '../core/format.ts';
import type { Codec } from '../core/naming.ts';
import { totalRows } from '../db/dump-scanner.ts';
import { openConnection } from '../db/pg.ts';
import { restoreDatabase, type RestoreResult } from '../db/restore.ts';
import { openChain } from '../media/chain.ts';
import { restoreMedia, type MediaRestoreResult } from '../media/restore.ts';
import { chooseSet } from '../store/catalog.ts';
import { manifestForRestore } from '../store/manifest.ts';
import { openSource } from '../store/source.ts';

export interface RestoreFile {
  path: string;
  name: string;
  codec: Codec;
}

/** restore-db's work on one file: checked whole, confirmed (the database's name typed, or --yes), loaded, swapped. */
export async function restoreDatabaseFile(settings: Settings, file: RestoreFile, opts: { yes: boolean; now: Date }): Promise<RestoreResult> {
  const manifest = await manifestForRestore(file.path, file.name);
  const src = openSource(file.path);
  try {
    const { stamp } = await chooseSet(settings.backupDir, opts.now, ['database'], 'snapshot');
    const r = await restoreDatabase({
      settings,
      conn: openConnection(settings.database),
      src,
      name: file.name,
      codec: file.codec,
      manifest,
      stamp,
      confirm: (database) =>
        confirm({ action: `This replaces database "${database}" (${settings.envName}) with ${file.name}`, expected: database, yes: opts.yes }),
    });
    log.success(`database "${r.database}" restored from ${file.name} (${totalRows(r)} rows)`);
    if (r.safetyDatabase) {
      log.info(
        `the replaced data is kept in database "${r.safetyDatabase}" (pruned by the snapshots policy); ` +
          `to undo, rename "${r.database}" aside and "${r.safetyDatabase}" to "${r.database}" (README: "Undoing a restore")`,
      );
    }
    return r;
  } finally {
    src.close();
  }
}

/**
 * restore-media's work on one restore point: the file (and, for an incremental, every archive of
 * its chain) opened once and checked whole, confirmed (the environment's name typed, or --yes),
 * unpacked beside, swapped.
 */
export async function restoreMediaFile(settings: Settings, file: RestoreFile, opts: { yes: boolean; now: Date }): Promise<MediaRestoreResult> {
  const { stamp, seq } = await chooseSet(settings.backupDir, opts.now, ['media'], 'snapshot');
  const { links, close } = await openChain(file);
  try {
    const r = await restoreMedia({
      settings,
      links,
      stamp,
      seq,
      confirm: () =>
        confirm({ action: `This replaces the media folder ${settings.media.path} (${settings.envName}) with ${file.name}`, expected: settings.envName, yes: opts.yes }),
    });
    log.success(`media restored from ${file.name}${links.length > 1 ? ` (a chain of ${links.length} archives)` : ''}: ${plural(r.total.files, 'file')}, ${humanBytes(r.total.bytes)}`);
    return r;
  } finally {
    close();
  }
}
