// download-backup of an incremental from production over SSH (a real sshd on loopback, a second
// copy of the project as the server): the chain it needs comes with it, and it restores here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ls, runScript, type RunResult } from '../helpers/cli.ts';
import { describeTree } from '../helpers/media-tree.ts';
import { createDb, type TempDb } from '../helpers/pg.ts';
import { projectCopy, type ProjectCopy } from '../helpers/project-copy.ts';
import { startSshd, type TestSshd } from '../helpers/sshd.ts';

let sshd: TestSshd;
let server: ProjectCopy;
let laptop: ProjectCopy;
let db: TempDb;
const yamlString = (s: string) => JSON.stringify(s);
const explain = (r: RunResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

before(async () => {
  sshd = await startSshd();
  db = createDb('cbt_remote_chains');
  server = projectCopy(
    [
      'environments:',
      '  production:',
      '    backupDir: ./backups',
      `    database: { mode: direct, url: ${yamlString(db.url)} }`,
      '    media: { mode: host, path: ./media, incremental: { maxChainRatio: 100 } }',
      '',
    ].join('\n'),
    'cbt-chain-server-',
  );
  laptop = projectCopy(
    [
      'environments:',
      '  local:',
      '    backupDir: ./backups',
      `    database: { mode: direct, url: ${yamlString(db.url)} }`,
      '    media: { mode: host, path: ./media }',
      '  production:',
      `    ssh: { target: ${sshd.target}, port: ${sshd.port}, identityFile: ${yamlString(sshd.identityFile)}, knownHostsFile: ${yamlString(sshd.knownHostsFile)}, projectDir: ${yamlString(server.dir)}, connectTimeout: 5 }`,
      '',
    ].join('\n'),
    'cbt-chain-laptop-',
  );
});

after(async () => {
  await sshd?.stop();
  db?.drop();
  server?.remove();
  laptop?.remove();
});

const serverMedia = () => path.join(server.dir, 'media');
/** A backup made on the server itself, on the given day (pinned clock). */
async function serverBackup(day: number): Promise<string> {
  const r = await runScript('backup-media', ['--env', 'production'], { cwd: server.dir, env: { COMPOSE_BACKUP_NOW: `2026-12-0${day}T02:00:00Z` } });
  assert.equal(r.code, 0, explain(r));
  return path.basename(r.stdout.trim());
}
const fromLaptop = (script: string, args: string[]) => runScript(script, [...args, '--config', laptop.configPath], { timeoutMs: 90_000 });

test('download of an incremental brings the archives it builds on; it restores here; the next one brings only itself', async () => {
  fs.mkdirSync(path.join(serverMedia(), 'uploads'), { recursive: true });
  for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(serverMedia(), 'uploads', `doc${i}.pdf`), `document ${i}\n`.repeat(500));
  const full = await serverBackup(1);
  fs.writeFileSync(path.join(serverMedia(), 'uploads', 'new.pdf'), 'added on day 2');
  const inc1 = await serverBackup(2);
  fs.rmSync(path.join(serverMedia(), 'uploads', 'doc0.pdf'));
  fs.renameSync(path.join(serverMedia(), 'uploads', 'doc1.pdf'), path.join(serverMedia(), 'uploads', 'moved.pdf'));
  const inc2 = await serverBackup(3);
  const atInc2 = describeTree(serverMedia());
  assert.match(inc2, /\.inc2\.tar\.zst$/);

  const r = await fromLaptop('download-backup', ['media', inc2, '--env', 'production']);
  assert.equal(r.code, 0, explain(r));
  const here = path.join(laptop.backupDir, 'media');
  assert.equal(r.stdout.trim(), path.join(here, `production_${inc2}`));
  assert.deepEqual(
    ls(here),
    [full, inc1, inc2].flatMap((n) => [`production_${n}`, `production_${n}.manifest.json`]).sort(),
    'the chain and the manifests, no snapshot files (only the environment that makes the next incremental needs them)',
  );
  assert.match(r.stderr, new RegExp(`its chain is here too, so it restores here: 2 archives it builds on \\(from production_${full.replaceAll('.', '\\.')}\\), 2 downloaded`));

  const restored = await fromLaptop('restore-media', [`production_${inc2}`, '--yes']);
  assert.equal(restored.code, 0, explain(restored));
  assert.match(restored.stderr, /a chain of 3 archives/);
  assert.deepEqual(describeTree(path.join(laptop.dir, 'media')), atInc2, 'the deletion and the rename applied');

  fs.writeFileSync(path.join(serverMedia(), 'uploads', 'later.pdf'), 'added on day 4');
  const inc3 = await serverBackup(4);
  const next = await fromLaptop('download-backup', ['media', inc3, '--env', 'production', '--json']);
  assert.equal(next.code, 0, explain(next));
  const d = JSON.parse(next.stdout) as { name: string; transferred: boolean; chain: { name: string; transferred: boolean }[] };
  assert.equal(d.transferred, true);
  assert.deepEqual(d.chain.map((c) => [c.name, c.transferred]), [...[full, inc1, inc2].map((n) => [`production_${n}`, false]), [`production_${inc3}`, true]]);
  assert.match(next.stderr, /its chain is here too, so it restores here: 3 archives it builds on .*none downloaded, 3 already here/);
});

test('download of an incremental whose chain has a gap there is refused before anything is copied', async () => {
  const media = path.join(server.backupDir, 'media');
  const inc1 = ls(media).find((n) => /\.inc1\.tar\.zst$/.test(n))!;
  const inc3 = ls(media).find((n) => /\.inc3\.tar\.zst$/.test(n))!;
  fs.mkdirSync(path.join(server.dir, 'away'));
  fs.renameSync(path.join(media, inc1), path.join(server.dir, 'away', inc1));
  fs.rmSync(path.join(laptop.backupDir, 'media'), { recursive: true });
  const r = await fromLaptop('download-backup', ['media', inc3, '--env', 'production']);
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stderr, /cannot be restored, so it was not downloaded: its chain is broken there \(.*builds on a level-1 archive that is not there\)/);
  assert.deepEqual(ls(path.join(laptop.backupDir, 'media')), []);
});
