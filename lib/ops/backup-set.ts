// One backup set: the database, then the media, sharing one stamp so the two pair up in
// list-backups and in retention. A failure of one half never stops the other. A media folder
// that is only the built-in default (./media) and does not exist is no half at all (a fresh
// clone); one that was configured and is missing is a failed half.
import { errorMessage } from '../cli/errors.ts';
import type { Settings } from '../config/resolve.ts';
import { backupDatabase } from '../db/dump.ts';
import type { PgConnection } from '../db/pg.ts';
import { backupMedia, hostFolderState } from '../media/backup.ts';
import { chooseSet } from '../store/catalog.ts';
import type { WrittenBackup } from '../store/writer.ts';

export type Half = 'database' | 'media';

export interface HalfResult {
  half: Half;
  backup: WrittenBackup | null;
  /** One line saying why the half failed, or null. */
  error: string | null;
  /** Why the half was not attempted (no media folder on built-in defaults), or null. */
  skipped: string | null;
  durationMs: number;
}

export async function backupSet(settings: Settings, conn: PgConnection, now: Date, onHalf?: (r: HalfResult) => void): Promise<HalfResult[]> {
  const { stamp, seq } = await chooseSet(settings.backupDir, now, ['database', 'media']);
  const halves: [Half, () => Promise<WrittenBackup>][] = [
    ['database', () => backupDatabase({ settings, conn, stamp, seq })],
    ['media', () => backupMedia({ settings, stamp, seq, now })],
  ];
  const results: HalfResult[] = [];
  for (const [half, run] of halves) {
    const started = Date.now();
    let r: HalfResult;
    try {
      if (half === 'media' && hostFolderState(settings.media) === 'absent') {
        const why = `no media folder ${settings.media.path} (the built-in default); only the database was backed up. Create it, or set MEDIA_DIR or media.path`;
        r = { half, backup: null, error: null, skipped: why, durationMs: 0 };
      } else {
        r = { half, backup: await run(), error: null, skipped: null, durationMs: Date.now() - started };
      }
    } catch (err) {
      // Every error of a half is worded "<half> backup failed: …" where it is thrown.
      r = { half, backup: null, error: errorMessage(err), skipped: null, durationMs: Date.now() - started };
    }
    results.push(r);
    onHalf?.(r);
  }
  return results;
}
