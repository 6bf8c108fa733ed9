// backup-full end to end: both halves as one set sharing one timestamp, and a failure of
// either half not stopping the other (exit 1, the output saying which half failed).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createDb, sql, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, ls } from '../helpers/cli.ts';

const dbs: TempDb[] = [];
const dirs: string[] = [];
after(() => {
  dbs.forEach((d) => d.drop());
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

function setup(opts: { media?: boolean } = {}) {
  const d = createDb('cbt_full');
  dbs.push(d);
  sql(d.name, `CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100);`);
  const root = tempDir('cbt-full-');
  dirs.push(root);
  const media = path.join(root, 'media');
  if (opts.media !== false) {
    fs.mkdirSync(path.join(media, 'uploads'), { recursive: true });
    fs.writeFileSync(path.join(media, 'uploads/a.jpg'), 'jpeg');
  }
  const bk = path.join(root, 'backups');
  return { d, media, bk, env: { DATABASE_URL: d.url, MEDIA_DIR: media, BACKUP_DIR: bk } };
}

const manifestSet = (file: string) => JSON.parse(fs.readFileSync(file + '.manifest.json', 'utf8')).set;

test('one set: database then media with the same stamp; a second set in the same second pairs up as -2', async () => {
  const s = setup();
  const env = { ...s.env, COMPOSE_BACKUP_NOW: '2026-03-04T05:06:07Z' };
  const first = await runScript('backup-full', [], { env });
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.stdout.trim().split('\n'), [
    path.join(s.bk, 'postgres', 'backup_2026_03_04T05_06_07.sql.zst'),
    path.join(s.bk, 'media', 'media_backup_2026_03_04T05_06_07.tar.zst'),
  ]);
  assert.match(first.stderr, /ok: database backup done: backup_2026_03_04T05_06_07\.sql\.zst[\s\S]*ok: media backup done: media_backup_2026_03_04T05_06_07\.tar\.zst/);

  const second = await runScript('backup-full', ['--json'], { env });
  assert.equal(second.code, 0, second.stderr);
  const out = JSON.parse(second.stdout);
  assert.deepEqual(out.failed, []);
  assert.equal(out.database.name, 'backup_2026_03_04T05_06_07-2.sql.zst');
  assert.equal(out.media.name, 'media_backup_2026_03_04T05_06_07-2.tar.zst');
  assert.equal(manifestSet(out.database.path), '2026_03_04T05_06_07-2');
  assert.equal(manifestSet(out.media.path), '2026_03_04T05_06_07-2');

  const list = await runScript('list-backups', ['--json'], { env: { BACKUP_DIR: s.bk } });
  const sets = JSON.parse(list.stdout).map((b: { kind: string; set: string }) => `${b.kind}:${b.set}`).sort();
  assert.deepEqual(sets, ['database:2026_03_04T05_06_07', 'database:2026_03_04T05_06_07-2', 'media:2026_03_04T05_06_07', 'media:2026_03_04T05_06_07-2']);
});

test('one half failing does not stop the other: exit 1 and the output says which half failed', async () => {
  const dbDown = setup();
  const mediaMissing = setup({ media: false });
  const [down, missing] = await Promise.all([
    // Nothing listens on port 1: the database half fails, the media half is still made.
    runScript('backup-full', ['--json'], { env: { ...dbDown.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' } }),
    runScript('backup-full', [], { env: mediaMissing.env }),
  ]);
  assert.equal(down.code, 1, down.stderr);
  assert.match(down.stderr, /error: database backup failed: cannot reach the database: /);
  assert.match(down.stderr, /ok: media backup done: media_backup_/);
  assert.match(down.stderr, /backup-full: database backup failed; the media backup was made/);
  const out = JSON.parse(down.stdout);
  assert.equal(out.database, null);
  assert.deepEqual(out.failed, ['database']);
  assert.ok(fs.existsSync(out.media.path));
  assert.deepEqual(ls(path.join(dbDown.bk, 'media')), [out.media.name, `${out.media.name}.manifest.json`]);
  assert.deepEqual(ls(path.join(dbDown.bk, 'postgres')), [], 'no database file, not even a temporary one');

  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /ok: database backup done: backup_/);
  assert.match(missing.stderr, new RegExp(`error: media backup failed: media folder ${mediaMissing.media} does not exist`));
  const paths = missing.stdout.trim().split('\n');
  assert.equal(paths.length, 1);
  assert.match(path.basename(paths[0]!), /^backup_.*\.sql\.zst$/);
  assert.deepEqual(ls(path.join(mediaMissing.bk, 'media')), []);
});
