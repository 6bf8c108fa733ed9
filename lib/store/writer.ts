// The one way any file enters the backup tree: a new backup, a download from another
// environment, an upload from this one, a copy fetched back from offsite. The bytes stream into
// a hidden temporary file, hashed and flushed as they land (lib/store/follow); a copy must then
// match the size and sha256 its source gave; the manifest is written; and only then does the file
// get its final name (lib/store/publish: link(2), never over another file). Any failure on the
// way removes the temporary file, so a final name always means a complete file, and a full disk
// is worded the same way whoever was writing.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { failure, FailedError } from '../cli/errors.ts';
import { startProgress } from '../cli/progress.ts';
import { humanBytes } from '../core/format.ts';
import { kindDir, makeBackupName, parseBackupName, setKey, type BackupKind, type BackupRole, type Codec } from '../core/naming.ts';
import type { DiskMargin } from '../core/room.ts';
import { manifestPathFor } from './catalog.ts';
import { ensureRoomForBackup, type BackupRoomOptions } from './disk.ts';
import { followFile } from './follow.ts';
import { manifestText, newManifest, writeManifest, type Manifest, type ManifestContent } from './manifest.ts';
import { ensurePrivateDir, openTemp, publish, sweepStaleTemps, writeFileAtomic } from './publish.ts';

export interface Fingerprint {
  size: number;
  sha256: string;
}

/** Pure: why a copy differs from the original, or null when it is the same file. */
export function copyMismatch(original: Fingerprint, copy: Fingerprint): string | null {
  if (copy.size !== original.size) return `${humanBytes(copy.size)} (${copy.size} bytes) instead of ${original.size} bytes`;
  if (copy.sha256 !== original.sha256) return `sha256 ${copy.sha256} instead of ${original.sha256}`;
  return null;
}

/** The one name a copy may take exists already (the same backup, or a conflict the caller judges). */
export class NameTakenError extends FailedError {
  readonly path: string;

  constructor(file: string) {
    super(`${file} already exists`);
    this.path = file;
  }
}

export interface Written extends Fingerprint {
  startedAt: Date;
  finishedAt: Date;
}

export interface WriteFileSpec {
  /** The folder of the tree it goes in (postgres/, media/). */
  dir: string;
  /** Proposed names for a new backup (the first free one wins), or the one name a copy must have. */
  names: { propose: (seq: number) => string; firstSeq: number } | { exact: string };
  /** What is written, for messages ("database backup", "downloading backup_…"). */
  label: string;
  /** Writes the bytes into `fd` (a pipeline whose last stage writes it, or a stream); throws to fail. */
  fill: (fd: number) => Promise<void>;
  /** What a copy must be, byte for byte (asked once the bytes are in, so a remote hash can run meanwhile). */
  expect?: () => Promise<Fingerprint>;
  /** The manifest (JSON text) to publish beside it, given the name taken; null for none. */
  manifest?: (name: string, written: Written) => string | null;
  /** A second sidecar published with the manifest (an incremental archive's tar snapshot, `<name>.snar`). */
  beside?: { suffix: string; data: () => Uint8Array };
  /** Before anything is created: the disk guard. */
  room?: () => Promise<unknown>;
}

export interface WrittenFile extends Written {
  path: string;
  name: string;
  manifestText: string | null;
}

export async function writeBackupFile(spec: WriteFileSpec): Promise<WrittenFile> {
  const { dir, label } = spec;
  const exact = 'exact' in spec.names ? spec.names.exact : null;
  const propose = 'exact' in spec.names ? null : spec.names.propose;
  const firstSeq = 'exact' in spec.names ? 1 : spec.names.firstSeq;
  const nameFor = (seq: number): string => {
    if (propose) return propose(seq);
    // A copy never becomes `…-2`: it is the same file or a conflict.
    if (seq > 1) throw new NameTakenError(path.join(dir, exact!));
    return exact!;
  };
  // Leftovers of killed runs go first (a run killed by a full disk leaves a big one); then the
  // guard refuses at the door, before any folder or file exists, rather than fill the disk mid-write.
  await sweepStaleTemps(dir);
  await spec.room?.();
  let temp;
  try {
    await ensurePrivateDir(dir);
    temp = await openTemp(dir, nameFor(firstSeq));
  } catch (err) {
    throw failure(label, err, dir);
  }
  const startedAt = new Date();
  const fd = temp.fd;
  const follower = await followFile(temp.path, fd).catch(async (err: Error) => {
    await temp.discard();
    throw failure(label, err, dir);
  });
  const progress = startProgress(label, () => {
    try {
      return fs.fstatSync(fd).size;
    } catch {
      return 0;
    }
  });
  try {
    await spec.fill(fd);
    progress.stop();
    const { sha256, size } = await follower.finish(true);
    const written: Written = { size, sha256, startedAt, finishedAt: new Date() };
    if (spec.expect) {
      const mismatch = copyMismatch(await spec.expect(), written);
      if (mismatch) throw new FailedError(`${label} failed: the copy does not match its source (${mismatch}); nothing was kept; try again`, { what: label });
    }
    let text: string | null = null;
    const finalPath = await publish(
      temp,
      dir,
      nameFor,
      firstSeq,
      async (name) => {
        text = spec.manifest?.(name, written) ?? null;
        // A copy's name is free, so a manifest under it is a leftover of an interrupted run: replaced.
        if (text !== null) await writeManifest(path.join(dir, name), text, { replace: exact !== null });
        // The manifest claimed the name, so a sidecar already there is a killed run's leftover.
        if (spec.beside) await writeFileAtomic(path.join(dir, name) + spec.beside.suffix, spec.beside.data(), 0o600);
      },
      async (name) => {
        if (text !== null) await fsp.rm(manifestPathFor(path.join(dir, name)), { force: true });
        if (spec.beside) await fsp.rm(path.join(dir, name) + spec.beside.suffix, { force: true });
      },
    );
    return { ...written, path: finalPath, name: path.basename(finalPath), manifestText: text };
  } catch (err) {
    progress.stop();
    await follower.abandon();
    await temp.discard();
    // The caller judges a taken name (the same backup, or a conflict): passed on as it is.
    if (err instanceof NameTakenError) throw err;
    throw failure(label, err, dir);
  }
}

export interface NewBackupSpec {
  backupDir: string;
  kind: BackupKind;
  role: BackupRole;
  codec: Codec;
  stamp: string;
  seq: number;
  /** Media backups: the incremental level (0: a full). */
  level?: number;
  environment: string;
  label: string;
  /** Free space to require beyond the estimated size (settings.diskMargin). */
  diskMargin: DiskMargin;
  /** Size to expect when the folder has no earlier backup of this kind to go by. */
  sizeFallback?: BackupRoomOptions['fallback'];
  /** Writes the backup into `fd`, checks it, and returns what its manifest says of the content. */
  fill: (fd: number) => Promise<ManifestContent>;
  /** A sidecar to publish with it (see WriteFileSpec.beside). */
  beside?: WriteFileSpec['beside'];
}

export interface WrittenBackup {
  path: string;
  name: string;
  size: number;
  durationMs: number;
  manifest: Manifest;
}

/** A new backup: the disk guard, the names of the tree, and a manifest of what was written. */
export async function writeNewBackup(spec: NewBackupSpec): Promise<WrittenBackup> {
  let content: ManifestContent = {};
  let manifest: Manifest | null = null;
  const file = await writeBackupFile({
    dir: path.join(spec.backupDir, kindDir(spec.kind)),
    names: { propose: (seq) => makeBackupName({ kind: spec.kind, role: spec.role, stamp: spec.stamp, seq, codec: spec.codec, level: spec.level }), firstSeq: spec.seq },
    label: spec.label,
    room: () => ensureRoomForBackup({ backupDir: spec.backupDir, kind: spec.kind, role: spec.role, margin: spec.diskMargin, fallback: spec.sizeFallback }),
    fill: async (fd) => {
      content = await spec.fill(fd);
    },
    beside: spec.beside,
    manifest: (name, w) => {
      manifest = newManifest({
        name,
        kind: spec.kind,
        role: spec.role,
        // The set key follows the name actually taken (publish may have moved to the next seq).
        set: setKey(parseBackupName(name)!),
        environment: spec.environment,
        codec: spec.codec,
        size: w.size,
        sha256: w.sha256,
        startedAt: w.startedAt,
        finishedAt: w.finishedAt,
        content,
      });
      return manifestText(manifest);
    },
  });
  return { path: file.path, name: file.name, size: file.size, durationMs: file.finishedAt.getTime() - file.startedAt.getTime(), manifest: manifest! };
}
