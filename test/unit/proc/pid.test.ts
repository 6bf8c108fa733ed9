// Run ids: written into records, read back, and judged against what the system says now. Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRunId, judgeRunAlive, parseRunId, statStart, type Liveness, type RunId } from '../../../lib/proc/pid.ts';

const BOOT = '1b2c3d4e-aaaa-bbbb-cccc-0123456789ab';

test('formatRunId / parseRunId: round trip, unknown parts, and what is not a run id', () => {
  const id: RunId = { pid: 4242, boot: BOOT, start: '987654' };
  assert.equal(formatRunId(id), `4242.${BOOT}.987654`);
  assert.deepEqual(parseRunId(formatRunId(id)), id);
  assert.deepEqual(parseRunId('17.-.-\n'), { pid: 17, boot: null, start: null });
  for (const bad of ['', '0.-.-', 'x.-.-', '12', '12.boot id.3', '12.-.3.4', '-1.-.-']) assert.equal(parseRunId(bad), null, bad);
});

test('statStart: field 22 of a stat line, whatever the command name holds', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  assert.equal(statStart(`77 (no de) x) ${fields.join(' ')}`), '22');
  assert.equal(statStart('garbage'), null);
  assert.equal(statStart('1 (x) S 1'), null);
});

test('judgeRunAlive: gone after a reboot, when the pid is gone, or when the pid is another process', () => {
  const id: RunId = { pid: 10, boot: BOOT, start: '500' };
  const now = (over: Partial<Liveness>): Liveness => ({ boot: BOOT, alive: () => true, start: () => '500', ...over });
  const rows: [string, RunId, Liveness, boolean][] = [
    ['same boot, pid alive, same start', id, now({}), true],
    ['rebooted since', id, now({ boot: 'ffffffff-0000-0000-0000-000000000000' }), false],
    ['pid gone', id, now({ alive: () => false }), false],
    ['pid reused by a later process', id, now({ start: () => '900' }), false],
    ['start unknown now: counts as alive', id, now({ start: () => null }), true],
    ['boot unknown now: judged by pid', id, now({ boot: null }), true],
    ['an id without boot or start: by pid alone', { pid: 10, boot: null, start: null }, now({ boot: 'other' }), true],
    ['an id without boot or start, pid gone', { pid: 10, boot: null, start: null }, now({ alive: () => false }), false],
  ];
  for (const [label, run, facts, want] of rows) assert.equal(judgeRunAlive(run, facts), want, label);
});
