// Healthchecks.io ping client (https://healthchecks.io/docs/http_api/).
// Monitoring must never break a backup: a ping resolves, never throws, and its total time is bounded.
// The ping URL is a secret (whoever has it can report on the check), so it is registered with the
// log's redaction at creation and diagnostics only ever show maskUrl(url).
import { randomUUID } from 'node:crypto';
import { errorMessage } from '../cli/errors.ts';
import { redact, registerSecret } from '../cli/output.ts';
import { checkPingUrl, maskUrl, pingUrl, UUID, type PingKind } from './ping-url.ts';


export interface PingerOptions {
  /** Per attempt. */
  timeoutMs?: number;
  /** Further attempts after the first, on network errors, timeouts, 408, 429 and 5xx. */
  retries?: number;
  /** First backoff delay; doubles each retry up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Hard bound for one ping, every attempt and backoff included. */
  totalBudgetMs?: number;
  /** Run id shared by every ping of this run (a UUID); a new one by default. */
  rid?: string;
  userAgent?: string;
  /** Told about a ping that finally failed; the message holds only the masked URL. */
  onProblem?: (message: string) => void;
}

export interface PingOutcome {
  ok: boolean;
  /** HTTP status of the last attempt, null when no response came (or no request was made). */
  status: number | null;
  attempts: number;
  error?: string;
}

export interface Pinger {
  readonly rid: string;
  readonly enabled: boolean;
  start(body?: string): Promise<PingOutcome>;
  success(body?: string): Promise<PingOutcome>;
  fail(body?: string): Promise<PingOutcome>;
  log(body: string): Promise<PingOutcome>;
  exitStatus(code: number, body?: string): Promise<PingOutcome>;
}

/** What Healthchecks.io stores of a body unless its Ping-Body-Limit header says otherwise. */
export const DEFAULT_BODY_LIMIT = 100_000;

const DEFAULTS = {
  timeoutMs: 10_000,
  retries: 5,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  totalBudgetMs: 60_000,
  userAgent: 'compose-backup',
};

/**
 * The last `limit` bytes of `text` as UTF-8, never splitting a character. When something is cut, a
 * marker line "[…trimmed N bytes]\n" starts the result and counts against the limit. Below the
 * marker's own size the tail comes without a marker.
 */
export function tailBytes(text: string, limit: number): string {
  if (!(limit > 0)) return '';
  const bytes = Buffer.from(text, 'utf8');
  const total = bytes.length;
  if (total <= limit) return text;
  const markerSize = (trimmed: number) => Buffer.byteLength(marker(trimmed));
  // No room for a marker: the bare tail.
  if (markerSize(total) >= limit) return bytes.subarray(charStart(bytes, total - limit)).toString('utf8');
  // The marker's size depends on N and N on the marker's size: start from the largest marker
  // (N ≤ total) and shrink it while a shorter N allows; each round only moves the cut earlier.
  let assumed = markerSize(total);
  let start = charStart(bytes, total - (limit - assumed));
  while (markerSize(start) < assumed) {
    assumed = markerSize(start);
    start = charStart(bytes, total - (limit - assumed));
  }
  return marker(start) + bytes.subarray(start).toString('utf8');
}

/** The first character boundary at or after `index` (UTF-8 continuation bytes are 10xxxxxx). */
function charStart(bytes: Uint8Array, index: number): number {
  let i = Math.max(0, index);
  while (i < bytes.length && ((bytes[i] ?? 0) & 0xc0) === 0x80) i++;
  return i;
}

function marker(trimmed: number): string {
  return `[…trimmed ${trimmed} bytes]\n`;
}

const DISABLED: PingOutcome = { ok: false, status: null, attempts: 0, error: 'pings are disabled (no Healthchecks URL)' };

/**
 * A pinger for one run. Without a URL it is disabled: every method resolves at once, sending nothing.
 * Each ping returns within totalBudgetMs, whatever the network does.
 */
export function createPinger(url: string | null | undefined, options: PingerOptions = {}): Pinger {
  const rid = options.rid ?? randomUUID();
  if (!UUID.test(rid)) throw new RangeError('a Healthchecks run id must be a UUID');
  if (!url) {
    const off = async () => ({ ...DISABLED });
    return { rid, enabled: false, start: off, success: off, fail: off, log: off, exitStatus: off };
  }
  registerSecrets(url);
  const opts = {
    timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
    retries: Math.max(0, options.retries ?? DEFAULTS.retries),
    baseDelayMs: options.baseDelayMs ?? DEFAULTS.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULTS.maxDelayMs,
    totalBudgetMs: options.totalBudgetMs ?? DEFAULTS.totalBudgetMs,
    userAgent: options.userAgent ?? DEFAULTS.userAgent,
  };
  const masked = maskUrl(url);
  const urlProblem = checkPingUrl(url);
  // The limit this server announced most recently (Healthchecks sends Ping-Body-Limit on its responses).
  let bodyLimit = DEFAULT_BODY_LIMIT;

  const report = (name: string, outcome: PingOutcome) => {
    if (outcome.ok || !options.onProblem) return;
    const message = `Healthchecks ping "${name}" to ${masked} failed after ${outcome.attempts} attempt(s): ${outcome.error ?? 'unknown error'}`;
    try {
      options.onProblem(message);
    } catch {
      // A broken logger must not turn a ping into a throw.
    }
  };

  const ping = async (kind: PingKind, body: string | undefined): Promise<PingOutcome> => {
    const name = typeof kind === 'number' ? `exit status ${kind}` : kind;
    let outcome: PingOutcome;
    try {
      if (urlProblem) throw new Error(`the Healthchecks URL ${urlProblem}`);
      const target = pingUrl(url, kind, rid);
      const payload = body === undefined || body === '' ? '' : tailBytes(redact(body), bodyLimit);
      outcome = await send(target, payload, opts, (limit) => (bodyLimit = limit));
    } catch (err) {
      outcome = { ok: false, status: null, attempts: 0, error: errorMessage(err) };
    }
    if (outcome.error) outcome.error = clean(outcome.error, url, masked);
    report(name, outcome);
    return outcome;
  };

  return {
    rid,
    enabled: true,
    start: (body) => ping('start', body),
    success: (body) => ping('success', body),
    fail: (body) => ping('fail', body),
    log: (body) => ping('log', body),
    // Anything outside 0-255 cannot be sent as a status; it is still a failure.
    exitStatus: (code, body) => ping(Number.isInteger(code) && code >= 0 && code <= 255 ? code : 'fail', body),
  };
}

interface SendOptions {
  timeoutMs: number;
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  totalBudgetMs: number;
  userAgent: string;
}

async function send(target: string, body: string, o: SendOptions, onLimit: (limit: number) => void): Promise<PingOutcome> {
  const deadline = Date.now() + o.totalBudgetMs;
  let attempts = 0;
  let status: number | null = null;
  let error = 'no attempt fitted in the time budget';
  for (let retry = 0; retry <= o.retries; retry++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    attempts++;
    let retryAfterMs = 0;
    try {
      const res = await fetch(target, {
        method: 'POST',
        body,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'user-agent': o.userAgent },
        signal: AbortSignal.timeout(Math.min(o.timeoutMs, remaining)),
        // A redirect would carry the ping key to wherever it points, and drop the POST body: not followed.
        redirect: 'manual',
      });
      status = res.status;
      if (status >= 300 && status < 400) {
        await res.body?.cancel();
        const to = res.headers.get('location');
        return {
          ok: false,
          status,
          attempts,
          error: `the server answered with a redirect (HTTP ${status}${to ? ` to ${maskUrl(new URL(to, target).toString())}` : ''}); pings are not followed elsewhere: put the final URL in the config`,
        };
      }
      const limit = Number.parseInt(res.headers.get('ping-body-limit') ?? '', 10);
      if (Number.isSafeInteger(limit) && limit > 0) onLimit(limit);
      const text = (await res.text()).trim().slice(0, 200);
      if (res.ok) return { ok: true, status, attempts };
      error = `HTTP ${status}${text ? ` ${text}` : ''}`;
      if (!retryable(status)) return { ok: false, status, attempts, error };
      retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    } catch (err) {
      status = null;
      error = describe(err);
    }
    if (retry === o.retries) break;
    const delay = Math.min(o.maxDelayMs, Math.max(o.baseDelayMs * 2 ** retry, retryAfterMs));
    // Waiting past the deadline would only end in giving up later.
    if (Date.now() + delay >= deadline) break;
    await sleep(delay);
  }
  return { ok: false, status, attempts, error };
}

function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function parseRetryAfter(value: string | null): number {
  const seconds = Number(value);
  return value && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

function describe(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timed out';
  // fetch() wraps the useful part ("connect ECONNREFUSED …") in err.cause.
  const cause = err instanceof Error && err.cause !== undefined ? `: ${errorMessage(err.cause)}` : '';
  return `${errorMessage(err)}${cause}`;
}

/** Strip the URL from an error text, whatever form it took there. */
function clean(text: string, url: string, masked: string): string {
  return redact(text.split(url).join(masked));
}

/** The URL and the part of it that is the key: the check's UUID, or the project's ping key. */
function registerSecrets(url: string): void {
  registerSecret(url);
  try {
    const u = new URL(url);
    registerSecret(`${u.host}${u.pathname.replace(/\/+$/, '')}`);
    const segments = u.pathname.split('/').filter(Boolean);
    for (const s of segments) if (UUID.test(s)) registerSecret(s);
    const last = segments[segments.length - 1];
    const key = segments[segments.length - 2];
    if (last && !UUID.test(last) && key && key.length >= 8) registerSecret(key);
  } catch {
    // An unparsable URL is still registered whole above.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
