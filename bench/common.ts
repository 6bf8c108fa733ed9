// Shared by the benchmarks: timing of whole commands, peak memory, medians. Speed is reported
// as ratios against baselines timed in the same run, alternating, because absolute timings on
// a shared machine are noise.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The local server the benchmarks use (trust auth). */
export const PG = { ...process.env, PGHOST: '127.0.0.1', PGPORT: '5432', PGUSER: 'postgres' };

/** Untimed housekeeping SQL; its NOTICEs ("does not exist, skipping") would only clutter the report. */
export const psql = (db: string, sql: string): string =>
  execFileSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], {
    env: { ...PG, PGOPTIONS: '-c client_min_messages=warning' },
    encoding: 'utf8',
  }).trim();

/** The generated database of one size (bench/db.ts makes it). */
export const benchDbName = (sizeMb: number): string => `cb_bench_${sizeMb}`;

export interface Timed {
  ms: number;
  code: number | null;
  /** Peak RSS in MiB of the largest process of the command (for `npx zx …`, the script's Node process). */
  nodePeakMiB: number;
  /** CPU seconds (user + system) of the command and every process it waited for (not the server's). */
  cpuS: number;
  stderr: string;
}

/**
 * Time a command. Peak memory comes from GNU time's %M (the largest RSS among the command's
 * processes), so nothing polls /proc while the command runs and steals CPU from it.
 */
export function time(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Promise<Timed> {
  // Every contender starts with no dirty pages of the one before it still being written back:
  // on this kind of VM a write-back in progress costs the next command seconds of system time.
  execFileSync('sync');
  return new Promise((resolve, reject) => {
    const rssFile = path.join(os.tmpdir(), `bench-rss-${process.pid}`);
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-q', '-f', '%M %U %S', '-o', rssFile, ...argv], { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const [kb = 0, user = 0, sys = 0] = (fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
      fs.rmSync(rssFile, { force: true });
      resolve({ ms, code, nodePeakMiB: kb / 1024, cpuS: user + sys, stderr });
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export function must(t: Timed, what: string): Timed {
  if (t.code !== 0) throw new Error(`${what} failed (exit ${t.code}): ${t.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return t;
}

export function fmt(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** mulberry32: a small seeded PRNG, so every run generates (and changes) the same tree. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic incompressible bytes (AES-CTR keystream under a key made from `key`), as JPEG/PNG/MP4 data is. */
export function keystream(n: number, key: string): Buffer {
  const k = crypto.createHash('sha256').update(key).digest();
  const c = crypto.createCipheriv('aes-256-ctr', k, Buffer.alloc(16));
  return Buffer.concat([c.update(Buffer.alloc(n)), c.final()]);
}
