// The sidecar written next to every backup (`<name>.manifest.json`) before the backup gets
// its final name: what a later check compares against.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from './atomic.ts';
import { manifestPathFor } from './catalog.ts';

export const ManifestSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  kind: z.enum(['database', 'media']),
  role: z.enum(['backup', 'snapshot']),
  set: z.string(),
  environment: z.string(),
  codec: z.enum(['zstd', 'gzip']),
  size: z.number(),
  sha256: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number(),
  database: z
    .object({
      name: z.string().nullable(),
      serverVersion: z.string().nullable(),
      pgDumpVersion: z.string().nullable(),
      dumpBytes: z.number(),
      rows: z.record(z.string(), z.number()),
      toc: z.record(z.string(), z.number()),
    })
    .optional(),
  media: z
    .object({
      files: z.number(),
      directories: z.number(),
      bytes: z.number(),
      warnings: z.array(z.string()),
    })
    .optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** One reused buffer: a stream would allocate a new chunk per read and grow the heap by the file's size. */
export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fh = await fsp.open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/** Write a new backup's manifest; fails with EEXIST rather than replace another backup's. */
export async function writeManifest(backupPath: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(manifestPathFor(backupPath), JSON.stringify(manifest, null, 2) + '\n', 0o600, true);
}

/** The manifest of a backup, null when it has none; a damaged one is reported as such. */
export async function readManifest(backupPath: string): Promise<Manifest | null> {
  let text: string;
  try {
    text = await fsp.readFile(manifestPathFor(backupPath), 'utf8');
  } catch {
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) throw new Error(`manifest ${manifestPathFor(backupPath)} is damaged`);
  return parsed.data;
}
