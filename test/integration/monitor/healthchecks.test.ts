// Pings against a real HTTP server on 127.0.0.1: bodies, run ids, retries with backoff, body
// limits, timeouts and budgets, and secrets kept out of every message.
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPinger, DEFAULT_BODY_LIMIT } from '../../../lib/monitor/healthchecks.ts';
import { redact } from '../../../lib/cli/output.ts';

interface Recorded {
  method: string;
  url: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Reply = (req: Recorded, res: http.ServerResponse) => void;

/** A real HTTP server on 127.0.0.1 that records every request and answers with `reply` (200 OK by default). */
class FakeHealthchecks {
  requests: Recorded[] = [];
  reply: Reply = (_req, res) => res.end('OK');
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const rec: Recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      this.requests.push(rec);
      this.reply(rec, res);
    });
  });
  base = '';
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  reset(): void {
    this.requests = [];
    this.reply = (_req, res) => res.end('OK');
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CHECK = '5f0e5b4c-5d0e-4b4a-9a3e-2f7b0e9c1d11';
const PING_KEY = 'fqOOd6-F4MMNuCEnzTU01w';
// Servers that answer get a generous timeout: under a loaded test run a 200 ms attempt can time out
// and be retried, which is right for the client but not what these tests count.
const fast = { timeoutMs: 5000, baseDelayMs: 5, retries: 2 };

describe('pings against a real local server', () => {
  const hc = new FakeHealthchecks();
  before(() => hc.start());
  after(() => hc.stop());
  beforeEach(() => hc.reset());

  test('start then success: same rid, POSTed bodies, user agent', async () => {
    const pinger = createPinger(`${hc.base}/${CHECK}`, { ...fast, userAgent: 'compose-backup-test' });
    assert.equal(pinger.enabled, true);
    assert.match(pinger.rid, UUID_RE);
    assert.deepEqual(await pinger.start('starting'), { ok: true, status: 200, attempts: 1 });
    assert.deepEqual(await pinger.success('all good\n'), { ok: true, status: 200, attempts: 1 });
    assert.deepEqual(
      hc.requests.map((r) => [r.method, r.path, r.query.get('rid'), r.body]),
      [
        ['POST', `/${CHECK}/start`, pinger.rid, 'starting'],
        ['POST', `/${CHECK}`, pinger.rid, 'all good\n'],
      ],
    );
    assert.equal(hc.requests[0]?.headers['user-agent'], 'compose-backup-test');
    assert.match(String(hc.requests[0]?.headers['content-type']), /^text\/plain/);
  });

  test('a start without a body sends an empty POST', async () => {
    const pinger = createPinger(`${hc.base}/${CHECK}`, fast);
    await pinger.start();
    assert.equal(hc.requests[0]?.method, 'POST');
    assert.equal(hc.requests[0]?.body, '');
  });

  test('slug URL with ping key keeps its create=1 parameter', async () => {
    const pinger = createPinger(`${hc.base}/${PING_KEY}/db-backup?create=1`, fast);
    await pinger.start();
    await pinger.log('halfway');
    await pinger.success();
    assert.deepEqual(
      hc.requests.map((r) => [r.path, r.query.get('create'), r.query.get('rid')]),
      [
        [`/${PING_KEY}/db-backup/start`, '1', pinger.rid],
        [`/${PING_KEY}/db-backup/log`, '1', pinger.rid],
        [`/${PING_KEY}/db-backup`, '1', pinger.rid],
      ],
    );
    assert.equal(hc.requests[1]?.body, 'halfway');
  });

  test('fail and exit status', async () => {
    const pinger = createPinger(`${hc.base}/${CHECK}`, fast);
    assert.equal((await pinger.fail('boom')).ok, true);
    assert.equal((await pinger.exitStatus(3, 'exit 3')).ok, true);
    assert.equal((await pinger.exitStatus(0)).ok, true);
    // Not sendable as a status, still a failure.
    assert.equal((await pinger.exitStatus(300)).ok, true);
    assert.deepEqual(
      hc.requests.map((r) => [r.path, r.body]),
      [
        [`/${CHECK}/fail`, 'boom'],
        [`/${CHECK}/3`, 'exit 3'],
        [`/${CHECK}/0`, ''],
        [`/${CHECK}/fail`, ''],
      ],
    );
  });

  test('bodies are trimmed to the Ping-Body-Limit the server announced', async () => {
    hc.reply = (req, res) => {
      // Only the start response announces it; the limit is remembered for later pings.
      if (req.path.endsWith('/start')) res.setHeader('Ping-Body-Limit', '1000');
      res.end('OK');
    };
    const pinger = createPinger(`${hc.base}/${CHECK}`, fast);
    await pinger.start();
    const lines = Array.from({ length: 100_000 }, (_, i) => `2026-11-29T02:00:03Z line ${i} ${'é'.repeat(20)}`);
    const big = lines.join('\n') + '\n';
    assert.ok(Buffer.byteLength(big) > 5_000_000);
    await pinger.success(big);
    const got = hc.requests[1]?.body ?? '';
    assert.ok(Buffer.byteLength(got) <= 1000, `body of ${Buffer.byteLength(got)} bytes`);
    assert.ok(Buffer.byteLength(got) > 900);
    assert.match(got, /^\[…trimmed \d+ bytes\]\n/);
    assert.ok(got.endsWith(`${lines[lines.length - 1]}\n`));
    assert.ok(!got.includes('\ufffd'), 'no broken character');
  });

  test('without the header the limit is 100 kB', async () => {
    const pinger = createPinger(`${hc.base}/${CHECK}`, fast);
    const big = 'x'.repeat(300_000) + '\nlast line';
    await pinger.fail(big);
    const got = hc.requests[0]?.body ?? '';
    assert.ok(Buffer.byteLength(got) <= DEFAULT_BODY_LIMIT);
    assert.ok(Buffer.byteLength(got) > DEFAULT_BODY_LIMIT - 50);
    assert.ok(got.endsWith('\nlast line'));
  });

  test('500 is retried, then the ping gives up', async () => {
    hc.reply = (_req, res) => {
      res.statusCode = 500;
      res.end('oops');
    };
    const problems: string[] = [];
    const pinger = createPinger(`${hc.base}/${CHECK}`, { ...fast, retries: 3, onProblem: (m) => problems.push(m) });
    const out = await pinger.success('body');
    assert.equal(out.ok, false);
    assert.equal(out.status, 500);
    assert.equal(out.attempts, 4);
    assert.match(out.error ?? '', /HTTP 500/);
    assert.equal(hc.requests.length, 4);
    assert.ok(hc.requests.every((r) => r.body === 'body' && r.query.get('rid') === pinger.rid));
    assert.equal(problems.length, 1);
  });

  test('408, 429 and 503 are retried until the server answers', async () => {
    const answers = [408, 429, 503, 200];
    hc.reply = (_req, res) => {
      res.statusCode = answers.shift() ?? 200;
      res.end();
    };
    const out = await createPinger(`${hc.base}/${CHECK}`, { ...fast, retries: 5 }).success();
    assert.deepEqual(out, { ok: true, status: 200, attempts: 4 });
  });

  test('404 (no such check) is not retried', async () => {
    hc.reply = (_req, res) => {
      res.statusCode = 404;
      res.end('not found');
    };
    const out = await createPinger(`${hc.base}/${CHECK}`, fast).start();
    assert.equal(out.ok, false);
    assert.equal(out.status, 404);
    assert.equal(out.attempts, 1);
    assert.equal(hc.requests.length, 1);
  });

  test('a hanging server costs at most the attempts’ timeouts', async () => {
    hc.reply = () => {}; // never answers
    const t0 = Date.now();
    const out = await createPinger(`${hc.base}/${CHECK}`, { timeoutMs: 100, baseDelayMs: 5, retries: 2 }).success('x');
    const elapsed = Date.now() - t0;
    assert.equal(out.ok, false);
    assert.equal(out.status, null);
    assert.equal(out.attempts, 3);
    assert.equal(out.error, 'timed out');
    assert.ok(elapsed >= 300, `returned after ${elapsed} ms`);
    assert.ok(elapsed < 1500, `returned after ${elapsed} ms`);
  });

  test('totalBudgetMs bounds a ping whatever the per-attempt timeout', async () => {
    hc.reply = () => {};
    const t0 = Date.now();
    const out = await createPinger(`${hc.base}/${CHECK}`, { timeoutMs: 10_000, baseDelayMs: 5, retries: 5, totalBudgetMs: 250 }).start();
    const elapsed = Date.now() - t0;
    assert.equal(out.ok, false);
    assert.equal(out.attempts, 1);
    assert.ok(elapsed < 1000, `returned after ${elapsed} ms`);
  });

  test('the URL never reaches a problem report, the log or an outcome', async () => {
    hc.reply = (_req, res) => {
      res.statusCode = 503;
      res.end(`down, try ${hc.base}/${CHECK} later`);
    };
    const problems: string[] = [];
    for (const url of [`${hc.base}/${CHECK}`, `${hc.base}/${PING_KEY}/nightly?create=1`]) {
      const pinger = createPinger(url, { ...fast, retries: 0, onProblem: (m) => problems.push(m) });
      const out = await pinger.fail('x');
      assert.ok(!(out.error ?? '').includes(CHECK));
      const logged = redact(`ping ${url}`);
      assert.ok(!logged.includes(CHECK) && !logged.includes(PING_KEY), logged);
    }
    assert.equal(problems.length, 2);
    for (const m of problems) {
      assert.ok(m.includes('http://127.0.0.1:'), m);
      assert.ok(m.includes('/***'), m);
      assert.ok(!m.includes(CHECK) && !m.includes(PING_KEY) && !m.includes('nightly'), m);
    }
    // The key alone is a secret too: another slug under the same key stays hidden.
    assert.equal(redact(`${PING_KEY}/other-slug`), '***/other-slug');
  });

  test('a body is redacted like any log line', async () => {
    const url = `${hc.base}/${CHECK}`;
    const pinger = createPinger(url, fast);
    await pinger.fail(`calling ${url} failed`);
    assert.equal(hc.requests[0]?.body, 'calling *** failed');
  });
});

test('connection refused: retried, then ok false, never a throw', async () => {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const problems: string[] = [];
  const out = await createPinger(`http://127.0.0.1:${port}/${CHECK}`, { ...fast, onProblem: (m) => problems.push(m) }).success('x');
  assert.equal(out.ok, false);
  assert.equal(out.status, null);
  assert.equal(out.attempts, 3);
  assert.match(out.error ?? '', /ECONNREFUSED/);
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', new RegExp(`^Healthchecks ping "success" to http://127\\.0\\.0\\.1:${port}/\\*\\*\\* failed after 3 attempt`));
});

test('a redirect is not followed: the key and the body never go to another host; the problem says so', async () => {
  const { startHcServer } = await import('../../helpers/hc-server.ts');
  const elsewhere = await startHcServer('ok');
  const origin = new URL(elsewhere.url).origin;
  const redirecting = await startHcServer('redirect', { redirectTo: origin });
  const problems: string[] = [];
  try {
    const p = createPinger(redirecting.url, { retries: 2, baseDelayMs: 1, onProblem: (m) => problems.push(m) });
    const out = await p.success('the run log');
    assert.equal(out.ok, false);
    assert.equal(out.status, 302);
    assert.equal(out.attempts, 1, 'not retried: it would redirect again');
    assert.equal(redirecting.pings.length, 1);
    assert.deepEqual(elsewhere.pings, [], 'nothing reached the other host');
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /answered with a redirect \(HTTP 302 to http:\/\/127\.0\.0\.1:\d+\/\*\*\*\); pings are not followed elsewhere/);
    assert.doesNotMatch(problems[0]!, /0f6b2a3c/);
  } finally {
    await Promise.all([elsewhere.close(), redirecting.close()]);
  }
});
