// One way to write any backup file: stages stream into a hidden temporary file, which is
// checked, fsynced, given its manifest and only then its final name. Any failure on the way
// removes the temporary file, so a final name always means a complete backup.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { openTemp, publish, ensurePrivateDir, sweepStaleTemps, freeSeq } from './atomic.ts';
import { FailedError } from './errors.ts';
import { runPipeline, type Stage } from './pipeline.ts';
import { startProgress } from './progress.ts';
import { ensureRoomForBackup, type BackupRoomOptions, type DiskMargin } from './disk.ts';
import { writeManifest, type Manifest } from './manifest.ts';
import { followFile } from './follow.ts';
import { manifestPathFor } from './catalog.ts';
import { formatStamp, kindDir, makeBackupName, parseBackupName, setKey, type BackupKind, type BackupRole, type Codec } from './naming.ts';

export interface WriteSpec {
  backupDir: string;
  kind: BackupKind;
  role: BackupRole;
  codec: Codec;
  stamp: string;
  seq: number;
  environment: string;
  /** Producer then compressor; the last stage writes the file. */
  stages: Stage[];
  /** Shown a copy of the first stage's output as it streams (runPipeline's observe). */
  observe?: (chunk: Buffer) => void;
  /** Checks after the stages succeeded; returns the kind-specific manifest part or throws FailedError. */
  check: () => Pick<Manifest, 'database' | 'media'>;
  label: string;
  /** Free space to require beyond the estimated size (settings.diskMargin). */
  diskMargin: DiskMargin;
  /** Size to expect when the folder has no earlier backup of this kind to go by. */
  sizeFallback?: BackupRoomOptions['fallback'];
}

export interface WrittenBackup {
  path: string;
  name: string;
  size: number;
  durationMs: number;
  manifest: Manifest;
}

export async function writeBackup(spec: WriteSpec): Promise<WrittenBackup> {
  const dir = path.join(spec.backupDir, kindDir(spec.kind));
  // Leftovers of killed runs go first (a run killed by a full disk leaves a big one); then the
  // guard refuses at the door, before any folder or file exists, rather than fill the disk mid-write.
  await sweepStaleTemps(dir);
  await ensureRoomForBackup({ backupDir: spec.backupDir, kind: spec.kind, role: spec.role, margin: spec.diskMargin, fallback: spec.sizeFallback });
  await ensurePrivateDir(dir);
  const nameFor = (seq: number) =>
    makeBackupName({ kind: spec.kind, role: spec.role, stamp: spec.stamp, seq, codec: spec.codec });
  const temp = await openTemp(dir, nameFor(spec.seq));
  const started = new Date();
  // Hash and flush the file as it grows, so neither is a second pass after the write.
  const follower = await followFile(temp.path, temp.fd).catch(async (err: Error) => {
    await temp.discard();
    throw new FailedError(`${spec.label} failed: ${err.message}`);
  });
  const progress = startProgress(spec.label, () => {
    try {
      return fs.fstatSync(temp.fd).size;
    } catch {
      return 0;
    }
  });
  try {
    const result = await runPipeline({
      stages: spec.stages,
      stdout: temp.fd,
      observe: spec.observe ? { after: 0, onData: spec.observe } : undefined,
    });
    progress.stop();
    if (!result.ok) throw new FailedError(`${spec.label} failed: ${result.failure}`);
    const extra = spec.check();
    const { sha256, size } = await follower.finish(true);
    const finished = new Date();
    let manifest: Manifest | null = null;
    const finalPath = await publish(
      temp,
      dir,
      nameFor,
      spec.seq,
      async (name) => {
        manifest = {
          version: 1,
          name,
          kind: spec.kind,
          role: spec.role,
          // The set key follows the name actually taken (publish may have moved to the next seq).
          set: setKey(parseBackupName(name)!),
          environment: spec.environment,
          codec: spec.codec,
          size,
          sha256,
          startedAt: started.toISOString(),
          finishedAt: finished.toISOString(),
          durationMs: finished.getTime() - started.getTime(),
          ...extra,
        };
        await writeManifest(path.join(dir, name), manifest);
      },
      async (name) => fsp.rm(manifestPathFor(path.join(dir, name)), { force: true }),
    );
    return { path: finalPath, name: path.basename(finalPath), size, durationMs: finished.getTime() - started.getTime(), manifest: manifest! };
  } catch (err) {
    progress.stop();
    await follower.abandon();
    await temp.discard();
    if (err instanceof FailedError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOSPC') throw new FailedError(`${spec.label} failed: no space left on ${dir}`);
    throw new FailedError(`${spec.label} failed: ${e.message}`);
  }
}

/**
 * The stamp and sequence number of a new set: the current second, and the first sequence
 * number free in every folder involved, so the halves of a set pair up by name.
 */
export async function chooseSet(backupDir: string, now: Date, kinds: BackupKind[], role: BackupRole = 'backup', codec?: Codec): Promise<{ stamp: string; seq: number }> {
  const stamp = formatStamp(now);
  const taken = new Set<string>();
  for (const kind of kinds) {
    for (const n of await fsp.readdir(path.join(backupDir, kindDir(kind))).catch(() => [] as string[])) taken.add(n);
  }
  const names = (seq: number) =>
    kinds.flatMap((kind) => (['zstd', 'gzip'] as Codec[]).filter((c) => !codec || c === codec).map((c) => makeBackupName({ kind, role, stamp, seq, codec: c })));
  return { stamp, seq: freeSeq(taken, names) };
}
