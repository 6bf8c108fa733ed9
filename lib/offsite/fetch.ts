// Getting a copy back from a target. The copy streams down once: its ciphertext is hashed as it
// arrives (it must be what its checksum record, and this machine's receipt, say was pushed), age
// decrypts it, and the plaintext goes where the caller says: into the backup tree through
// lib/store/writer (the one path into it: a hidden temporary file that gets its name only when
// its size and sha256 are the manifest's), or through a decompression test (verify --deep).
// The manifest comes back too, decrypted; a copy whose manifest is not its own is refused.
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { errorMessage, FailedError } from '../cli/errors.ts';
import { testArgv } from '../core/codec.ts';
import { kindDir } from '../core/naming.ts';
import { parseChecksumText, type RemoteCopy } from '../core/offsite-names.ts';
import type { Receipt } from '../core/receipts.ts';
import { runPipeline, type Stage } from '../proc/pipeline.ts';
import { parseManifestText, type Manifest } from '../store/manifest.ts';
import { sha256File } from '../store/manifest.ts';
import { copyMismatch, NameTakenError, writeBackupFile, type Fingerprint } from '../store/writer.ts';
import { ageAdvice, decryptStage, decryptText } from './age.ts';
import type { OffsiteStore } from './store.ts';

/** The copy's manifest, decrypted and checked to be its own; null when the copy has none. */
export async function fetchManifest(store: OffsiteStore, copy: RemoteCopy, identity: string | null): Promise<{ text: string; manifest: Manifest } | null> {
  if (!copy.hasManifest) return null;
  const data = await store.read(copy.keys.manifest);
  const text = copy.encrypted ? await decryptText(data, needIdentity(identity, copy), `the manifest of ${copy.name}`) : data.toString('utf8');
  const manifest = parseManifestText(text);
  if (!manifest) throw new FailedError(`the manifest of ${copy.name} at ${store.where} is damaged`);
  if (manifest.name !== copy.name || manifest.kind !== copy.kind || manifest.codec !== copy.codec) {
    throw new FailedError(`the manifest beside ${copy.name} at ${store.where} is the manifest of ${manifest.name}, not its own`);
  }
  return { text, manifest };
}

function needIdentity(identity: string | null, copy: RemoteCopy): string {
  if (identity === null) throw new FailedError(`${copy.name} is encrypted: an identity is needed (--identity <file>)`);
  return identity;
}

/** The sha256 the copy's checksum record gives, or null when it has none or it is not a record of this copy. */
export async function recordedSha256(store: OffsiteStore, copy: RemoteCopy): Promise<string | null> {
  if (!copy.hasChecksum) return null;
  return parseChecksumText((await store.read(copy.keys.checksum, 4096)).toString('utf8'), copy.keys.data);
}

/** Pure: why the bytes that arrived are not the copy that was pushed, or null. */
export function cipherMismatch(got: Fingerprint, recorded: string | null, receipt: Receipt | undefined): string | null {
  if (receipt && got.size !== receipt.size) return `${got.size} bytes arrived, ${receipt.size} were pushed`;
  if (recorded && got.sha256 !== recorded) return 'its sha256 is not the one recorded beside it at the target (changed or damaged there)';
  if (receipt && got.sha256 !== receipt.sha256) return 'its sha256 is not the one recorded here when it was pushed';
  return null;
}

export interface StreamedCopy {
  cipher: Fingerprint;
  /** The decrypted bytes' fingerprint, when asked for. */
  plain: Fingerprint | null;
  /** Why the copy could not be read, decrypted (or decompressed): one line, or null. */
  failure: string | null;
}

/**
 * Stream a copy through decryption (and `then`, e.g. a decompression test) into `stdout`. The
 * target's own read error is preferred over the broken stages it causes.
 */
export async function streamCopy(
  store: OffsiteStore,
  copy: RemoteCopy,
  identity: string | null,
  stdout: number | 'ignore',
  opts: { then?: Stage[]; hashPlain?: boolean } = {},
): Promise<StreamedCopy> {
  const hash = crypto.createHash('sha256');
  let size = 0;
  const plainHash = opts.hashPlain ? crypto.createHash('sha256') : null;
  let plainSize = 0;
  let readError: Error | null = null;
  let body: Readable;
  try {
    body = await store.open(copy.key);
  } catch (err) {
    return { cipher: { size: 0, sha256: '' }, plain: null, failure: errorMessage(err) };
  }
  body.once('error', (err) => (readError = err));
  const counted = body.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    }),
  );
  body.once('error', (err) => counted.destroy(err));
  const first: Stage = copy.encrypted ? decryptStage(needIdentity(identity, copy)) : { name: 'cat', argv: ['cat'] };
  const look = (chunk: Buffer) => {
    plainHash!.update(chunk);
    plainSize += chunk.length;
  };
  const res = await runPipeline({ stdin: counted, stages: [first, ...(opts.then ?? [])], stdout, tap: plainHash ? { after: 0, look } : undefined });
  const cipher = { size, sha256: hash.digest('hex') };
  const plain = plainHash ? { size: plainSize, sha256: plainHash.digest('hex') } : null;
  if (readError) return { cipher, plain, failure: `reading it from ${store.where} failed: ${errorMessage(readError)}` };
  if (!res.ok) {
    const f = res.failure;
    const detail = f ? (f.stage === 'age -d' ? `age -d failed: ${ageAdvice(f.detail, f.why === 'spawn')}` : f.message) : 'stopped';
    return { cipher, plain, failure: detail };
  }
  return { cipher, plain, failure: null };
}

export interface FetchSpec {
  store: OffsiteStore;
  copy: RemoteCopy;
  identity: string | null;
  /** The backup tree it goes into, and the name it takes there. */
  backupDir: string;
  name: string;
  receipt?: Receipt;
}

export interface Fetched extends Fingerprint {
  path: string;
  name: string;
  /** False when an identical file was already there (nothing was fetched). */
  transferred: boolean;
}

/**
 * Fetch a copy into the backup tree: decrypted, checked against its manifest, under its name only
 * when complete. A file already there under that name is kept when it is the same backup (its
 * size and sha256 are the manifest's), and never replaced otherwise.
 */
export async function fetchCopy(spec: FetchSpec): Promise<Fetched> {
  const { store, copy } = spec;
  const [got, recorded] = await Promise.all([fetchManifest(store, copy, spec.identity), recordedSha256(store, copy)]);
  const dir = path.join(spec.backupDir, kindDir(copy.kind));
  const final = path.join(dir, spec.name);
  const there = await fsp.lstat(final).catch(() => null);
  if (there) {
    const local = there.isFile() && got ? { size: there.size, sha256: await sha256File(final) } : null;
    const mismatch = local && got ? copyMismatch({ size: got.manifest.size, sha256: got.manifest.sha256 }, local) : 'not comparable';
    if (local && !mismatch) return { path: final, name: spec.name, ...local, transferred: false };
    throw new FailedError(`${final} already exists and is not ${copy.name} from ${store.target.name} (${mismatch}); it is never replaced: move it away to fetch again`);
  }
  const label = `fetching ${copy.name} from ${store.target.name}`;
  try {
    const file = await writeBackupFile({
      dir,
      names: { exact: spec.name },
      label,
      fill: async (fd) => {
        const streamed = await streamCopy(store, copy, spec.identity, fd);
        if (streamed.failure) throw new FailedError(`${label} (${store.where}) failed; nothing was kept: ${streamed.failure}`, { what: label });
        const mismatch = cipherMismatch(streamed.cipher, recorded, spec.receipt);
        if (mismatch) throw new FailedError(`${copy.name} at ${store.where} is not the copy that was pushed (${mismatch}); nothing was kept`, { what: label });
      },
      expect: got ? async () => ({ size: got.manifest.size, sha256: got.manifest.sha256 }) : undefined,
      manifest: () => got?.text ?? null,
    });
    return { path: file.path, name: file.name, size: file.size, sha256: file.sha256, transferred: true };
  } catch (err) {
    if (err instanceof NameTakenError) throw new FailedError(`${err.path} already exists and is not replaced; move it away to fetch ${copy.name} again`, { cause: err });
    throw err;
  }
}

/** Pure: the decompression test that follows decryption in a deep check. */
export function testStage(copy: RemoteCopy): Stage {
  return { name: `${copy.codec} -t`, argv: testArgv(copy.codec) };
}
