// A local S3-compatible server for the offsite tests: s3rver (npm), started as its own process on a
// free loopback port with a bucket made at start, so a test can kill it mid-upload and start it
// again on the same data. In front of it, optionally, a small recording proxy plays what s3rver
// lacks (Object Lock, AbortMultipartUpload, ListMultipartUploads): it records the headers the client
// sends, answers HEAD of a locked object with its retain-until date, refuses to delete a locked
// object as S3 does, answers an abort itself, and lists the unfinished uploads a test gives it.
// Default credentials: S3RVER / S3RVER.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';
import path from 'node:path';
import { ROOT, tempDir } from './cli.ts';
import { freePort } from './sshd.ts';

export const S3_KEYS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export interface TestS3 {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  bucket: string;
  /** Where s3rver keeps its objects (`<dir>/<bucket>/<key>._S3rver_object`). */
  dir: string;
  objectFile(key: string): string;
  /** SIGKILL the server, as a crash or a power cut would. */
  kill(): Promise<void>;
  /** Start it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function listening(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`s3rver exited (${child.exitCode}) before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('s3rver did not start listening within 15 s');
}

export async function startS3(bucket = 'offsite-test'): Promise<TestS3> {
  const dir = tempDir('cbt-s3rver-');
  const port = await freePort();
  let child: ChildProcess;
  const start = async () => {
    child = spawn(process.execPath, [path.join(ROOT, 'node_modules/s3rver/bin/s3rver.js'), '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--silent', '--configure-bucket', bucket], {
      stdio: 'ignore',
      // The project's loader is not needed by s3rver.
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    await listening(port, child);
  };
  await start();
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    dir,
    objectFile: (key) => path.join(dir, bucket, `${key}._S3rver_object`),
    kill,
    restart: start,
    stop: async () => {
      process.off('exit', onExit);
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Recorded {
  method: string;
  /** The object key (path-style URL without the bucket), query kept apart. */
  key: string;
  query: string;
  headers: http.IncomingHttpHeaders;
  /** The proxy's own answer, when it did not forward: 'abort', 'locked'. */
  answered?: string;
}

export interface LockProxy {
  endpoint: string;
  requests: Recorded[];
  /** Keys locked by the headers of their write, and until when. */
  locks: Map<string, { mode: string; until: Date }>;
  /** Called with the bytes of upload bodies forwarded so far (to kill the server mid-upload). */
  onUploadBytes: ((total: number) => void) | null;
  /** Unfinished multipart uploads the proxy lists itself (s3rver cannot): what a killed push leaves. */
  unfinished: { key: string; uploadId: string; initiated: Date }[];
  close(): Promise<void>;
}

const LOCK_MODE = 'x-amz-object-lock-mode';
const LOCK_UNTIL = 'x-amz-object-lock-retain-until-date';

/** A proxy in front of `upstream` (s3rver) with path-style URLs for `bucket`. */
export async function startLockProxy(upstream: string, bucket: string): Promise<LockProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const proxy: LockProxy = { endpoint: '', requests: [], locks: new Map(), onUploadBytes: null, unfinished: [], close: async () => undefined };
  const uploads = new Map<string, { mode: string; until: Date }>();
  let uploaded = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const prefix = `/${bucket}/`;
    const key = url.pathname.startsWith(prefix) ? decodeURIComponent(url.pathname.slice(prefix.length)) : '';
    const rec: Recorded = { method: req.method ?? '', key, query: url.search, headers: req.headers };
    proxy.requests.push(rec);
    const lockHeaders = () => {
      const mode = req.headers[LOCK_MODE];
      const until = req.headers[LOCK_UNTIL];
      return typeof mode === 'string' && typeof until === 'string' ? { mode, until: new Date(until) } : null;
    };
    const lock = proxy.locks.get(key);
    if (req.method === 'GET' && url.searchParams.has('uploads')) {
      rec.answered = 'list-uploads';
      req.resume();
      const prefix = url.searchParams.get('prefix') ?? '';
      const uploads = proxy.unfinished
        .filter((u) => u.key.startsWith(prefix))
        .map((u) => `<Upload><Key>${u.key}</Key><UploadId>${u.uploadId}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`);
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${bucket}</Bucket><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`);
      return;
    }
    if (req.method === 'DELETE' && url.searchParams.has('uploadId')) {
      rec.answered = 'abort';
      req.resume();
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'DELETE' && lock && lock.until.getTime() > Date.now()) {
      rec.answered = 'locked';
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied: object is locked</Message></Error>');
      return;
    }
    const isPart = req.method === 'PUT' && url.searchParams.has('partNumber');
    const upstreamReq = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        const headers = { ...up.headers };
        if (req.method === 'HEAD' && lock) {
          headers[LOCK_MODE] = lock.mode;
          headers[LOCK_UNTIL] = lock.until.toISOString();
        }
        if ((up.statusCode ?? 500) < 300) {
          const l = lockHeaders();
          if (req.method === 'PUT' && !isPart && l) proxy.locks.set(key, l);
          if (req.method === 'POST' && url.searchParams.has('uploads') && l) {
            // The upload's id is in the answer; the lock applies when it completes.
            const chunks: Buffer[] = [];
            up.on('data', (c: Buffer) => chunks.push(c));
            up.on('end', () => {
              const id = /<UploadId>([^<]+)<\/UploadId>/.exec(Buffer.concat(chunks).toString())?.[1];
              if (id) uploads.set(id, l);
              res.writeHead(up.statusCode ?? 500, headers).end(Buffer.concat(chunks));
            });
            return;
          }
          const id = url.searchParams.get('uploadId');
          if (req.method === 'POST' && id && uploads.has(id)) proxy.locks.set(key, uploads.get(id)!);
        }
        res.writeHead(up.statusCode ?? 500, headers);
        up.pipe(res);
      },
    );
    upstreamReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    if (isPart) {
      req.on('data', (c: Buffer) => {
        uploaded += c.length;
        proxy.onUploadBytes?.(uploaded);
      });
    }
    req.pipe(upstreamReq);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return proxy;
}
