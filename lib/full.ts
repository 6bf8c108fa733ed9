// One backup set: the database, then the media, sharing one stamp so the two pair up in
// list-backups and in retention. A failure of one half never stops the other.
import type { Settings } from './config.ts';
import { backupDatabase } from './db.ts';
import { backupMedia, halfFailure } from './media.ts';
import type { PgConnection } from './pg.ts';
import { chooseSet, type WrittenBackup } from './writer.ts';

export type Half = 'database' | 'media';

export interface HalfResult {
  half: Half;
  backup: WrittenBackup | null;
  /** One line saying why the half failed, or null. */
  error: string | null;
  durationMs: number;
}

export async function backupSet(
  settings: Settings,
  conn: PgConnection,
  now: Date,
  onHalf?: (r: HalfResult) => void,
): Promise<HalfResult[]> {
  const { stamp, seq } = await chooseSet(settings.backupDir, now, ['database', 'media']);
  const halves: [Half, () => Promise<WrittenBackup>][] = [
    ['database', () => backupDatabase({ settings, conn, stamp, seq })],
    ['media', () => backupMedia({ settings, stamp, seq })],
  ];
  const results: HalfResult[] = [];
  for (const [half, run] of halves) {
    const started = Date.now();
    let r: HalfResult;
    try {
      r = { half, backup: await run(), error: null, durationMs: Date.now() - started };
    } catch (err) {
      r = { half, backup: null, error: halfFailure(half, err), durationMs: Date.now() - started };
    }
    results.push(r);
    onHalf?.(r);
  }
  return results;
}
