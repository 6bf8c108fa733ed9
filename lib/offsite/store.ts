// What every kind of offsite target offers (lib/offsite/s3, ssh, path), so that push, fetch,
// listing, verify and prune are written once, and one conformance suite tests every kind alike.
// Keys are relative to the environment's folder at the target (lib/core/offsite-names).
//
// A copy is written in two steps: stage() streams its bytes to the target, commit() writes its
// checksum record and makes it visible under its final name. Where the kind can (a folder, a host
// over ssh) the bytes go to a temporary name first and commit renames them; on S3 the multipart
// upload's completion is what makes the object appear, all or nothing, and the record follows it.
// Either way a failed or interrupted write leaves nothing under a final name that counts as a copy.
import os from 'node:os';
import type { Readable } from 'node:stream';
import type { OffsiteTarget } from '../config/resolve.ts';
import type { CopyKeys, StoredObject } from '../core/offsite-names.ts';

/** S3 Object Lock for a new object: kept unchanged and undeletable until this date. */
export interface ObjectLock {
  mode: 'compliance' | 'governance';
  until: Date;
}

export interface WriteOptions {
  /** Expected size of the body (for the upload's part size); a hint, not a check. */
  sizeHint: number;
  lock: ObjectLock | null;
}

export interface StagedCopy {
  /** Write the checksum record and give the copy its final name. */
  commit(checksumText: string): Promise<void>;
  /** Remove what was staged (after a failure elsewhere); never throws. */
  discard(): Promise<void>;
}

export interface OffsiteStore {
  readonly target: OffsiteTarget;
  /** The environment's folder at the target, for messages: s3://bucket/prefix/env, user@host:path/env, /mnt/nas/env. */
  readonly where: string;
  /** Every object in the environment's folder (kinds' folders only). */
  list(): Promise<StoredObject[]>;
  /** A small object whole (a checksum record, a manifest); more than `maxBytes` is a failure. */
  read(key: string, maxBytes?: number): Promise<Buffer>;
  /** An object as a stream (a copy fetched back); a failure arrives as the stream's error. */
  open(key: string): Promise<Readable>;
  /** A small object, all or nothing (a manifest). */
  writeSmall(key: string, data: Buffer | string, lock: ObjectLock | null): Promise<void>;
  /** Stream `body` to where the copy `keys.data` will be; nothing is visible until commit(). */
  stage(keys: CopyKeys, body: Readable, opts: WriteOptions): Promise<StagedCopy>;
  remove(key: string): Promise<void>;
  /** When a locked object may be deleted (S3 Object Lock); null when it is not locked (always, for other kinds). */
  lockedUntil(key: string): Promise<Date | null>;
  /** The object's sha256 computed where it is, without moving it here (ssh: sha256sum on that host); null when the kind cannot. */
  hashThere(key: string): Promise<string | null>;
  /** Remove what interrupted writes left: staging files among `listed` (lib/offsite/store's staleStaging), unfinished multipart uploads over a day old. */
  sweep(now: Date, listed: readonly StoredObject[]): Promise<string[]>;
}

/** Bigger than any checksum record or manifest. */
export const SMALL_MAX = 64 << 20;

/** Left by a write that never finished, once this old: a write in progress is never this slow. */
export const STALE_AFTER_MS = 24 * 3600_000;

/** Who writes a staging file: this host and process, so that a later run here knows whether it is dead. */
export interface StagingOwner {
  /** The host's name, reduced to letters, digits and "-". */
  host: string;
  pid: number;
}

/** This process as the owner of the staging files it writes. */
export function thisWriter(): StagingOwner {
  return { host: os.hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 32) || 'host', pid: process.pid };
}

/**
 * Pure: the temporary name a copy is staged under, beside its final name, hidden: its time, host and
 * pid are in it, so a later run can tell a dead writer's leftovers without a clock or a process
 * table over there.
 */
export function stagingName(finalKey: string, now: Date, owner: StagingOwner, token: string): string {
  const slash = finalKey.lastIndexOf('/');
  return `${finalKey.slice(0, slash + 1)}.${finalKey.slice(slash + 1)}.partial-${Math.floor(now.getTime() / 1000)}-${owner.host}.${owner.pid}-${token}`;
}

/** Pure: when and by whom a staging name was made, or null when the name is not one. */
export function stagingInfo(key: string): { made: Date; owner: StagingOwner } | null {
  const m = /(?:^|\/)\.[^/]+\.partial-(\d{9,11})-([a-z0-9-]+)\.(\d+)-[a-z0-9]+$/.exec(key);
  return m ? { made: new Date(Number(m[1]) * 1000), owner: { host: m[2]!, pid: Number(m[3]) } } : null;
}

/**
 * Pure: the staging files among `listed` that no write in progress owns: those of a process of
 * this host that is gone, and any older than a day (another host's: a write is never that slow).
 */
export function staleStaging(listed: readonly StoredObject[], now: Date, me: StagingOwner, alive: (pid: number) => boolean): StoredObject[] {
  return listed.filter((o) => {
    const info = stagingInfo(o.key);
    if (!info) return false;
    if (now.getTime() - info.made.getTime() > STALE_AFTER_MS) return true;
    return info.owner.host === me.host && info.owner.pid !== me.pid && !alive(info.owner.pid);
  });
}

/** Open the target (the kind's module is loaded only when used: the S3 SDK is big to load). */
export async function openStore(target: OffsiteTarget, env: string): Promise<OffsiteStore> {
  if (target.kind === 's3') return (await import('./s3.ts')).openS3(target, env);
  if (target.kind === 'ssh') return (await import('./ssh.ts')).openSshStore(target, env);
  return (await import('./path.ts')).openPathStore(target, env);
}
