// Incremental chains at an offsite target: a chain pushed (encrypted) to a folder target, pruned
// there by a policy that would keep only the newest point (its chain stays, "needed by"),
// fetched back link by link with download-backup --from, and brought back whole by recover on a
// server that lost its backups and media: the media ends as it was at the newest point.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runScript, tempDir, type RunResult } from '../helpers/cli.ts';
import { describeTree } from '../helpers/media-tree.ts';
import { ageKeys } from '../helpers/offsite.ts';
import { projectCopy, type ProjectCopy } from '../helpers/project-copy.ts';

let project: ProjectCopy;
let nas: string;
const keys = ageKeys();
const points: { name: string; tree: ReturnType<typeof describeTree> }[] = [];

const media = () => path.join(project.dir, 'media');
const run = (script: string, args: string[]) => runScript(script, [...args, '--config', project.configPath], { timeoutMs: 120_000 });
const explain = (r: RunResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const mediaBackups = () => fs.readdirSync(path.join(project.backupDir, 'media')).filter((n) => /^media_backup_.*\.tar\.zst$/.test(n)).sort();

before(() => {
  nas = tempDir('cbt-nas-chain-');
  project = projectCopy(
    [
      'environments:',
      '  local:',
      '    backupDir: ./backups',
      '    media: { mode: host, path: ./media, incremental: { maxChainRatio: 100 } }',
      '    verify: { onShrink: warn }',
      '    offsite:',
      '      nas:',
      '        kind: path',
      `        path: ${JSON.stringify(nas)}`,
      `        recipients: [${keys.recipient}]`,
      '        retention: { media: { keepLast: 1 } }',
      '',
    ].join('\n'),
    'cbt-offsite-chain-',
  );
  fs.mkdirSync(path.join(media(), 'uploads/2026'), { recursive: true });
  fs.writeFileSync(path.join(media(), 'uploads/2026/a.jpg'), 'first photo');
  fs.writeFileSync(path.join(media(), 'uploads/2026/b.jpg'), 'second photo');
});

after(() => project?.remove());

async function backup(change: () => void): Promise<void> {
  change();
  const r = await run('backup-media', []);
  assert.equal(r.code, 0, explain(r));
  points.push({ name: path.basename(r.stdout.trim()), tree: describeTree(media()) });
  // Names are per second: the next point gets its own.
  await new Promise((res) => setTimeout(res, 1100));
}

test('a chain pushed to a target is pruned there as a whole, fetched back link by link, and recovered', async () => {
  await backup(() => {});
  await backup(() => {
    fs.rmSync(path.join(media(), 'uploads/2026/a.jpg'));
    fs.writeFileSync(path.join(media(), 'uploads/2026/c.jpg'), 'third photo');
  });
  await backup(() => fs.renameSync(path.join(media(), 'uploads/2026'), path.join(media(), 'uploads/2027')));
  assert.deepEqual(points.map((p) => p.name.replace(/\d{4}(_\d\d){2}T(\d\d_){2}\d\d/, 'T')), [
    'media_backup_T.tar.zst',
    'media_backup_T.inc1.tar.zst',
    'media_backup_T.inc2.tar.zst',
  ]);

  const push = await run('push-offsite', ['--to', 'nas']);
  assert.equal(push.code, 0, explain(push));
  // keepLast 1 at the target keeps the newest point, and with it everything it builds on.
  const dry = await run('prune', ['--offsite', 'nas', '--dry-run']);
  assert.equal(dry.code, 0, explain(dry));
  assert.match(dry.stdout + dry.stderr, new RegExp(`${points[0]!.name.replace(/\./g, '\\.')}.*needed by ${points[2]!.name.replace(/\./g, '\\.')}`));
  const prune = await run('prune', ['--offsite', 'nas', '--yes']);
  assert.equal(prune.code, 0, explain(prune));
  const listed = await run('list-backups', ['--offsite', 'nas', '--json']);
  assert.equal(listed.code, 0, explain(listed));
  for (const p of points) assert.ok(listed.stdout.includes(p.name), `${p.name} is still at the target`);

  // The server loses its backups and its media.
  fs.rmSync(project.backupDir, { recursive: true, force: true });
  fs.rmSync(media(), { recursive: true, force: true });

  // download-backup --from of the middle point brings its full along.
  const dl = await run('download-backup', ['media', points[1]!.name, '--from', 'nas', '--identity', keys.identityFile]);
  assert.equal(dl.code, 0, explain(dl));
  assert.deepEqual(mediaBackups(), [points[0]!.name, points[1]!.name]);
  assert.match(dl.stderr, /is an incremental: the 1 archives it builds on came with it/);

  // recover brings the newest point: the whole chain fetched (what is here already is kept), verified, restored.
  const rec = await run('recover', ['--from', 'nas', '--identity', keys.identityFile, '--yes']);
  assert.equal(rec.code, 0, explain(rec));
  assert.deepEqual(mediaBackups(), points.map((p) => p.name));
  assert.deepEqual(describeTree(media()), points[2]!.tree);
});

test('a chain with a link missing at the target is refused by name, and nothing is fetched', async () => {
  // The target loses the middle link (a person cleaning up by hand).
  const envDir = fs.readdirSync(nas).map((d) => path.join(nas, d)).find((d) => fs.statSync(d).isDirectory())!;
  const mediaDir = fs.existsSync(path.join(envDir, 'media')) ? path.join(envDir, 'media') : envDir;
  const middle = fs.readdirSync(mediaDir).filter((n) => n.startsWith(points[1]!.name));
  assert.ok(middle.length > 0, `the middle link is at the target: ${fs.readdirSync(mediaDir).join(', ')}`);
  for (const n of middle) fs.rmSync(path.join(mediaDir, n));
  fs.rmSync(project.backupDir, { recursive: true, force: true });
  const dl = await run('download-backup', ['media', points[2]!.name, '--from', 'nas', '--identity', keys.identityFile]);
  assert.equal(dl.code, 1, explain(dl));
  assert.match(dl.stderr, /cannot be restored from nas .*its chain is broken there .*inc2\.tar\.zst builds on a level-1 archive that is not there/);
  assert.ok(!fs.existsSync(path.join(project.backupDir, 'media')) || mediaBackups().length === 0, 'nothing fetched');
});
