// The offsite decisions: what a push sends (and why not), what a target's prune removes (the local
// prune's plan with the target's policy, the newest verified copy kept, Object Lock honoured), which
// set a recovery restores, and --at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBackupName } from '../../../lib/core/naming.ts';
import { copyKeys, type RemoteCopy } from '../../../lib/core/offsite-names.ts';
import { applyLocks, chooseRecoverySet, parseAtTime, planPush, planTargetPrune, VERIFIED_NEWEST_REASON } from '../../../lib/core/offsite-plan.ts';
import { parseReceipts, receiptLine, type ReceiptBook } from '../../../lib/core/receipts.ts';
import type { BackupFile } from '../../../lib/store/catalog.ts';

const NOW = new Date('2026-12-10T12:00:00Z');
const ALL = { database: {}, media: {} };

function local(name: string, opts: { manifest?: boolean; size?: number } = {}): BackupFile {
  const p = parseBackupName(name)!;
  return { ...p, path: `/bk/${name}`, size: opts.size ?? 1000, mtime: p.time, manifestPath: opts.manifest === false ? null : `/bk/${name}.manifest.json` };
}

function copy(name: string, opts: Partial<Pick<RemoteCopy, 'hasChecksum' | 'hasManifest' | 'size'>> = {}): RemoteCopy {
  const p = parseBackupName(name)!;
  const keys = copyKeys(p, true);
  return { ...p, key: keys.data, size: opts.size ?? 1200, modified: null, encrypted: true, keys, hasChecksum: opts.hasChecksum ?? true, hasManifest: opts.hasManifest ?? true };
}

function receipts(entries: [string, number][]): ReceiptBook {
  return parseReceipts(
    entries
      .map(([name, size]) =>
        receiptLine({ event: 'pushed', name, key: `x/${name}.age`, size, sha256: 'a'.repeat(64), plainSize: 1, plainSha256: 'b'.repeat(64), encrypted: true, at: NOW.toISOString(), retainUntil: null }),
      )
      .join(''),
  );
}

const D1 = 'backup_2026_12_01T02_00_00.sql.zst';
const D2 = 'backup_2026_12_02T02_00_00.sql.zst';
const D3 = 'backup_2026_12_03T02_00_00.sql.zst';
const M3 = 'media_backup_2026_12_03T02_00_00.tar.zst';
const M2 = 'media_backup_2026_12_02T02_00_00.tar.zst';

const pushCases: { label: string; local: BackupFile[]; remote: RemoteCopy[]; receipts?: ReceiptBook; retention?: typeof ALL; exclude?: Map<string, string>; expect: [string, string, RegExp?][] }[] = [
  {
    label: 'a first push sends everything, newest first; snapshots and other environments\' copies are never pushed',
    local: [local(D1), local(D3), local(M3), local('temp_before_restore_2026_12_04T02_00_00.sql.zst'), local('production_backup_2026_12_04T02_00_00.sql.zst')],
    remote: [],
    expect: [[D3, 'push'], [M3, 'push'], [D1, 'push']],
  },
  {
    label: 'a catch-up sends only what is missing',
    local: [local(D1), local(D2), local(D3)],
    remote: [copy(D1), copy(D2)],
    expect: [[D3, 'push'], [D2, 'there'], [D1, 'there']],
  },
  {
    label: 'an incomplete copy (no checksum record, no manifest) is pushed again; a backup without a manifest needs none there',
    local: [local(D1), local(D2), local(D3, { manifest: false })],
    remote: [copy(D1, { hasChecksum: false }), copy(D2, { hasManifest: false }), copy(D3, { hasManifest: false })],
    expect: [[D3, 'there'], [D2, 'push', /no manifest/], [D1, 'push', /no checksum record/]],
  },
  {
    label: 'a copy that is not what was pushed (another size) is pushed again',
    local: [local(D1)],
    remote: [copy(D1, { size: 999 })],
    receipts: receipts([[D1, 1200]]),
    expect: [[D1, 'push', /999 bytes there, 1200 pushed/]],
  },
  {
    label: 'what the target\'s retention would remove at once is not sent (judged with the copies there)',
    local: [local(D1), local(D2), local(D3)],
    remote: [copy(D3)],
    retention: { database: { keepLast: 2 }, media: {} },
    expect: [[D3, 'there'], [D2, 'push'], [D1, 'skip', /outside the target's retention \(keep last 2\)/]],
  },
  {
    label: 'excluded backups (failed their checks) are not sent',
    local: [local(D2), local(D3)],
    remote: [],
    exclude: new Map([[D3, 'it failed its checks in this run']]),
    expect: [[D3, 'skip', /failed its checks/], [D2, 'push']],
  },
];

for (const c of pushCases) {
  test(`planPush: ${c.label}`, () => {
    const plan = planPush({ local: c.local, remote: c.remote, receipts: c.receipts ?? parseReceipts(''), retention: c.retention ?? ALL, now: NOW, exclude: c.exclude });
    assert.deepEqual(plan.map((d) => [d.file.name, d.action]), c.expect.map(([n, a]) => [n, a]));
    c.expect.forEach(([, , why], i) => why && assert.match(plan[i]!.reason, why));
  });
}

test('planTargetPrune: the target\'s policy through the local prune plan; the newest *verified* copy is the one always kept', () => {
  const copies = [copy(D3, { hasChecksum: false }), copy(D2), copy(D1), copy(M3)];
  const verified = (c: RemoteCopy) => c.hasChecksum;
  const plan = planTargetPrune(copies, verified, { database: { keepWithin: '1d' }, media: {} }, new Date('2026-12-03T12:00:00Z'));
  const verdict = Object.fromEntries(plan.groups.flatMap((g) => g.entries).map((e) => [e.file.name, `${e.action} ${e.reasons.join(', ')}`.trim()]));
  assert.deepEqual(verdict, {
    [D3]: 'keep within 1d',
    [D2]: `keep ${VERIFIED_NEWEST_REASON}`,
    [D1]: 'remove',
    [M3]: `keep no policy: keep all, ${VERIFIED_NEWEST_REASON}`,
  });
  assert.deepEqual(plan.remove.map((c) => c.name), [D1]);
  assert.deepEqual(plan.refusals, []);
});

test('planTargetPrune: a policy that would keep nothing at all is refused, as locally', () => {
  const plan = planTargetPrune([copy(D1), copy(D2)], () => true, { database: { keepWithin: '1d' }, media: {} }, NOW);
  assert.match(plan.refusals.join(), /would remove all 2 of them/);
});

test('applyLocks: a copy under Object Lock is kept until its date, with that reason; after it, removed', () => {
  const plan = planTargetPrune([copy(D3), copy(D2), copy(D1)], () => true, { database: { keepLast: 1 }, media: {} }, NOW);
  const locks = new Map([[D2, new Date('2027-01-01T00:00:00Z')], [D1, new Date('2026-12-01T00:00:00Z')]]);
  const locked = applyLocks(plan, locks, NOW);
  const entries = locked.groups.flatMap((g) => g.entries);
  assert.deepEqual(entries.map((e) => [e.file.name, e.action, e.reasons.join()]), [
    [D3, 'keep', 'last,newest verified copy'],
    [D2, 'keep', 'locked until 2027-01-01 (Object Lock)'],
    [D1, 'remove', ''],
  ]);
  assert.deepEqual(locked.remove.map((c) => c.name), [D1]);
});

const atCases: [string, string | RegExp][] = [
  ['2026_11_28T02_00_00', '2026-11-28T02:00:00.000Z'],
  ['2026-11-28', '2026-11-28T23:59:59.000Z'],
  ['2026-11-28T02:00:00Z', '2026-11-28T02:00:00.000Z'],
  ['2026-11-28T03:00:00+01:00', '2026-11-28T02:00:00.000Z'],
  ['2026-02-30', /is not a time/],
  ['yesterday', /is not a time: give a UTC time/],
  ['2026-11-28T02:00:00', /is not a time/],
];
for (const [text, expected] of atCases) {
  test(`parseAtTime: ${text}`, () => {
    if (typeof expected === 'string') assert.equal(parseAtTime(text).toISOString(), expected);
    else assert.throws(() => parseAtTime(text), expected);
  });
}

test('chooseRecoverySet: the newest complete set, or the newest at or before --at; a missing half is said', () => {
  const copies = [copy(D3, { hasChecksum: false }), copy(M3), copy(D2), copy(M2), copy(D1)];
  const newest = chooseRecoverySet(copies, null, 'cloud');
  assert.deepEqual([newest.database?.name, newest.media?.name, newest.notes], [D2, M2, []], 'the incomplete D3 is passed over');
  const at = chooseRecoverySet(copies, new Date('2026-12-01T12:00:00Z'), 'cloud');
  assert.equal(at.database?.name, D1);
  assert.equal(at.media, null);
  assert.match(at.notes.join(), /no media copy at cloud made before the database copy/);
  const other = chooseRecoverySet([copy(D2), copy(M3)], null, 'cloud');
  assert.equal(other.media?.name, undefined);
  const mediaOnly = chooseRecoverySet([copy(M3)], null, 'cloud');
  assert.deepEqual([mediaOnly.database, mediaOnly.media?.name], [null, M3]);
  assert.match(mediaOnly.notes.join(), /no database copy at cloud; only the media is recovered/);
  assert.throws(() => chooseRecoverySet([copy(D2)], new Date('2026-11-01T00:00:00Z'), 'cloud'), /no complete copy at cloud made at or before 2026-11-01/);
});

test('chooseRecoverySet: an incremental is a point only with its whole chain at the target', () => {
  const F = 'media_backup_2026_12_01T02_00_00.tar.zst';
  const I1 = 'media_backup_2026_12_02T02_00_00.inc1.tar.zst';
  const I2 = 'media_backup_2026_12_03T02_00_00.inc2.tar.zst';
  assert.equal(chooseRecoverySet([copy(I2), copy(I1), copy(F)], null, 'nas').media?.name, I2);
  // The middle link did not arrive (or is incomplete): the newest point that restores is the full.
  assert.equal(chooseRecoverySet([copy(I2), copy(F)], null, 'nas').media?.name, F);
  assert.equal(chooseRecoverySet([copy(I2), copy(I1, { hasChecksum: false }), copy(F)], null, 'nas').media?.name, F);
});
