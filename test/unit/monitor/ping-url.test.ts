// Healthchecks ping URLs as tables: each kind of ping built from a check URL (UUID or ping key
// and slug), the URL masked for messages, and the config's URLs checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPingUrl, maskUrl, pingUrl } from '../../../lib/monitor/ping-url.ts';

const CHECK = '5f0e5b4c-5d0e-4b4a-9a3e-2f7b0e9c1d11';
const PING_KEY = 'fqOOd6-F4MMNuCEnzTU01w';

test('pingUrl', () => {
  const rid = '0b8c3a1e-1f2d-4c5b-8a9e-0d1c2b3a4f5e';
  const cases: [string, Parameters<typeof pingUrl>[1], string][] = [
    [`https://hc-ping.com/${CHECK}`, 'success', `https://hc-ping.com/${CHECK}?rid=${rid}`],
    [`https://hc-ping.com/${CHECK}`, 'start', `https://hc-ping.com/${CHECK}/start?rid=${rid}`],
    [`https://hc-ping.com/${CHECK}/`, 'fail', `https://hc-ping.com/${CHECK}/fail?rid=${rid}`],
    [`https://hc-ping.com/${CHECK}`, 'log', `https://hc-ping.com/${CHECK}/log?rid=${rid}`],
    [`https://hc-ping.com/${CHECK}`, 0, `https://hc-ping.com/${CHECK}/0?rid=${rid}`],
    [`https://hc-ping.com/${CHECK}`, 75, `https://hc-ping.com/${CHECK}/75?rid=${rid}`],
    [`https://hc-ping.com/${PING_KEY}/db-backup`, 'start', `https://hc-ping.com/${PING_KEY}/db-backup/start?rid=${rid}`],
    [`https://hc-ping.com/${PING_KEY}/db-backup?create=1`, 'success', `https://hc-ping.com/${PING_KEY}/db-backup?create=1&rid=${rid}`],
    [`https://hc-ping.com/${PING_KEY}/db-backup?create=1`, 1, `https://hc-ping.com/${PING_KEY}/db-backup/1?create=1&rid=${rid}`],
    // A stale rid in the configured URL is replaced, not doubled.
    [`https://hc-ping.com/${CHECK}?rid=old`, 'log', `https://hc-ping.com/${CHECK}/log?rid=${rid}`],
    [`https://hc.example.org:8000/ping/${CHECK}`, 'start', `https://hc.example.org:8000/ping/${CHECK}/start?rid=${rid}`],
  ];
  for (const [base, kind, expected] of cases) assert.equal(pingUrl(base, kind, rid), expected, `${base} ${kind}`);
  assert.throws(() => pingUrl(`https://hc-ping.com/${CHECK}`, 256, rid), RangeError);
  assert.throws(() => pingUrl(`https://hc-ping.com/${CHECK}`, -1, rid), RangeError);
  assert.throws(() => pingUrl(`https://hc-ping.com/${CHECK}`, 1.5, rid), RangeError);
});

test('maskUrl', () => {
  const cases: [string, string][] = [
    [`https://hc-ping.com/${CHECK}`, 'https://hc-ping.com/***'],
    [`https://hc-ping.com/${PING_KEY}/db-backup?create=1`, 'https://hc-ping.com/***'],
    [`http://127.0.0.1:8000/ping/${CHECK}/start?rid=x`, 'http://127.0.0.1:8000/***'],
    [`https://user:secret@hc.example.org/${CHECK}`, 'https://hc.example.org/***'],
    ['not a url', '***'],
    ['', '***'],
  ];
  for (const [url, expected] of cases) assert.equal(maskUrl(url), expected);
});

test('checkPingUrl', () => {
  assert.equal(checkPingUrl(`https://hc-ping.com/${CHECK}`), null);
  assert.equal(checkPingUrl(`https://hc-ping.com/${PING_KEY}/slug`), null);
  assert.equal(checkPingUrl('hc-ping.com/x'), 'not a URL');
  assert.equal(checkPingUrl('ftp://hc-ping.com/x'), 'must be an http(s) URL');
  assert.match(checkPingUrl('https://hc-ping.com/') ?? '', /no check UUID/);
});
