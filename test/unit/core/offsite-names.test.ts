// Where copies live at a target and what a listing holds: only this environment's own regular
// backups parse; sidecars and manifests pair with their copy; the rest is someone else's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksumText, collectCopies, copyKeys, envFolder, parseChecksumText, parseObjectKey, type StoredObject } from '../../../lib/core/offsite-names.ts';

test('copyKeys and envFolder', () => {
  assert.deepEqual(copyKeys({ name: 'backup_2026_12_01T02_00_00.sql.zst', kind: 'database' }, true), {
    data: 'postgres/backup_2026_12_01T02_00_00.sql.zst.age',
    checksum: 'postgres/backup_2026_12_01T02_00_00.sql.zst.age.sha256',
    manifest: 'postgres/backup_2026_12_01T02_00_00.sql.zst.manifest.json.age',
  });
  assert.deepEqual(copyKeys({ name: 'media_backup_2026_12_01T02_00_00-2.tar.gz', kind: 'media' }, false), {
    data: 'media/media_backup_2026_12_01T02_00_00-2.tar.gz',
    checksum: 'media/media_backup_2026_12_01T02_00_00-2.tar.gz.sha256',
    manifest: 'media/media_backup_2026_12_01T02_00_00-2.tar.gz.manifest.json',
  });
  assert.equal(envFolder('', 'production'), 'production');
  assert.equal(envFolder('team/app', 'production'), 'team/app/production');
  assert.equal(envFolder('/mnt/nas/', 'local'), '/mnt/nas/local');
});

const parseCases: [string, string | null][] = [
  ['postgres/backup_2026_12_01T02_00_00.sql.zst.age', 'data encrypted'],
  ['postgres/backup_2026_12_01T02_00_00.sql.zst', 'data plain'],
  ['postgres/backup_2026_12_01T02_00_00.sql.zst.age.sha256', 'checksum encrypted'],
  ['postgres/backup_2026_12_01T02_00_00.sql.zst.sha256', 'checksum plain'],
  ['media/media_backup_2026_12_01T02_00_00.tar.zst.manifest.json.age', 'manifest encrypted'],
  ['media/media_backup_2026_12_01T02_00_00.tar.zst.manifest.json', 'manifest plain'],
  ['media/backup_2026_12_01T02_00_00.sql.zst.age', null], // a dump in the media folder
  ['postgres/temp_before_restore_2026_12_01T02_00_00.sql.zst.age', null], // safety snapshots are never pushed
  ['postgres/production_backup_2026_12_01T02_00_00.sql.zst.age', null], // another environment's copy
  ['postgres/.backup_2026_12_01T02_00_00.sql.zst.age.partial-1796000000-ab12', null],
  ['postgres/backup_2026_12_01T02_00_00.sql.zst.manifest.json.age.sha256', null],
  ['postgres/sub/backup_2026_12_01T02_00_00.sql.zst.age', null],
  ['backup_2026_12_01T02_00_00.sql.zst.age', null],
  ['postgres/notes.txt', null],
];

for (const [key, expected] of parseCases) {
  test(`parseObjectKey: ${key}`, () => {
    const p = parseObjectKey(key);
    assert.equal(p ? `${p.part} ${p.encrypted ? 'encrypted' : 'plain'}` : null, expected);
  });
}

test('checksum records: sha256sum\'s line, and only for the copy it names', () => {
  const sha = 'c'.repeat(64);
  const text = checksumText(sha, 'postgres/backup_2026_12_01T02_00_00.sql.zst.age');
  assert.equal(text, `${sha}  backup_2026_12_01T02_00_00.sql.zst.age\n`);
  assert.equal(parseChecksumText(text, 'postgres/backup_2026_12_01T02_00_00.sql.zst.age'), sha);
  assert.equal(parseChecksumText(text, 'postgres/backup_2026_12_02T02_00_00.sql.zst.age'), null, 'another copy\'s record');
  assert.equal(parseChecksumText(`${sha} *backup_2026_12_01T02_00_00.sql.zst.age`, 'postgres/backup_2026_12_01T02_00_00.sql.zst.age'), sha);
  assert.equal(parseChecksumText('garbage', 'postgres/x'), null);
});

test('collectCopies: copies newest first with their sidecars; orphans apart; others ignored; encrypted wins over plain', () => {
  const o = (key: string, size = 10): StoredObject => ({ key, size, modified: null });
  const listing = collectCopies([
    o('postgres/backup_2026_12_01T02_00_00.sql.zst.age', 111),
    o('postgres/backup_2026_12_01T02_00_00.sql.zst.age.sha256'),
    o('postgres/backup_2026_12_01T02_00_00.sql.zst.manifest.json.age'),
    o('postgres/backup_2026_12_01T02_00_00.sql.zst', 5),
    o('media/media_backup_2026_12_02T02_00_00.tar.zst.age', 222),
    o('media/media_backup_2026_12_03T02_00_00.tar.zst.manifest.json.age'),
    o('media/media_backup_2026_12_04T02_00_00.tar.zst.age.sha256'),
    o('media/.media_backup_2026_12_05T02_00_00.tar.zst.age.partial-1796000000-ab12'),
    o('media/readme.txt'),
  ]);
  assert.deepEqual(
    listing.copies.map((c) => [c.name, c.size, c.encrypted, c.hasChecksum, c.hasManifest]),
    [
      ['media_backup_2026_12_02T02_00_00.tar.zst', 222, true, false, false],
      ['backup_2026_12_01T02_00_00.sql.zst', 111, true, true, true],
    ],
  );
  assert.deepEqual(listing.orphans.map((x) => x.key), ['media/media_backup_2026_12_03T02_00_00.tar.zst.manifest.json.age', 'media/media_backup_2026_12_04T02_00_00.tar.zst.age.sha256']);
});
