// The scheduled run with incrementals on: the second night's media half is an incremental, and
// its verify step checks its link to the archive it builds on (named in backup.log); a later
// verify of a point whose parent is no longer what it was made on fails.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createDb, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, writeConfig, type RunResult } from '../helpers/cli.ts';

let db: TempDb;
let dir: string;
let media: string;
let bk: string;
let cfg: string;

before(() => {
  db = createDb('cbt_sched_chain');
  dir = tempDir('cbt-sched-chain-');
  media = path.join(dir, 'media');
  bk = path.join(dir, 'backups');
  cfg = writeConfig(dir, ['environments:', '  local:', `    media: { mode: host, path: ${JSON.stringify(media)}, incremental: { maxChainRatio: 100 } }`, '    verify: { onShrink: warn }', ''].join('\n'));
  fs.mkdirSync(media);
  fs.writeFileSync(path.join(media, 'a.txt'), 'night one');
});

after(() => {
  db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const night = (day: number): Promise<RunResult> =>
  runScript('scheduled-backup', ['--config', cfg], { env: { DATABASE_URL: db.url, BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: `2026-12-0${day}T02:00:00Z` } });
const explain = (r: RunResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const log = () => fs.readFileSync(path.join(bk, 'backup.log'), 'utf8');

test('night two makes an incremental and checks its link; a parent changed since fails verify of the later point', async () => {
  const one = await night(1);
  assert.equal(one.code, 0, explain(one));
  fs.writeFileSync(path.join(media, 'b.txt'), 'night two');
  const two = await night(2);
  assert.equal(two.code, 0, explain(two));
  assert.match(log(), /verify-media ok \S+ media_backup_2026_12_02T02_00_00\.inc1\.tar\.zst \(.*builds on media_backup_2026_12_01T02_00_00\.tar\.zst\)/);

  const inc1 = path.join(bk, 'media', 'media_backup_2026_12_02T02_00_00.inc1.tar.zst');
  const manifest = JSON.parse(fs.readFileSync(`${inc1}.manifest.json`, 'utf8'));
  const original = manifest.sha256;
  fs.writeFileSync(path.join(media, 'c.txt'), 'night three');
  const three = await night(3);
  assert.equal(three.code, 0, explain(three));
  assert.match(log(), /verify-media ok \S+ media_backup_2026_12_03T02_00_00\.inc2\.tar\.zst \(.*builds on media_backup_2026_12_02T02_00_00\.inc1\.tar\.zst\)/);
  // inc1 is then replaced under its name by other bytes (its manifest rewritten to match).
  fs.appendFileSync(inc1, Buffer.alloc(512));
  manifest.sha256 = (await import('node:crypto')).createHash('sha256').update(fs.readFileSync(inc1)).digest('hex');
  manifest.size = fs.statSync(inc1).size;
  fs.writeFileSync(`${inc1}.manifest.json`, JSON.stringify(manifest));
  const inc2 = path.join(bk, 'media', 'media_backup_2026_12_03T02_00_00.inc2.tar.zst');
  const m2 = JSON.parse(fs.readFileSync(`${inc2}.manifest.json`, 'utf8'));
  assert.equal(m2.media.parent.sha256, original, 'inc2 records the sha256 of the inc1 it was made on');
  const verify = await runScript('verify', ['--config', cfg, path.basename(inc2)], { env: { DATABASE_URL: db.url, BACKUP_DIR: bk } });
  assert.equal(verify.code, 1, explain(verify));
  assert.match(verify.stdout, /FAIL/);
});
