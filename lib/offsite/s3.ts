// An offsite target in S3-compatible object storage (AWS, Backblaze B2, Cloudflare R2, Wasabi,
// Hetzner, MinIO…), through the AWS SDK v3. A copy streams up as a multipart upload (a few parts in
// memory at a time, whatever the size), which makes the object appear only when it completes; a
// failed upload is aborted, so its parts do not linger. The copy's checksum record follows as a
// small object. Object Lock (immutableDays) is asked for on every object.
//
// Flexible checksums are asked for only where the service requires them: by default the SDK sends
// a streamed body `aws-chunked` with a trailing CRC32, which several S3-compatible servers store
// verbatim (a corrupt object, with 200 OK).
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { FailedError } from '../cli/errors.ts';
import { log, registerSecret } from '../cli/output.ts';
import type { OffsiteTarget } from '../config/resolve.ts';
import { envFolder, type StoredObject } from '../core/offsite-names.ts';
import { SMALL_MAX, STALE_AFTER_MS, type ObjectLock, type OffsiteStore } from './store.ts';

type S3Offsite = Extract<OffsiteTarget, { kind: 's3' }>;

/** Parts of at least this size; larger backups get larger parts (S3 allows 10,000 per upload). */
const MIN_PART = 8 << 20;
const MAX_PARTS = 9000;
/** Parts in flight (one more is being filled): with MIN_PART, 32 MiB of part buffers whatever the size. */
const QUEUE = 3;

/** Pure: the part size for a body of about `size` bytes. */
export function partSizeFor(size: number): number {
  return Math.max(MIN_PART, Math.ceil((size * 1.05) / MAX_PARTS));
}

/**
 * A streamed upload into a few part buffers that are filled and reused (no buffer per part, no
 * copy of a part into another: memory stays flat and the garbage collector idle, whatever the
 * size). A body shorter than one part goes up as one PutObject; a longer one as a multipart upload
 * with a few parts in flight, which the object's name shows only once completed. The caller aborts
 * a failed upload (`uploadId`).
 */
/** The object's name and, with Object Lock, its lock and the checksum S3 then requires. */
type UploadParams = { Bucket: string; Key: string; ObjectLockMode?: 'COMPLIANCE' | 'GOVERNANCE'; ObjectLockRetainUntilDate?: Date; ChecksumAlgorithm?: 'CRC32' };

class PartUpload {
  uploadId: string | null = null;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private waiting: ((b: Buffer) => void) | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];

  private readonly client: S3Client;
  private readonly params: UploadParams;
  private readonly partSize: number;

  constructor(client: S3Client, params: UploadParams, partSize: number) {
    this.client = client;
    this.params = params;
    this.partSize = partSize;
  }

  private async take(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return b;
    if (this.allocated < QUEUE + 1) {
      this.allocated++;
      return Buffer.allocUnsafe(this.partSize);
    }
    return new Promise((resolve) => (this.waiting = resolve));
  }

  private release(b: Buffer): void {
    const w = this.waiting;
    this.waiting = null;
    if (w) w(b);
    else this.free.push(b);
  }

  private async sendPart(buf: Buffer, length: number): Promise<void> {
    const { Bucket, Key, ChecksumAlgorithm } = this.params;
    if (!this.uploadId) this.uploadId = (await this.client.send(new CreateMultipartUploadCommand(this.params))).UploadId ?? null;
    if (!this.uploadId) throw new Error('the storage gave no upload id');
    const PartNumber = this.parts.length + this.inFlight.size + 1;
    const UploadId = this.uploadId;
    const sent = this.client
      .send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: buf.subarray(0, length), ContentLength: length, ChecksumAlgorithm }))
      .then((r) => {
        if (!r.ETag) throw new Error(`part ${PartNumber}: no ETag in the answer`);
        this.parts.push({ PartNumber, ETag: r.ETag, ChecksumCRC32: r.ChecksumCRC32 });
      })
      .finally(() => {
        this.inFlight.delete(sent);
        this.release(buf);
      });
    this.inFlight.add(sent);
    sent.catch(() => undefined);
    // A failed part fails the upload here, at the next part, not only at the end.
    if (this.inFlight.size >= QUEUE) await Promise.race(this.inFlight);
  }

  async send(body: AsyncIterable<unknown>): Promise<void> {
    let part = await this.take();
    let filled = 0;
    try {
      for await (const data of body) {
        const chunk = data as Buffer;
        for (let off = 0; off < chunk.length; ) {
          const n = chunk.copy(part, filled, off, Math.min(chunk.length, off + this.partSize - filled));
          filled += n;
          off += n;
          if (filled === this.partSize) {
            await this.sendPart(part, filled);
            part = await this.take();
            filled = 0;
          }
        }
      }
      if (!this.uploadId) {
        const Body = part.subarray(0, filled);
        await this.client.send(new PutObjectCommand({ ...this.params, Body, ContentLength: filled }));
        return;
      }
      if (filled > 0) await this.sendPart(part, filled);
      await Promise.all(this.inFlight);
      const Parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
      const { Bucket, Key } = this.params;
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: this.uploadId, MultipartUpload: { Parts } }));
    } catch (err) {
      await Promise.allSettled(this.inFlight);
      throw err;
    }
  }
}

interface S3ErrorFacts {
  name?: string;
  code?: string;
  message?: string;
  status?: number;
}

function factsOf(err: unknown): S3ErrorFacts {
  const e = err as { name?: string; code?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } } | null;
  return { name: e?.Code ?? e?.name, code: e?.code, message: e?.message, status: e?.$metadata?.httpStatusCode };
}

/**
 * Pure: one line saying what went wrong with a target, in words that say what to do. `creds` names
 * where the credentials came from.
 */
export function describeS3Error(f: S3ErrorFacts, t: { name: string; bucket: string; endpoint: string; creds: string }): string {
  const name = f.name ?? '';
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'InvalidClientTokenId'].includes(name)) {
    return `the storage refused the credentials (${name}); check ${t.creds}`;
  }
  if (name === 'AccessDenied' || f.status === 403) return `access denied (${name || '403'}): the credentials (${t.creds}) lack a permission on bucket "${t.bucket}"`;
  if (name === 'NoSuchBucket') return `bucket "${t.bucket}" does not exist at ${t.endpoint}; create it, or fix offsite.${t.name}.bucket`;
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(f.message ?? '')) {
    return `no credentials: set ${t.creds}`;
  }
  const net = f.code ?? (['TimeoutError', 'RequestTimeout'].includes(name) ? name : '');
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'TimeoutError', 'RequestTimeout'].includes(net)) {
    return `cannot reach ${t.endpoint} (${net}${f.message && f.message !== net ? `: ${f.message}` : ''})`;
  }
  return `${name || 'error'}${f.status ? ` (HTTP ${f.status})` : ''}: ${f.message ?? 'no message'}`;
}

/** The SDK's warning about its own future releases: this project pins a release that runs on Node 20. */
function quietSdkNotice(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

export function openS3(target: S3Offsite, env: string, vars: NodeJS.ProcessEnv = process.env): OffsiteStore {
  quietSdkNotice();
  const fromConfig = Boolean(target.accessKeyId);
  const accessKeyId = target.accessKeyId ?? vars.AWS_ACCESS_KEY_ID;
  const secretAccessKey = target.secretAccessKey ?? vars.AWS_SECRET_ACCESS_KEY;
  const sessionToken = fromConfig ? undefined : vars.AWS_SESSION_TOKEN;
  for (const s of [accessKeyId, secretAccessKey, sessionToken]) registerSecret(s);
  const creds = fromConfig ? `accessKeyId/secretAccessKey of offsite.${target.name}` : 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or accessKeyId/secretAccessKey in the config)';
  const client = new S3Client({
    endpoint: target.endpoint,
    region: target.region,
    forcePathStyle: target.forcePathStyle,
    // Without both, the SDK's own sources (a profile, an instance role) are tried.
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken } : undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
  });
  const Bucket = target.bucket;
  const folder = envFolder(target.prefix, env);
  const Key = (key: string) => `${folder}/${key}`;
  const where = `s3://${Bucket}/${folder}`;
  const endpoint = target.endpoint ?? `AWS S3 (${target.region})`;

  const fail = (what: string, err: unknown): FailedError =>
    new FailedError(`${what} at ${where} failed: ${describeS3Error(factsOf(err), { name: target.name, bucket: Bucket, endpoint, creds })}`, { cause: err });
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw fail(what, err);
    }
  };
  const lockParams = (lock: ObjectLock | null) =>
    lock
      ? {
          ObjectLockMode: lock.mode === 'compliance' ? ('COMPLIANCE' as const) : ('GOVERNANCE' as const),
          ObjectLockRetainUntilDate: lock.until,
          // S3 requires an integrity checksum on any write that sets a retention period.
          ChecksumAlgorithm: 'CRC32' as const,
        }
      : {};
  const abort = async (key: string, uploadId: string) => {
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket, Key: Key(key), UploadId: uploadId }));
    } catch (err) {
      log.warn(
        `the unfinished upload of ${key} could not be aborted (${describeS3Error(factsOf(err), { name: target.name, bucket: Bucket, endpoint, creds })}); ` +
          'its parts stay until the next push sweeps them, or a lifecycle rule "abort incomplete multipart uploads" removes them',
      );
    }
  };

  const store: OffsiteStore = {
    target,
    where,
    async list() {
      const out: StoredObject[] = [];
      let token: string | undefined;
      do {
        const page = await call('listing', () => client.send(new ListObjectsV2Command({ Bucket, Prefix: `${folder}/`, ContinuationToken: token })));
        for (const o of page.Contents ?? []) {
          if (!o.Key) continue;
          out.push({ key: o.Key.slice(folder.length + 1), size: o.Size ?? 0, modified: o.LastModified ?? null });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async read(key, maxBytes = SMALL_MAX) {
      return call(`reading ${key}`, async () => {
        const res = await client.send(new GetObjectCommand({ Bucket, Key: Key(key) }));
        if ((res.ContentLength ?? 0) > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
        return Buffer.from(await res.Body!.transformToByteArray());
      });
    },
    async open(key) {
      const res = await call(`reading ${key}`, () => client.send(new GetObjectCommand({ Bucket, Key: Key(key) })));
      return res.Body as Readable;
    },
    async writeSmall(key, data, lock) {
      const Body = typeof data === 'string' ? Buffer.from(data) : data;
      await call(`writing ${key}`, () => client.send(new PutObjectCommand({ Bucket, Key: Key(key), Body, ContentLength: Body.length, ...lockParams(lock) })));
    },
    async stage(keys, body, opts) {
      let bodyError: Error | null = null;
      body.once('error', (err) => (bodyError = err));
      const upload = new PartUpload(client, { Bucket, Key: Key(keys.data), ...lockParams(opts.lock) }, partSizeFor(opts.sizeHint));
      try {
        await upload.send(body);
      } catch (err) {
        if (upload.uploadId) await abort(keys.data, upload.uploadId);
        throw bodyError ?? fail(`uploading ${keys.data}`, err);
      }
      const discard = async () => {
        await client.send(new DeleteObjectCommand({ Bucket, Key: Key(keys.data) })).catch(() => undefined);
      };
      return {
        async commit(text) {
          try {
            await store.writeSmall(keys.checksum, text, opts.lock);
          } catch (err) {
            await discard();
            throw err;
          }
        },
        discard,
      };
    },
    async remove(key) {
      await call(`removing ${key}`, () => client.send(new DeleteObjectCommand({ Bucket, Key: Key(key) })));
    },
    async lockedUntil(key) {
      const head = await call(`looking at ${key}`, () => client.send(new HeadObjectCommand({ Bucket, Key: Key(key) })));
      return head.ObjectLockMode && head.ObjectLockRetainUntilDate ? new Date(head.ObjectLockRetainUntilDate) : null;
    },
    async hashThere() {
      return null;
    },
    async sweep(now) {
      let uploads;
      try {
        uploads = (await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: `${folder}/` }))).Uploads ?? [];
      } catch (err) {
        const f = factsOf(err);
        // Some S3-compatible servers do not list uploads; their lifecycle rules are the only sweep.
        if (f.status === 501 || f.name === 'NotImplemented') return [];
        throw fail('listing unfinished uploads', err);
      }
      const swept: string[] = [];
      for (const u of uploads) {
        if (!u.Key || !u.UploadId || !u.Initiated || now.getTime() - u.Initiated.getTime() <= STALE_AFTER_MS) continue;
        const key = u.Key.slice(folder.length + 1);
        await abort(key, u.UploadId);
        swept.push(`${key} (unfinished upload ${u.UploadId})`);
      }
      return swept;
    },
  };
  return store;
}
