// The sanity gate in backup-media and backup-full: media emptied between two runs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createDb, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, ls, writeConfig } from '../helpers/cli.ts';

const dbs: TempDb[] = [];
after(() => dbs.forEach((d) => d.drop()));

test('media emptied between two backups trips the gate in backup-media and backup-full; files are kept', async () => {
  const d = createDb('cbt_sanity');
  dbs.push(d);
  const dir = tempDir();
  const bk = path.join(dir, 'backups');
  const media = path.join(dir, 'media');
  const env = { DATABASE_URL: d.url, BACKUP_DIR: bk, MEDIA_DIR: media };
  const fill = () => {
    fs.mkdirSync(path.join(media, 'docs'), { recursive: true });
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(media, 'docs', `f${i}.pdf`), Buffer.alloc(20_000, i));
  };
  const empty = () => fs.rmSync(path.join(media, 'docs'), { recursive: true });
  const run = (script: string, day: number, args: string[] = []) =>
    runScript(script, args, { env: { ...env, COMPOSE_BACKUP_NOW: `2026-11-0${day}T02:00:00Z` } });

  fill();
  assert.equal((await run('backup-full', 1)).code, 0);
  empty();
  const full = await run('backup-full', 2);
  assert.equal(full.code, 1);
  assert.match(full.stderr, /sanity check failed for media_backup_2026_11_02T02_00_00\.tar\.zst: .*the archive holds no files, the previous one held 20/);
  assert.equal(full.stdout.trim().split('\n').length, 2, 'both new backups are kept and printed');

  fill();
  assert.equal((await run('backup-media', 3)).code, 0);
  empty();
  const media2 = await run('backup-media', 4);
  assert.equal(media2.code, 1);
  assert.match(media2.stderr, /sanity check failed for media_backup_2026_11_04T02_00_00\.tar\.zst: .*The backup was kept/);
  assert.ok(fs.existsSync(media2.stdout.trim()), 'the new backup is kept and its path printed');

  // With onShrink: warn the same situation succeeds with a warning.
  fill();
  assert.equal((await run('backup-media', 5)).code, 0);
  empty();
  const cfg = writeConfig(dir, 'environments:\n  local:\n    verify: { onShrink: warn }\n');
  const warn = await run('backup-media', 6, ['--config', cfg]);
  assert.equal(warn.code, 0, warn.stderr);
  assert.match(warn.stderr, /warning: sanity check of media_backup_2026_11_06T02_00_00\.tar\.zst/);
  assert.equal(ls(path.join(bk, 'media')).filter((n) => n.endsWith('.tar.zst')).length, 6);
});
