// The one write path into the backup tree, on a real folder: a copy must match its source before
// it takes its name, a name is never taken twice, a failed fill leaves nothing, and a new backup
// moves to the next sequence number with a manifest that follows the name it got.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FailedError } from '../../../lib/cli/errors.ts';
import { copyMismatch, NameTakenError, writeBackupFile, writeNewBackup } from '../../../lib/store/writer.ts';
import { ls, tempDir } from '../../helpers/cli.ts';

const NAME = 'production_backup_2024_01_15T14_30_00.sql.zst';
const bytes = crypto.randomBytes(100_000);
const fingerprint = { size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
const fill = (data: Buffer) => async (fd: number) => void fs.writeSync(fd, data);

test('copyMismatch: null for the same file, else the size or the sha256 that differs', () => {
  const h = 'a'.repeat(64);
  assert.equal(copyMismatch({ size: 5, sha256: h }, { size: 5, sha256: h }), null);
  assert.match(copyMismatch({ size: 5, sha256: h }, { size: 4, sha256: h })!, /4 bytes.*instead of 5 bytes/);
  assert.match(copyMismatch({ size: 5, sha256: h }, { size: 5, sha256: 'b'.repeat(64) })!, /sha256 b+ instead of a+/);
});

test('a copy that matches its source takes its exact name, with its manifest, mode 0600', async () => {
  const dir = path.join(tempDir(), 'postgres');
  const w = await writeBackupFile({
    dir, names: { exact: NAME }, label: `downloading ${NAME}`, fill: fill(bytes), expect: async () => fingerprint, manifest: () => '{"version": 1}\n',
  });
  assert.deepEqual([w.path, w.name, w.size, w.sha256, w.manifestText], [path.join(dir, NAME), NAME, fingerprint.size, fingerprint.sha256, '{"version": 1}\n']);
  assert.deepEqual(fs.readFileSync(w.path), bytes);
  assert.equal(fs.readFileSync(`${w.path}.manifest.json`, 'utf8'), '{"version": 1}\n');
  assert.equal((fs.statSync(w.path).mode & 0o777).toString(8), '600');
  assert.equal((fs.statSync(dir).mode & 0o777).toString(8), '700');
  assert.deepEqual(ls(dir), [NAME, `${NAME}.manifest.json`]);
});

test('a copy that does not match, a fill that fails, a name already there: nothing kept, nothing replaced', async () => {
  const dir = path.join(tempDir(), 'postgres');
  await assert.rejects(
    writeBackupFile({ dir, names: { exact: NAME }, label: `downloading ${NAME}`, fill: fill(bytes.subarray(0, 1000)), expect: async () => fingerprint, manifest: () => '{}' }),
    (err: unknown) =>
      err instanceof FailedError &&
      err.message === `downloading ${NAME} failed: the copy does not match its source (1000 B (1000 bytes) instead of 100000 bytes); nothing was kept; try again`,
  );
  assert.deepEqual(ls(dir), [], 'no file, no manifest, no temporary file');
  await assert.rejects(
    writeBackupFile({ dir, names: { exact: NAME }, label: `downloading ${NAME}`, fill: async () => { throw new Error('the connection was lost'); } }),
    (err: unknown) => err instanceof FailedError && err.message === `downloading ${NAME} failed: the connection was lost`,
  );
  assert.deepEqual(ls(dir), []);
  fs.writeFileSync(path.join(dir, NAME), 'someone else\'s');
  await assert.rejects(writeBackupFile({ dir, names: { exact: NAME }, label: `downloading ${NAME}`, fill: fill(bytes) }), NameTakenError);
  assert.deepEqual(ls(dir), [NAME]);
  assert.equal(fs.readFileSync(path.join(dir, NAME), 'utf8'), 'someone else\'s');
});

test('writeNewBackup: the first free sequence number, and a manifest for the name taken', async () => {
  const bk = tempDir();
  const spec = {
    backupDir: bk, kind: 'media', role: 'backup', codec: 'zstd', stamp: '2026_03_04T05_06_07', seq: 1, environment: 'local',
    label: 'media backup', diskMargin: { ratio: 0, bytes: 0 }, fill: async (fd: number) => (fs.writeSync(fd, bytes), { media: { files: 1, directories: 0, bytes: 3, warnings: [] } }),
  } as const;
  const first = await writeNewBackup(spec);
  const second = await writeNewBackup(spec);
  assert.deepEqual([first.name, second.name], ['media_backup_2026_03_04T05_06_07.tar.zst', 'media_backup_2026_03_04T05_06_07-2.tar.zst']);
  assert.deepEqual([second.manifest.name, second.manifest.set, second.manifest.size, second.manifest.sha256], [second.name, '2026_03_04T05_06_07-2', fingerprint.size, fingerprint.sha256]);
  assert.deepEqual(second.manifest.media, { files: 1, directories: 0, bytes: 3, warnings: [] });
  assert.deepEqual(JSON.parse(fs.readFileSync(`${second.path}.manifest.json`, 'utf8')), second.manifest);
  assert.deepEqual(ls(path.join(bk, 'media')), [first.name, `${first.name}.manifest.json`, second.name, `${second.name}.manifest.json`].sort());
});
