// The pure parts of a download: its arguments, the remote listing entry, the remote fingerprint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailedError, UsageError } from '../../../lib/cli/errors.ts';
import type { ListedBackup } from '../../../lib/core/listing.ts';
import { parseBackupName } from '../../../lib/core/naming.ts';
import { findRemote, parseFingerprint, parseKindArg, parseRemoteName, parseSha256sum, remoteChain } from '../../../lib/remote/download.ts';

const NAME = 'backup_2024_01_15T14_30_00.sql.zst';
const MEDIA = 'media_backup_2024_01_15T14_30_00.tar.zst';

test('download arguments: kind is postgres or media; only bare names of that kind, not copies', () => {
  assert.equal(parseKindArg('postgres'), 'database');
  assert.equal(parseKindArg('media'), 'media');
  for (const k of ['database', 'Postgres', '', undefined]) assert.throws(() => parseKindArg(k), UsageError);
  assert.equal(parseRemoteName(NAME, 'database').name, NAME);
  assert.equal(parseRemoteName('temp_before_restore_2024_01_15T14_30_00.sql.gz', 'database').role, 'snapshot');
  for (const [arg, kind] of [
    [`../${NAME}`, 'database'],
    [`/srv/${NAME}`, 'database'],
    ['backups/postgres', 'database'],
    ['', 'database'],
    [undefined, 'database'],
    [MEDIA, 'database'],
    [NAME, 'media'],
    [`production_${NAME}`, 'database'],
    ['backup_2024_01_15T14_30_00.sql', 'database'],
    ['backup_2024_01_15T14_30_00.sql.zst.manifest.json', 'database'],
  ] as const) {
    assert.throws(() => parseRemoteName(arg, kind), UsageError, String(arg));
  }
});

test('findRemote: the listing entry by name and kind, with a plausible path', () => {
  const entry = (over: Partial<ListedBackup>): ListedBackup => ({
    name: NAME, kind: 'database', role: 'backup', set: '2024_01_15T14_30_00', environment: 'production',
    size: 10, time: '2024-01-15T14:30:00.000Z', ageSeconds: 1, path: `/srv/app/backups/postgres/${NAME}`, hasManifest: true, ...over,
  });
  const name = parseBackupName(NAME)!;
  assert.equal(findRemote([entry({ name: 'other' }), entry({})], name, 'h').path, `/srv/app/backups/postgres/${NAME}`);
  assert.throws(() => findRemote([entry({ name: 'other' })], name, 'h (production)'), /no backup backup_2024.* on h \(production\); run list-backups/);
  assert.throws(() => findRemote([entry({ path: 'relative/x' })], name, 'h'), FailedError);
  assert.throws(() => findRemote([entry({ path: '/srv/evil' })], name, 'h'), FailedError);
});

test('parseSha256sum and parseFingerprint', () => {
  const h = 'a'.repeat(64);
  assert.equal(parseSha256sum(`${h}  /srv/x\n`), h);
  assert.equal(parseSha256sum(`${h} */srv/x\n`), h);
  assert.equal(parseSha256sum(`\\${h}  /srv/x\\ny\n`), h); // GNU escapes odd names with a leading backslash
  assert.equal(parseSha256sum('sha256sum: /srv/x: No such file\n'), null);
  assert.equal(parseSha256sum(`${h.slice(1)}  x\n`), null);
  assert.deepEqual(parseFingerprint(`${h}  /srv/x\n`), { sha256: h, manifestText: null });
  assert.deepEqual(parseFingerprint(`${h}  /srv/x\n{"version": 1}\n`), { sha256: h, manifestText: '{"version": 1}\n' });
  assert.deepEqual(parseFingerprint(''), { sha256: null, manifestText: null });
});

test('remoteChain: an incremental needs its whole chain there, full first (from names; the remote listing may be an older version\'s); a gap refuses', () => {
  const media = (name: string): ListedBackup => ({
    name, kind: 'media', role: 'backup', set: name.slice(13, 32), environment: 'production',
    size: 10, time: '2024-01-15T14:30:00.000Z', ageSeconds: 1, path: `/srv/app/backups/media/${name}`, hasManifest: true,
  });
  const full = media('media_backup_2024_01_15T02_00_00.tar.zst');
  const inc1 = media('media_backup_2024_01_16T02_00_00.inc1.tar.zst');
  const inc2 = media('media_backup_2024_01_17T02_00_00.inc2.tar.zst');
  const older = media('media_backup_2024_01_10T02_00_00.tar.zst');
  const copy = { ...media('staging_media_backup_2024_01_16T02_00_00.inc1.tar.zst'), environment: 'staging' };
  const listing = [inc2, copy, inc1, full, older];
  const chain = (n: ListedBackup, l = listing) => remoteChain(l, parseBackupName(n.name)!, 'h (production)').map((b) => b.name);
  assert.deepEqual(chain(inc2), [full.name, inc1.name, inc2.name]);
  assert.deepEqual(chain(inc1), [full.name, inc1.name]);
  assert.deepEqual(chain(full), [full.name]);
  assert.throws(() => chain(inc2, [inc2, full, older]), /media_backup_2024_01_17T02_00_00\.inc2\.tar\.zst on h \(production\) cannot be restored, so it was not downloaded: its chain is broken there \(.*builds on a level-1 archive that is not there\)/);
  assert.throws(() => chain(inc2, [full, inc1]), /no backup media_backup_2024_01_17/);
});
