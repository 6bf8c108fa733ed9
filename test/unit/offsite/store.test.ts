// Staging names (their time in them, so a later run can judge their age without a clock there),
// and the ssh kind's listing parsed from hostile output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSshListing } from '../../../lib/offsite/ssh.ts';
import { staleStaging, stagingInfo, stagingName } from '../../../lib/offsite/store.ts';

const ME = { host: 'web-1', pid: 4242 };

test('stagingName: hidden, beside the final name, with its time, host and pid', () => {
  const now = new Date('2026-12-05T10:00:00Z');
  const name = stagingName('postgres/backup_2026_12_05T02_00_00.sql.zst.age', now, ME, 'ab12');
  assert.equal(name, 'postgres/.backup_2026_12_05T02_00_00.sql.zst.age.partial-1796464800-web-1.4242-ab12');
  assert.deepEqual(stagingInfo(name), { made: now, owner: ME });
  assert.equal(stagingInfo('postgres/backup_2026_12_05T02_00_00.sql.zst.age'), null);
  assert.equal(stagingInfo('postgres/.x.partial-12-web-1.4242-ab'), null, 'not a time');
  assert.equal(stagingInfo('postgres/.x.age.partial-4242-abc123'), null, 'another writer\'s temporary name');
});

test('staleStaging: a dead process\'s of this host at once; any other only after a day; never a live one\'s', () => {
  const now = new Date('2026-12-05T10:00:00Z');
  const o = (key: string) => ({ key, size: 1, modified: null });
  const hourAgo = new Date('2026-12-05T09:00:00Z');
  const names = {
    deadHere: stagingName('media/a.age', hourAgo, { host: 'web-1', pid: 100 }, 'a1'),
    aliveHere: stagingName('media/b.age', hourAgo, { host: 'web-1', pid: 200 }, 'b2'),
    mine: stagingName('media/c.age', hourAgo, ME, 'c3'),
    otherHost: stagingName('media/d.age', hourAgo, { host: 'web-2', pid: 100 }, 'd4'),
    oldOtherHost: stagingName('media/e.age', new Date('2026-12-04T09:00:00Z'), { host: 'web-2', pid: 100 }, 'e5'),
  };
  const stale = staleStaging([...Object.values(names), 'media/media_backup_2026_12_01T02_00_00.tar.zst.age'].map(o), now, ME, (pid) => pid === 200);
  assert.deepEqual(stale.map((x) => x.key), [names.deadHere, names.oldOtherHost]);
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
