// Whether a process is alive, asked of the real system: this one, one that exited, a zombie; and
// the state read from a /proc/<pid>/stat line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { processAlive, statState } from '../../../lib/proc/pid.ts';

test('processAlive: this process is alive; an exited one and a zombie (dead, not yet reaped) are gone', async () => {
  assert.equal(processAlive(process.pid), true);
  // The background sleep exits at once; its parent has become `sleep 3`, which never reaps it.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 3'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const zombie = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d) => resolve(String(d)))));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(statState(readFileSync(`/proc/${zombie}/stat`, 'utf8')), 'Z', 'the child is a zombie');
  assert.equal(processAlive(zombie), false);
  assert.equal(processAlive(parent.pid!), true);
  parent.kill();
  await new Promise((r) => parent.once('close', r));
  assert.equal(processAlive(parent.pid!), false);
});

test('statState: the state after the last ")", null for what is not a stat line', () => {
  assert.equal(statState('123 (we) ird) S 1 2'), 'S');
  assert.equal(statState('garbage'), null);
});
