// What every kind of offsite target offers (lib/offsite/s3, ssh, path), so that push, fetch,
// listing, verify and prune are written once, and one conformance suite tests every kind alike.
// Keys are relative to the environment's folder at the target (lib/core/offsite-names).
//
// A copy is written in two steps: stage() streams its bytes to the target, commit() writes its
// checksum record and makes it visible under its final name. Where the kind can (a folder, a host
// over ssh) the bytes go to a temporary name first and commit renames them; on S3 the multipart
// upload's completion is what makes the object appear, all or nothing, and the record follows it.
// Either way a failed or interrupted write leaves nothing under a final name that counts as a copy.
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
  /** Remove what interrupted writes left (temporary files among `listed`, unfinished multipart uploads) more than a day old. */
  sweep(now: Date, listed: readonly StoredObject[]): Promise<string[]>;
}

/** Bigger than any checksum record or manifest. */
export const SMALL_MAX = 64 << 20;

/** Left by a write that never finished, once this old: a write in progress is never this slow. */
export const STALE_AFTER_MS = 24 * 3600_000;

/** Pure: the temporary name a copy is staged under (its time in it, so a later run can judge its age without a clock there). */
export function stagingName(finalKey: string, now: Date, token: string): string {
  const slash = finalKey.lastIndexOf('/');
  return `${finalKey.slice(0, slash + 1)}.${finalKey.slice(slash + 1)}.partial-${Math.floor(now.getTime() / 1000)}-${token}`;
}

/** Pure: the time a staging name was made at, or null when the name is not one. */
export function stagingTime(key: string): Date | null {
  const m = /(?:^|\/)\.[^/]+\.partial-(\d{9,11})-[a-z0-9]+$/.exec(key);
  return m ? new Date(Number(m[1]) * 1000) : null;
}

/** Pure: the staging files among `listed` older than a day: a write in progress is never that slow. */
export function staleStaging(listed: readonly StoredObject[], now: Date): StoredObject[] {
  return listed.filter((o) => {
    const made = stagingTime(o.key);
    return made !== null && now.getTime() - made.getTime() > STALE_AFTER_MS;
  });
}

/** Open the target (the kind's module is loaded only when used: the S3 SDK is big to load). */
export async function openStore(target: OffsiteTarget, env: string): Promise<OffsiteStore> {
  if (target.kind === 's3') return (await import('./s3.ts')).openS3(target, env);
  if (target.kind === 'ssh') return (await import('./ssh.ts')).openSshStore(target, env);
  return (await import('./path.ts')).openPathStore(target, env);
}
