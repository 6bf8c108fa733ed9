// What the media script's survey and repair print, read back; which runs left work in the media
// folder and which of them are gone; and how a repair is worded. Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunId } from '../../../lib/proc/pid.ts';
import { busyRefusal, describeRepair, parseWorkName, planMediaRepair, tokenPid } from '../../../lib/media/repair.ts';
import { parseSettled, parseSurvey } from '../../../lib/media/swap.ts';

test('parseSurvey: state, free space from df, work entries with a journal\'s content; noise ignored', () => {
  const out = [
    'an entrypoint says hello',
    'media-work: .compose-backup-staging-2026_12_01T00_00_00-77',
    'media-work: .compose-backup-swap-2026_12_01T00_00_00-88.in 88.abc-def.1234',
    'media-df: Filesystem     1024-blocks  Used Available Capacity Mounted on',
    'media-df: /dev/sda1         1000000  400000    600000      40% /',
    'media-state: full',
  ].join('\n');
  assert.deepEqual(parseSurvey(out), {
    state: 'full',
    free: 600000 * 1024,
    work: [
      { name: '.compose-backup-staging-2026_12_01T00_00_00-77', content: null },
      { name: '.compose-backup-swap-2026_12_01T00_00_00-88.in', content: '88.abc-def.1234' },
    ],
  });
  assert.deepEqual(parseSurvey('media-state: missing'), { state: 'missing', free: null, work: [] });
  assert.equal(parseSurvey('sh: find: not found'), null);
});

test('parseSettled: one outcome per token', () => {
  assert.deepEqual(
    [...parseSettled('media-settled: a-1 completed\nnoise\nmedia-settled: b-2 rolled-back\nmedia-settled: c-3 exploded\n')],
    [['a-1', 'completed'], ['b-2', 'rolled-back']],
  );
});

test('parseWorkName and tokenPid: staging, old and journal entries; anything else is not ours', () => {
  const rows: [string, ReturnType<typeof parseWorkName>][] = [
    ['.compose-backup-staging-2026_12_01T00_00_00-77', { token: '2026_12_01T00_00_00-77', journal: false }],
    ['.compose-backup-old-2026_12_01T00_00_00-77', { token: '2026_12_01T00_00_00-77', journal: false }],
    ['.compose-backup-swap-2026_12_01T00_00_00-77.out', { token: '2026_12_01T00_00_00-77', journal: true }],
    ['.compose-backup-swap-2026_12_01T00_00_00-77.done', { token: '2026_12_01T00_00_00-77', journal: true }],
    ['.compose-backup-swap-2026_12_01T00_00_00-77', null],
    ['.compose-backup-staging-', null],
    ['uploads', null],
  ];
  for (const [name, want] of rows) assert.deepEqual(parseWorkName(name), want, name);
  assert.equal(tokenPid('2026_12_01T00_00_00-77'), 77);
  assert.equal(tokenPid('old-run'), null);
});

test('planMediaRepair: dead runs are repaired, live ones and unknown owners left alone; the journal names the run', () => {
  const staging = (t: string) => ({ name: `.compose-backup-staging-${t}`, content: null });
  const journal = (t: string, phase: string, content: string | null) => ({ name: `.compose-backup-swap-${t}.${phase}`, content });
  const dead = new Set([11, 33]);
  const alive = (r: RunId) => !dead.has(r.pid) && r.start !== '100';
  const plan = planMediaRepair(
    {
      work: [
        staging('s-11'), // dead, never swapped
        staging('s-22'), // alive, unpacking
        staging('s-33'), { name: '.compose-backup-old-s-33', content: null }, journal('s-33', 'in', '33.b.500'), // dead mid-swap
        staging('s-44'), journal('s-44', 'out', '44.b.100'), // pid 44 alive but it is another process now
        staging('someone-elses'), // no pid: left alone
      ],
    },
    alive,
  );
  assert.deepEqual(plan.repair.map((r) => [r.token, r.swapping, r.run?.pid]), [['s-11', false, 11], ['s-33', true, 33], ['s-44', true, 44]]);
  assert.deepEqual(plan.live.map((r) => r.token), ['s-22', 'someone-elses']);
  assert.deepEqual(plan.repair[1]!.names.sort(), ['.compose-backup-old-s-33', '.compose-backup-staging-s-33', '.compose-backup-swap-s-33.in']);
});

test('describeRepair and busyRefusal: one phrase per outcome; only a swap blocks a backup, any live restore blocks a restore', () => {
  const run = { token: 't-9', run: { pid: 9, boot: null, start: null }, swapping: true, names: [] };
  assert.equal(describeRepair('rolled-back', run, '/m'), 'rolled back the swap that the restore of run 9 was killed in: /m is as it was before that restore');
  assert.equal(describeRepair('completed', run, '/m'), 'completed the swap that the restore of run 9 was killed in: /m is the backup that run restored');
  assert.match(describeRepair('discarded', run, '/m'), /removed the staging folder of the restore of run 9/);
  assert.match(describeRepair('finished', run, '/m'), /after its swap had finished/);
  const unpacking = { ...run, swapping: false };
  assert.equal(busyRefusal([unpacking], 'media backup failed', true), null);
  assert.equal(busyRefusal([run], 'media backup failed', true), 'media backup failed: a restore of the media folder is in progress (run 9); try again when it has finished');
  assert.match(busyRefusal([unpacking], 'not restoring x') ?? '', /in progress \(run 9\)/);
  assert.equal(busyRefusal([], 'x'), null);
});
