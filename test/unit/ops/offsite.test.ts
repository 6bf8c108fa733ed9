// The offsite operations' pure wiring: which targets a command means, which copies a deep check
// covers, and the one-line summary the scheduled run logs and pings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OffsiteTarget } from '../../../lib/config/resolve.ts';
import { parseBackupName } from '../../../lib/core/naming.ts';
import { copyKeys, type RemoteCopy } from '../../../lib/core/offsite-names.ts';
import type { PushDecision } from '../../../lib/core/offsite-plan.ts';
import { findCopy, oneTarget, pushSummary, selectDeep, selectTargets } from '../../../lib/ops/offsite.ts';
import type { PushOutcome } from '../../../lib/offsite/push.ts';
import type { BackupFile } from '../../../lib/store/catalog.ts';

const target = (name: string): OffsiteTarget => ({ kind: 'path', name, path: `/mnt/${name}`, encryption: 'none', recipients: [], retention: { database: {}, media: {} } });
const settings = { envName: 'production', offsite: { nas: () => target('nas'), usb: () => target('usb') } };

test('selectTargets / oneTarget: all targets, the one named, or a usage error that lists them', () => {
  assert.deepEqual(selectTargets(settings, undefined, '--to').map((t) => t.name), ['nas', 'usb']);
  assert.deepEqual(selectTargets(settings, 'usb', '--to').map((t) => t.name), ['usb']);
  assert.throws(() => selectTargets(settings, 'cloud', '--to'), /--to cloud: no such offsite target in environment "production"; it has: nas, usb/);
  assert.throws(() => selectTargets({ envName: 'local', offsite: {} }, undefined, '--to'), /environment "local" has no offsite targets; add an offsite: section/);
  assert.equal(oneTarget(settings, 'nas', '--from').name, 'nas');
  assert.throws(() => oneTarget(settings, '', '--from'), /--from needs the name of an offsite target/);
  assert.throws(() => oneTarget(settings, true, '--offsite'), /--offsite needs the name/);
});

function copy(name: string, complete = true): RemoteCopy {
  const p = parseBackupName(name)!;
  const keys = copyKeys(p, true);
  return { ...p, key: keys.data, size: 10, modified: null, encrypted: true, keys, hasChecksum: complete, hasManifest: complete };
}
const COPIES = [
  copy('backup_2026_12_03T02_00_00.sql.zst', false),
  copy('media_backup_2026_12_03T02_00_00.tar.zst'),
  copy('backup_2026_12_02T02_00_00.sql.zst'),
  copy('media_backup_2026_12_02T02_00_00.tar.zst'),
];

test('selectDeep: the newest complete copy of each kind, the one named, or all', () => {
  assert.deepEqual(selectDeep(COPIES, { name: null, all: false }).map((c) => c.name), ['backup_2026_12_02T02_00_00.sql.zst', 'media_backup_2026_12_03T02_00_00.tar.zst']);
  assert.deepEqual(selectDeep(COPIES, { name: 'backup_2026_12_03T02_00_00.sql.zst', all: false }).map((c) => c.name), ['backup_2026_12_03T02_00_00.sql.zst']);
  assert.equal(selectDeep(COPIES, { name: null, all: true }).length, 4);
});

test('findCopy: the copy by name and kind, or how to look', () => {
  const store = { target: target('nas'), where: '/mnt/nas/production' };
  assert.equal(findCopy(COPIES, { name: 'backup_2026_12_02T02_00_00.sql.zst', kind: 'database' }, store).key, 'postgres/backup_2026_12_02T02_00_00.sql.zst.age');
  assert.throws(() => findCopy(COPIES, { name: 'backup_2026_12_09T02_00_00.sql.zst', kind: 'database' }, store), /no copy of backup_2026_12_09T02_00_00\.sql\.zst at nas .*run list-backups --offsite nas/);
});

test('pushSummary: what a push did, in one line', () => {
  const file = (name: string) => ({ name } as BackupFile);
  const d = (name: string, action: PushDecision['action']): PushDecision => ({ file: file(name), action, reason: '' });
  const o: PushOutcome = {
    target: 'nas',
    where: '/mnt/nas/production',
    decisions: [d('a', 'push'), d('b', 'push'), d('c', 'there'), d('e', 'skip')],
    pushed: [
      { name: 'a', kind: 'database', size: 1024, key: 'postgres/a.age', durationMs: 1 },
      { name: 'b', kind: 'media', size: 2048, key: 'media/b.age', durationMs: 1 },
    ],
    swept: ['x'],
    pruned: { target: 'nas', where: '', dryRun: false, plan: { now: new Date(), groups: [], remove: [], refusals: [] }, refusal: null, removed: ['old'], orphans: [] },
  };
  assert.equal(pushSummary(o), 'pushed 2 copies (3.0 KiB): a, b; 1 already there; 1 not pushed (outside the target\'s retention or failed their checks); removed 1 old copy; swept 1 leftover of interrupted pushes');
  assert.equal(pushSummary({ ...o, decisions: [d('c', 'there')], pushed: [], swept: [], pruned: null }), 'nothing to push; 1 already there');
});
