// Staging names (their time in them, so a later run can judge their age without a clock there),
// and the ssh kind's listing parsed from hostile output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSshListing } from '../../../lib/offsite/ssh.ts';
import { staleStaging, stagingName, stagingTime } from '../../../lib/offsite/store.ts';

test('stagingName: hidden, beside the final name, with its time', () => {
  const now = new Date('2026-12-05T10:00:00Z');
  const name = stagingName('postgres/backup_2026_12_05T02_00_00.sql.zst.age', now, 'ab12');
  assert.equal(name, 'postgres/.backup_2026_12_05T02_00_00.sql.zst.age.partial-1796464800-ab12');
  assert.equal(stagingTime(name)?.toISOString(), now.toISOString());
  assert.equal(stagingTime('postgres/backup_2026_12_05T02_00_00.sql.zst.age'), null);
  assert.equal(stagingTime('postgres/.x.partial-12-ab'), null, 'not a time');
});

test('staleStaging: only staging files older than a day', () => {
  const now = new Date('2026-12-05T10:00:00Z');
  const o = (key: string) => ({ key, size: 1, modified: null });
  const old = stagingName('media/media_backup_2026_12_01T02_00_00.tar.zst.age', new Date('2026-12-04T09:00:00Z'), 'a1');
  const fresh = stagingName('media/media_backup_2026_12_05T02_00_00.tar.zst.age', new Date('2026-12-05T09:00:00Z'), 'b2');
  assert.deepEqual(staleStaging([o(old), o(fresh), o('media/media_backup_2026_12_01T02_00_00.tar.zst.age')], now).map((x) => x.key), [old]);
});

test('parseSshListing: NUL-separated "size key" entries; anything else (a name with a newline, another folder) is skipped', () => {
  const out = [
    '  2641 postgres/backup_2026_12_05T02_00_00.sql.zst.age',
    '71 postgres/backup_2026_12_05T02_00_00.sql.zst.age.sha256',
    '10 media/evil\nname',
    '5 other/file',
    'garbage',
    '',
  ].join('\0');
  assert.deepEqual(parseSshListing(out), [
    { key: 'postgres/backup_2026_12_05T02_00_00.sql.zst.age', size: 2641, modified: null },
    { key: 'postgres/backup_2026_12_05T02_00_00.sql.zst.age.sha256', size: 71, modified: null },
    { key: 'media/evil\nname', size: 10, modified: null },
  ]);
});
