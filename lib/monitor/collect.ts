// The effects behind the statistics: reading the catalog with its manifests, and writing the
// Prometheus textfile for node_exporter.
import { errorMessage, FailedError } from '../cli/errors.ts';
import type { Settings } from '../config/resolve.ts';
import { listAll } from '../store/catalog.ts';
import { readManifest } from '../store/manifest.ts';
import { writeFileAtomic } from '../store/publish.ts';
import { readReceipts } from '../offsite/receipts.ts';
import { computeStats, offsiteStats, prometheusText, type BackupStats, type OffsiteStats, type StatsEntry } from './stats.ts';

/** The catalog with each backup's manifest (null when missing or damaged: size is still known). */
export async function collectStats(settings: Settings, now: Date): Promise<BackupStats> {
  const files = await listAll(settings.backupDir);
  const entries: StatsEntry[] = [];
  for (const file of files) entries.push({ file, manifest: file.manifestPath ? await readManifest(file.path).catch(() => null) : null });
  return computeStats(entries, now, settings.envName);
}

/**
 * Write the Prometheus textfile when the config names one (prometheusTextfile), atomically so
 * node_exporter never reads half a file; world-readable, as node_exporter runs as its own user.
 * Returns the path written, or null when none is configured.
 */
export async function writePrometheusTextfile(settings: Settings, now: Date): Promise<string | null> {
  const file = settings.prometheusTextfile;
  if (!file) return null;
  const offsite: OffsiteStats[] = [];
  for (const target of Object.keys(settings.offsite)) offsite.push(...offsiteStats(target, (await readReceipts(settings.backupDir, target)).byName.keys()));
  const text = prometheusText(await collectStats(settings, now), now, offsite);
  try {
    await writeFileAtomic(file, text, 0o644);
  } catch (err) {
    throw new FailedError(`cannot write the Prometheus textfile ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return file;
}
