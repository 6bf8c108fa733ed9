// The names of the helper databases a restore or a drill makes, and which drills are stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { helperDbName, staleDrillDatabases } from '../../../lib/db/helper-names.ts';

test('helper database names stay within 63 bytes', () => {
  assert.equal(helperDbName('shop', 'restoring', 123), 'shop__restoring_123');
  assert.ok(Buffer.byteLength(helperDbName('x'.repeat(63), 'replaced', 99999)) <= 63);
});

test('staleDrillDatabases: only this live database\'s drills whose process is gone', () => {
  const long = 'x'.repeat(63);
  const names = ['app__drill_100', 'app__drill_200', 'other__drill_100', 'app__restoring_100', 'app', `${'x'.repeat(52)}__drill_100`, `app__drill_${process.pid}`];
  const alive = (pid: number) => pid === 200;
  assert.deepEqual(staleDrillDatabases(names, 'app', alive), ['app__drill_100']);
  assert.deepEqual(staleDrillDatabases(names, long, alive), [`${'x'.repeat(52)}__drill_100`]);
});
