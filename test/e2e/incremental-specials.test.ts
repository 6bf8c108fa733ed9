// Special files and incrementals: an incremental on top of another skips the walk for special
// files (tar's listing shows one if it changed), so a fifo that appears between two backups makes
// the run archive again with the walk: it is left out with a warning, as a full leaves it out,
// and the chain restores without it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runScript, tempDir, writeConfig, type RunResult } from '../helpers/cli.ts';

let dir: string;
let media: string;
let bk: string;
let cfg: string;

before(() => {
  dir = tempDir('cbt-inc-specials-');
  media = path.join(dir, 'media');
  bk = path.join(dir, 'backups');
  cfg = writeConfig(dir, ['environments:', '  local:', `    media: { mode: host, path: ${JSON.stringify(media)}, incremental: { maxChainRatio: 100 } }`, '    verify: { onShrink: warn }', ''].join('\n'));
  fs.mkdirSync(path.join(media, 'd'), { recursive: true });
  fs.writeFileSync(path.join(media, 'd', 'a.txt'), 'a');
  execFileSync('mkfifo', [path.join(media, 'old-fifo')]);
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const run = (script: string, args: string[], day: number, extra: Record<string, string> = {}): Promise<RunResult> =>
  runScript(script, [...args, '--config', cfg], { env: { BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: `2026-12-0${day}T02:00:00Z`, ...extra } });
const explain = (r: RunResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

test('a fifo that appears between incrementals is left out with a warning, and the chain restores without it', async () => {
  const full = await run('backup-media', [], 1);
  assert.equal(full.code, 0, explain(full));
  assert.match(full.stderr, /warning: left out "\.\/old-fifo": a fifo/);
  fs.writeFileSync(path.join(media, 'd', 'b.txt'), 'b');
  // Nothing special changed: one pass, and the unchanged fifo is not in it.
  const inc1 = await run('backup-media', [], 2);
  assert.equal(inc1.code, 0, explain(inc1));
  assert.doesNotMatch(inc1.stderr, /archiving again|left out/);
  execFileSync('mkfifo', [path.join(media, 'd', 'new-fifo')]);
  fs.writeFileSync(path.join(media, 'c.txt'), 'c');
  const inc2 = await run('backup-media', [], 3);
  assert.equal(inc2.code, 0, explain(inc2));
  assert.match(inc2.stderr, /a special file appeared since the last backup: archiving again, leaving it out/);
  assert.match(inc2.stderr, /warning: left out "\.\/d\/new-fifo": a fifo/);
  const name = path.basename(inc2.stdout.trim());
  assert.match(name, /\.inc2\.tar\.zst$/);
  // Only one archive under that stem: the first pass left nothing behind.
  assert.deepEqual(fs.readdirSync(path.join(bk, 'media')).filter((n) => n.includes('2026_12_03')).sort(), [name, `${name}.manifest.json`, `${name}.snar`]);
  const target = path.join(dir, 'restored');
  const restore = await run('restore-media', [name, '--yes'], 4, { MEDIA_DIR: target });
  assert.equal(restore.code, 0, explain(restore));
  const files = execFileSync('find', ['.', '-mindepth', '1'], { cwd: target, encoding: 'utf8' }).trim().split('\n').sort();
  assert.deepEqual(files, ['./c.txt', './d', './d/a.txt', './d/b.txt']);
});
