// The justfile through a real `just` (npm package rust-just): every seed recipe runs the right
// script with the right arguments from the toolkit folder, also when pasted into an app's
// justfile elsewhere; and the local family end to end against the real PostgreSQL.
// (The production family end to end, over ssh, is in test/e2e/remote.test.ts.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { JUST, ROOT, baseEnv, fakeBin, ls, tempDir, withPath, type RunResult } from '../helpers/cli.ts';
import { createDb, dumpText, seedRichDb, sql, type TempDb } from '../helpers/pg.ts';


function just(args: string[], env: Record<string, string | undefined> = {}, cwd = tempDir()): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(JUST, args, { cwd, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, pid: child.pid! });
    });
  });
}

/** An `npx` that records its working folder and arguments instead of running anything. */
const npxLog = path.join(tempDir(), 'npx.log');
const fakeNpx = fakeBin({ npx: `#!/bin/sh\nprintf '%s\\0' "$(pwd -P)" "$@" > "$NPX_LOG"\n` });
const recorded = () => fs.readFileSync(npxLog, 'utf8').split('\0').slice(0, -1);

const NAME = 'backup_2024_01_15T14_30_00.sql.zst';
const MEDIA = 'media_backup_2024_01_15T14_30_00.tar.zst';
const RECIPES: [string[], string[]][] = [
  [['backup-db'], ['scripts/backup-db.ts']],
  [['backup-media'], ['scripts/backup-media.ts']],
  [['backup-full', '--json'], ['scripts/backup-full.ts', '--json']],
  [['list-backups'], ['scripts/list-backups.ts']],
  [['restore-db', NAME], ['scripts/restore-db.ts', NAME]],
  [['restore-db', "it's a name", '--yes'], ['scripts/restore-db.ts', "it's a name", '--yes']],
  [['restore-media', MEDIA], ['scripts/restore-media.ts', MEDIA]],
  [['production-backup-db'], ['scripts/backup-db.ts', '--env', 'production']],
  [['production-backup-media'], ['scripts/backup-media.ts', '--env', 'production']],
  [['production-backup-full'], ['scripts/backup-full.ts', '--env', 'production']],
  [['production-list-backups'], ['scripts/list-backups.ts', '--env', 'production']],
  [['production-restore-db', NAME], ['scripts/restore-db.ts', '--env', 'production', NAME]],
  [['production-restore-media', MEDIA, '--yes'], ['scripts/restore-media.ts', '--env', 'production', MEDIA, '--yes']],
  [['production-download-backup', 'postgres', NAME], ['scripts/download-backup.ts', '--env', 'production', 'postgres', NAME]],
  [['production-download-backup', 'media', MEDIA], ['scripts/download-backup.ts', '--env', 'production', 'media', MEDIA]],
];

test('every seed recipe runs its script with npx zx from the toolkit folder', async () => {
  const listed = await just(['--justfile', path.join(ROOT, 'justfile'), '--summary']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(
    listed.stdout.trim().split(/\s+/).sort(),
    [...new Set(RECIPES.map(([args]) => args[0]!))].sort(),
  );
  for (const [args, expected] of RECIPES) {
    fs.rmSync(npxLog, { force: true });
    const r = await just(['--justfile', path.join(ROOT, 'justfile'), ...args], { PATH: withPath(fakeNpx), NPX_LOG: npxLog });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.deepEqual(recorded(), [fs.realpathSync(ROOT), 'zx', ...expected], args.join(' '));
  }
});

test('pasted into an app\'s justfile elsewhere, the recipes run in the toolkit folder it names', async () => {
  const app = tempDir('cbt-app-');
  fs.mkdirSync(path.join(app, 'tools'));
  fs.symlinkSync(ROOT, path.join(app, 'tools', 'compose backup'));
  const recipes = fs.readFileSync(path.join(ROOT, 'justfile'), 'utf8');
  assert.match(recipes, /^compose_backup := justfile_directory\(\)$/m);
  fs.writeFileSync(
    path.join(app, 'justfile'),
    `# The app's own recipes\nup:\n    docker compose up -d\n\n` +
      recipes.replace(/^compose_backup := .*$/m, 'compose_backup := justfile_directory() / "tools/compose backup"'),
  );
  // Run from a subfolder of the app, as people do: just finds the justfile upwards.
  fs.mkdirSync(path.join(app, 'src'));
  const r = await just(['production-restore-db', NAME], { PATH: withPath(fakeNpx), NPX_LOG: npxLog }, path.join(app, 'src'));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(recorded(), [fs.realpathSync(ROOT), 'zx', 'scripts/restore-db.ts', '--env', 'production', NAME]);
});

const dbs: TempDb[] = [];
after(() => dbs.forEach((d) => d.drop()));

test('just backup-db and just restore-db FILE, for real', async () => {
  const d = createDb('cbt_just');
  dbs.push(d);
  seedRichDb(d.name);
  const before = dumpText(d.name);
  const bk = tempDir();
  const env = { DATABASE_URL: d.url, BACKUP_DIR: bk };
  const b = await just(['--justfile', path.join(ROOT, 'justfile'), 'backup-db'], env);
  assert.equal(b.code, 0, b.stderr);
  const file = b.stdout.trim();
  assert.equal(path.dirname(file), path.join(bk, 'postgres'));
  assert.deepEqual(ls(path.join(bk, 'postgres')), [path.basename(file), `${path.basename(file)}.manifest.json`]);

  sql(d.name, 'TRUNCATE shop.orders');
  const r = await just(['--justfile', path.join(ROOT, 'justfile'), 'restore-db', path.basename(file), '--yes'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(dumpText(d.name), before);
});
