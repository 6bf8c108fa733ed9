import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDrillDay, stepLine, summarize } from '../../../lib/core/schedule.ts';

test('step lines carry step, status, duration, size and detail', () => {
  assert.equal(stepLine({ step: 'backup-db', status: 'ok', durationMs: 12_400, bytes: 3 * 1024 * 1024, detail: 'backup_x.sql.zst' }), 'backup-db ok 0:12 3.0 MiB backup_x.sql.zst');
  assert.equal(stepLine({ step: 'prune', status: 'skipped', durationMs: 0, detail: 'because a step failed' }), 'prune skipped 0:00 because a step failed');
});

test('summary fails when any step failed and lists warnings', () => {
  const ok = summarize([{ step: 'backup-db', status: 'ok', durationMs: 1, bytes: 1024, detail: '' }, { step: 'backup-media', status: 'warning', durationMs: 1, bytes: 1024, detail: '' }], 61_000);
  assert.deepEqual(ok, { ok: true, line: 'summary ok 1:01 2.0 KiB written warnings: backup-media' });
  const bad = summarize([{ step: 'backup-db', status: 'failed', durationMs: 1, detail: '' }], 1000);
  assert.equal(bad.ok, false);
  assert.match(bad.line, /^summary FAILED 0:01 0 B written failed: backup-db$/);
});

const days: [string, string, boolean][] = [
  ['never', '2026-11-29T02:00:00Z', false],
  ['daily', '2026-11-29T02:00:00Z', true],
  ['sunday', '2026-11-29T02:00:00Z', true], // 2026-11-29 is a Sunday
  ['sunday', '2026-11-30T02:00:00Z', false],
  ['monday', '2026-11-30T00:30:00Z', true],
];
for (const [setting, when, expected] of days) {
  test(`drill day ${setting} at ${when}`, () => assert.equal(isDrillDay(setting, new Date(when)), expected));
}
