// The pinger without a server: bodies cut to their tail (never inside a character), a disabled
// pinger that makes no request, a bad URL that fails its pings instead of throwing, the run id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPinger, tailBytes } from '../../../lib/monitor/healthchecks.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// Servers that answer get a generous timeout: under a loaded test run a 200 ms attempt can time out
// and be retried, which is right for the client but not what these tests count.
const fast = { timeoutMs: 5000, baseDelayMs: 5, retries: 2 };

test('a bad URL gives failed pings, not a throw', async () => {
  const problems: string[] = [];
  const out = await createPinger('not a url', { ...fast, onProblem: (m) => problems.push(m) }).start();
  assert.equal(out.ok, false);
  assert.equal(out.attempts, 0);
  assert.match(out.error ?? '', /not a URL/);
  assert.equal(problems.length, 1);
  assert.ok(!(problems[0] ?? '').includes('not a url'));
});

test('a disabled pinger makes no request', async () => {
  const realFetch = globalThis.fetch;
  let calls = 0;
  globalThis.fetch = (async () => {
    calls++;
    throw new Error('no network expected');
  }) as typeof fetch;
  try {
    for (const url of [null, undefined, '']) {
      const pinger = createPinger(url);
      assert.equal(pinger.enabled, false);
      assert.match(pinger.rid, UUID_RE);
      for (const out of [await pinger.start('a'), await pinger.success(), await pinger.fail(), await pinger.log('b'), await pinger.exitStatus(1)]) {
        assert.equal(out.ok, false);
        assert.equal(out.status, null);
        assert.equal(out.attempts, 0);
      }
    }
    assert.equal(calls, 0);
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('a given rid is used; one that is not a UUID is refused', () => {
  const rid = '0b8c3a1e-1f2d-4c5b-8a9e-0d1c2b3a4f5e';
  assert.equal(createPinger(null, { rid }).rid, rid);
  assert.throws(() => createPinger(null, { rid: 'run-1' }), RangeError);
});

test('tailBytes', () => {
  const bytes = (s: string) => Buffer.byteLength(s);
  // Fits: unchanged.
  assert.equal(tailBytes('hello', 5), 'hello');
  assert.equal(tailBytes('', 10), '');
  assert.equal(tailBytes('héllo', 6), 'héllo');
  assert.equal(tailBytes('anything', 0), '');
  // Cut: marker plus the very end, within the limit.
  const text = 'a'.repeat(100) + 'THE END';
  const cut = tailBytes(text, 40);
  assert.equal(bytes(cut), 40);
  assert.match(cut, /^\[…trimmed \d+ bytes\]\n/);
  assert.ok(cut.endsWith('THE END'));
  const trimmed = Number(/trimmed (\d+) bytes/.exec(cut)?.[1]);
  assert.equal(trimmed + bytes(cut.slice(cut.indexOf('\n') + 1)), bytes(text), 'N counts exactly the dropped bytes');
  // Never cuts a multi-byte character: try every limit across 2-, 3- and 4-byte characters.
  const mixed = 'x'.repeat(30) + 'é€😀'.repeat(20);
  for (let limit = 1; limit <= bytes(mixed) + 2; limit++) {
    const out = tailBytes(mixed, limit);
    assert.ok(bytes(out) <= limit, `limit ${limit}: ${bytes(out)} bytes`);
    assert.ok(!out.includes('\ufffd'), `limit ${limit}: broken character`);
    assert.ok(mixed.endsWith(out.replace(/^\[…trimmed \d+ bytes\]\n/, '')), `limit ${limit}: not a tail`);
    assert.ok(bytes(out) >= limit - 3 || bytes(out) === bytes(mixed) || out.startsWith('[…'), `limit ${limit}: too short`);
  }
  // Below the marker's size, the bare tail.
  assert.equal(tailBytes('abcdefghijklmnopqrstuvwxyz'.repeat(4), 5), 'vwxyz');
  assert.equal(tailBytes('abc😀', 3), '');
  assert.equal(tailBytes('abc😀', 4), '😀');
});
