// Sanity gates: a new backup that is much smaller than the previous one of its kind, or a dump
// with no tables or no rows where the previous one had them, is the classic silent failure (the
// wrong database dumped, an emptied table, a media folder not mounted). The judgement is pure;
// gate() looks up the previous backup, logs the verdict and fails the run when configured to.
// The new backup is kept either way: it is a true copy of what there is now, and evidence.
import { humanBytes, listKind } from './catalog.ts';
import type { Settings } from './config.ts';
import { totalRows } from './dump-inspector.ts';
import { FailedError } from './errors.ts';
import { log } from './log.ts';
import { readManifest, type Manifest } from './manifest.ts';
import { parseBackupName } from './naming.ts';
import type { WrittenBackup } from './writer.ts';

export interface SanityInput {
  size: number;
  manifest: Manifest | null;
}

export interface SanityVerdict {
  level: 'ok' | 'warn' | 'fail';
  message: string;
}

function tables(m: Manifest | null): number | null {
  return m?.database ? (m.database.toc.TABLE ?? 0) : null;
}

/** Rounded down, so a backup just under the threshold never reads as being at it. */
function pct(ratio: number): string {
  return `${Math.floor(ratio * 100)}%`;
}

/** Pure: is the new backup plausible next to the previous one of the same kind? */
export function sanityCheck(next: SanityInput, previous: SanityInput | null, cfg: Settings['verify']): SanityVerdict {
  const problems: string[] = [];
  if (previous && previous.size > 0 && next.size < cfg.minSizeRatio * previous.size) {
    problems.push(
      `it is ${pct(next.size / previous.size)} of the previous backup's size (${humanBytes(next.size)} vs ${humanBytes(previous.size)}; ` +
        `the threshold is ${pct(cfg.minSizeRatio)}, verify.minSizeRatio)`,
    );
  }
  const db = next.manifest?.database;
  if (db) {
    const prevTables = previous ? tables(previous.manifest) : null;
    // A database known to be empty before may be empty still; anything else with no tables is suspect.
    if ((db.toc.TABLE ?? 0) === 0 && prevTables !== 0) {
      problems.push('the dump has an empty table of contents (no tables): is the right database configured?');
    }
    const prevRows = previous?.manifest?.database ? totalRows(previous.manifest.database) : 0;
    if ((db.toc.TABLE ?? 0) > 0 && totalRows(db) === 0 && prevRows > 0) {
      problems.push(`the dump holds no rows, the previous one held ${prevRows}`);
    }
  }
  const media = next.manifest?.media;
  const prevFiles = previous?.manifest?.media?.files ?? 0;
  if (media && media.files === 0 && prevFiles > 0) {
    problems.push(`the archive holds no files, the previous one held ${prevFiles}`);
  }
  if (!problems.length) return { level: 'ok', message: 'looks like the previous backup' };
  // With nothing to compare against (a new project's empty database) it can only be a warning.
  const level = cfg.onShrink === 'fail' && previous !== null ? 'fail' : 'warn';
  return { level, message: problems.join('; ') };
}

/** The newest regular backup of this environment older than `b`, with its manifest. */
async function previousOf(settings: Settings, b: WrittenBackup): Promise<SanityInput | null> {
  const me = parseBackupName(b.name);
  if (!me) return null;
  const before = (await listKind(settings.backupDir, me.kind)).filter(
    (o) => o.role === 'backup' && o.env === null && o.name !== b.name && (o.time < me.time || (+o.time === +me.time && o.seq < me.seq)),
  );
  const prev = before[0];
  if (!prev) return null;
  const manifest = await readManifest(prev.path).catch(() => null);
  return { size: prev.size, manifest };
}

/**
 * Check new backups after they were written: a warning is logged; a failure (verify.onShrink:
 * fail) is logged for each and thrown once, so the run exits 1 — the files stay.
 */
export async function gate(settings: Settings, written: WrittenBackup | WrittenBackup[]): Promise<SanityVerdict[]> {
  const verdicts: SanityVerdict[] = [];
  const failures: string[] = [];
  for (const b of Array.isArray(written) ? written : [written]) {
    if (b.manifest.role !== 'backup') continue;
    const v = sanityCheck({ size: b.size, manifest: b.manifest }, await previousOf(settings, b), settings.verify);
    verdicts.push(v);
    if (v.level === 'warn') log.warn(`sanity check of ${b.name}: ${v.message}`);
    if (v.level === 'fail') failures.push(`${b.name}: ${v.message}`);
  }
  if (failures.length) {
    throw new FailedError(
      `sanity check failed for ${failures.join('; ')}. The backup was kept; look at what changed ` +
        `(set verify.onShrink: warn to only warn)`,
    );
  }
  return verdicts;
}
