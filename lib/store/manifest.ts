// The sidecar written next to every backup (`<name>.manifest.json`) before the backup gets
// its final name: what a later check compares against.
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import { z } from 'zod';
import { FailedError } from '../cli/errors.ts';
import { writeFileAtomic } from './publish.ts';
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
      /** Incremental backups (absent in archives made without): 0 for a full, N for the Nth incremental. */
      level: z.number().int().min(0).optional(),
      /** The archive an incremental builds on (level - 1), as it was when this one was made. */
      parent: z.object({ name: z.string(), sha256: z.string() }).nullable().optional(),
      /**
       * tar's snapshot file (`--listed-incremental`) as this archive left it, kept beside it as
       * `<name>.snar`: what the next incremental starts from, after its checksum matches this one.
       */
      snapshot: z.object({ size: z.number(), sha256: z.string() }).nullable().optional(),
    })
    .optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** The kind-specific part of a new backup's manifest (what its writer learnt while writing it). */
export type ManifestContent = Pick<Manifest, 'database' | 'media'>;

/** Pure: the manifest of a backup just written under `name`. */
export function newManifest(p: {
  name: string;
  kind: Manifest['kind'];
  role: Manifest['role'];
  set: string;
  environment: string;
  codec: Manifest['codec'];
  size: number;
  sha256: string;
  startedAt: Date;
  finishedAt: Date;
  content: ManifestContent;
}): Manifest {
  return {
    version: 1,
    name: p.name,
    kind: p.kind,
    role: p.role,
    set: p.set,
    environment: p.environment,
    codec: p.codec,
    size: p.size,
    sha256: p.sha256,
    startedAt: p.startedAt.toISOString(),
    finishedAt: p.finishedAt.toISOString(),
    durationMs: p.finishedAt.getTime() - p.startedAt.getTime(),
    ...p.content,
  };
}

/** Pure: a manifest's text as it is stored. */
export function manifestText(m: Manifest): string {
  return JSON.stringify(m, null, 2) + '\n';
}

/** Pure: a manifest's text read back, or null when it is not one (damaged, or something else). */
export function parseManifestText(text: string): Manifest | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = ManifestSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

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

/**
 * Write a backup's manifest. A new backup's fails with EEXIST rather than replace another
 * backup's; `replace` is for a copy whose name is known to be free (a manifest there is a leftover).
 */
export async function writeManifest(backupPath: string, text: string, opts: { replace?: boolean } = {}): Promise<void> {
  await writeFileAtomic(manifestPathFor(backupPath), text, 0o600, !opts.replace);
}

/** The manifest of a backup, null when it has none; a damaged one is reported as such. */
export async function readManifest(backupPath: string): Promise<Manifest | null> {
  let text: string;
  try {
    text = await fsp.readFile(manifestPathFor(backupPath), 'utf8');
  } catch {
    return null;
  }
  const manifest = parseManifestText(text);
  if (!manifest) throw new Error(`manifest ${manifestPathFor(backupPath)} is damaged`);
  return manifest;
}

/**
 * The manifest a restore compares the file with: null when the file has none (old scripts'
 * backups), a refusal when it is damaged. `point`: the restore point asked for, when `name` is an
 * archive of its chain. The file itself is checked against it by the restore's own read of the
 * opened file (lib/store/source), not here.
 */
export async function manifestForRestore(file: string, name: string, point = name): Promise<Manifest | null> {
  try {
    return await readManifest(file);
  } catch (err) {
    const whose = name === point ? 'its manifest' : `the manifest of ${name}`;
    throw new FailedError(`refusing to restore ${point}, nothing was changed: ${whose} is damaged`, { cause: err });
  }
}
