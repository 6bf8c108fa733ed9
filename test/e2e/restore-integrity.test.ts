// Restores refuse a backup that no longer matches its manifest, even when it is still a
// well-formed dump or archive (altered after it was written), before touching anything.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createDb, databasesLike, dumpText, seedRichDb, sql, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, ls, snapshotFiles } from '../helpers/cli.ts';

const dbs: TempDb[] = [];
after(() => dbs.forEach((d) => d.drop()));

test('restore-db and restore-media refuse altered-but-valid backups; nothing changes', async () => {
  const d = createDb('cbt_integ');
  dbs.push(d);
  seedRichDb(d.name);
  const dir = tempDir();
  const bk = path.join(dir, 'backups');
  const media = path.join(dir, 'media');
  fs.mkdirSync(media);
  fs.writeFileSync(path.join(media, 'a.txt'), 'original');
  const env = { DATABASE_URL: d.url, BACKUP_DIR: bk, MEDIA_DIR: media };
  const b = await runScript('backup-full', [], { env });
  assert.equal(b.code, 0, b.stderr);
  const [dbFile, mediaFile] = b.stdout.trim().split('\n');

  // A dump with one COPY row less: still decompresses, still has its footer.
  const text = execFileSync('zstd', ['-dcq', dbFile!], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const altered = text.replace(/(COPY shop\.orders [^\n]*\n)[^\n]*\n/, '$1');
  assert.notEqual(altered, text);
  fs.writeFileSync(dbFile!, execFileSync('zstd', ['-q', '-c'], { input: altered, maxBuffer: 1 << 26 }));
  sql(d.name, 'DELETE FROM shop.orders WHERE id > 3');
  const before = dumpText(d.name);
  const r = await runScript('restore-db', [dbFile!, '--yes'], { env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refusing to restore backup_.*, nothing was changed: sha256 mismatch/);
  assert.equal(dumpText(d.name), before);
  assert.ok(!ls(path.join(bk, 'postgres')).some((n) => n.startsWith('temp_before_restore')), 'no safety copy either');
  assert.deepEqual(databasesLike(d.name), [d.name], 'no scratch or safety database');

  // A different, valid archive under the media backup's name.
  const other = path.join(dir, 'other');
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, 'evil.txt'), 'replaced');
  fs.writeFileSync(mediaFile!, execFileSync('sh', ['-c', `tar -cf - -C ${other} . | zstd -q -c`]));
  fs.writeFileSync(path.join(media, 'a.txt'), 'current');
  const mediaBefore = snapshotFiles(media);
  const m = await runScript('restore-media', [path.basename(mediaFile!), '--yes'], { env });
  assert.equal(m.code, 1);
  assert.match(m.stderr, /refusing to restore media_backup_.*, nothing was changed: sha256 mismatch/);
  assert.deepEqual(snapshotFiles(media), mediaBefore);
  assert.deepEqual(ls(media), ['a.txt']);
});
