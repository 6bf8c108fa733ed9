// Sanity gates: a new backup that is much smaller than the previous one of its kind (a media
// full: than the previous full; an incremental is small by nature and compared with nothing), or a dump
// with no tables or no rows where the previous one had them, is the classic silent failure (the
// wrong database dumped, an emptied table, a media folder not mounted). The judgement is lib/core/verdicts's;
// gate() looks up the previous backup, logs the verdict and fails the run when configured to.
// The new backup is kept either way: it is a true copy of what there is now, and evidence.
import { FailedError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { Settings } from '../config/resolve.ts';
import { parseBackupName } from '../core/naming.ts';
import { previousToCompare, sanityCheck, type SanityInput, type SanityVerdict } from '../core/verdicts.ts';
import { listKind } from '../store/catalog.ts';
import { readManifest } from '../store/manifest.ts';
import type { WrittenBackup } from '../store/writer.ts';

/** The backup `b` is compared with (lib/core/verdicts previousToCompare), with its manifest. */
async function previousOf(settings: Settings, b: WrittenBackup): Promise<SanityInput | null> {
  const me = parseBackupName(b.name);
  if (!me) return null;
  const prev = previousToCompare(me, await listKind(settings.backupDir, me.kind));
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
