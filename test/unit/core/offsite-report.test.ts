// How offsite copies are shown: list-backups --offsite (data and table) and prune --offsite's plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBackupName } from '../../../lib/core/naming.ts';
import { copyKeys, type RemoteCopy } from '../../../lib/core/offsite-names.ts';
import { planTargetPrune, type PushDecision } from '../../../lib/core/offsite-plan.ts';
import { formatOffsiteListing, formatTargetPlan, offsiteListing } from '../../../lib/core/offsite-report.ts';
import { parseReceipts, receiptLine } from '../../../lib/core/receipts.ts';
import type { BackupFile } from '../../../lib/store/catalog.ts';

const NOW = new Date('2026-12-05T12:00:00Z');
function copy(name: string, complete = true): RemoteCopy {
  const p = parseBackupName(name)!;
  const keys = copyKeys(p, true);
  return { ...p, key: keys.data, size: 2048, modified: null, encrypted: true, keys, hasChecksum: complete, hasManifest: true };
}
const D1 = 'backup_2026_12_04T02_00_00.sql.zst';
const D2 = 'backup_2026_12_05T02_00_00.sql.zst';

test('offsiteListing and its table: copies with their state and lock, then what is not pushed and why', () => {
  const receipts = parseReceipts(
    receiptLine({ event: 'pushed', name: D1, key: 'k', size: 2048, sha256: 'a'.repeat(64), plainSize: 1, plainSha256: 'b'.repeat(64), encrypted: true, at: '', retainUntil: '2027-01-03T02:00:00.000Z' }),
  );
  const d = (name: string, action: PushDecision['action'], reason: string): PushDecision => ({ file: { ...parseBackupName(name)!, size: 4096 } as BackupFile, action, reason });
  const listing = offsiteListing({
    target: 'cloud',
    where: 's3://bk/production',
    copies: [copy(D2, false), copy(D1)],
    receipts,
    decisions: [d(D2, 'push', 'the copy there is not complete'), d(D1, 'there', ''), d('backup_2026_11_01T02_00_00.sql.zst', 'skip', "outside the target's retention (keep last 2)")],
    now: NOW,
  });
  assert.deepEqual(listing.copies.map((c) => [c.name, c.status, c.retainUntil, c.ageSeconds]), [
    [D2, 'no checksum record (an interrupted push)', null, 36000],
    [D1, 'ok', '2027-01-03T02:00:00.000Z', 122400],
  ]);
  assert.deepEqual(listing.notPushed.map((n) => [n.name, n.willPush]), [[D2, true], ['backup_2026_11_01T02_00_00.sql.zst', false]]);
  assert.equal(
    formatOffsiteListing(listing, NOW),
    [
      'Copies at cloud (s3://bk/production), newest first:',
      `  ${D2}    2.0 KiB   10h 0m ago  INCOMPLETE: no checksum record (an interrupted push)`,
      `  ${D1}    2.0 KiB   1d 10h ago  encrypted  locked until 2027-01-03`,
      '',
      'Not pushed yet (the next push-offsite sends them):',
      `  ${D2}  4.0 KiB`,
      '',
      'Not pushed:',
      "  backup_2026_11_01T02_00_00.sql.zst  outside the target's retention (keep last 2)",
    ].join('\n'),
  );
});

test('formatTargetPlan: the policies, each copy with keep and why or remove, the count', () => {
  const plan = planTargetPrune([copy(D2), copy(D1)], () => true, { database: { keepLast: 1 }, media: {} }, NOW);
  assert.equal(
    formatTargetPlan({ target: 'nas', where: '/mnt/nas/production', plan, retention: { database: { keepLast: 1 }, media: {} }, dryRun: true, refusal: null }),
    [
      'Retention at nas (/mnt/nas/production), now 2026-12-05T12:00:00Z:',
      '  database copies   keep last 1',
      '  media copies      keep everything',
      '',
      'Copies, newest first:',
      `  ${D2}  keep    last, newest verified copy`,
      `  ${D1}  remove`,
      '',
      'Would remove 1 copy (2.0 KiB) and keep 1.',
      'Dry run: nothing was changed.',
    ].join('\n'),
  );
});
