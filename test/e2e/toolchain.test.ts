// How the TypeScript runs (lib/loader: amaro's strip-only hook on Node 20, native type stripping
// on 22.18+), through the real `npx zx`: a script works from a fresh clone's layout, the loader
// option resolves from anywhere npm starts node in the project, and a crash's stack trace names
// the source line and column.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, ls, runScript } from '../helpers/cli.ts';
import { createDb, type TempDb } from '../helpers/pg.ts';
import { projectCopy, type ProjectCopy } from '../helpers/project-copy.ts';

const dbs: TempDb[] = [];
const copies: ProjectCopy[] = [];
after(() => {
  dbs.forEach((d) => d.drop());
  copies.forEach((c) => c.remove());
});
/** The project as a fresh clone has it after `npm install`: no config, no backups, no caches. */
function freshClone(): ProjectCopy {
  const c = projectCopy(null, 'cbt-clone-');
  copies.push(c);
  return c;
}

test('from a fresh clone: backup-db and list-backups run on the built-in defaults', async () => {
  const clone = freshClone();
  assert.equal(fs.existsSync(clone.configPath), false);
  const d = createDb('cbt_clone');
  dbs.push(d);
  const b = await runScript('backup-db', [], { cwd: clone.dir, env: { DATABASE_URL: d.url } });
  assert.equal(b.code, 0, b.stderr);
  const file = b.stdout.trim();
  assert.equal(path.dirname(file), path.join(clone.dir, 'backups', 'postgres'));
  assert.deepEqual(ls(path.dirname(file)), [path.basename(file), `${path.basename(file)}.manifest.json`]);
  const list = await runScript('list-backups', ['--json'], { cwd: clone.dir, env: { DATABASE_URL: d.url } });
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout).map((i: { name: string }) => i.name), [path.basename(file)]);
});

test('the loader option resolves wherever npm starts node in the project, even inside node_modules/<package>', () => {
  // npm runs a dependency's install script with the project's node-options and that package's
  // folder as the working directory; a loader that did not resolve there broke `npm install`.
  const clone = freshClone();
  for (const cwd of [ROOT, path.join(ROOT, 'node_modules/zod'), path.join(ROOT, 'lib'), path.join(ROOT, 'test/e2e'), clone.dir]) {
    const r = spawnSync(process.execPath, ['--import', 'compose-backup-loader', '-e', 'console.log("ran")'], { cwd, encoding: 'utf8' });
    assert.equal(r.status, 0, `${cwd}: ${r.stderr}`);
    assert.equal(r.stdout, 'ran\n');
  }
});

test('an unexpected crash: one line, and with COMPOSE_BACKUP_DEBUG the stack names the lib source file and line', async () => {
  // A copy of the project whose lib throws a plain Error where list-backups formats its listing:
  // an "unexpected" failure, as a bug would be.
  const clone = freshClone();
  const file = path.join(clone.dir, 'lib/core/listing.ts');
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const at = lines.findIndex((l) => l.startsWith('export function formatListing('));
  assert.ok(at >= 0, 'formatListing is where the crash is injected');
  lines.splice(at + 1, 0, "  throw new Error('injected crash');");
  fs.writeFileSync(file, lines.join('\n'));
  const crashLine = at + 2;

  const plain = await runScript('list-backups', [], { cwd: clone.dir });
  assert.equal(plain.code, 1, plain.stderr);
  assert.equal(plain.stdout, '');
  assert.match(plain.stderr, /^error: unexpected: injected crash$/m);
  assert.doesNotMatch(plain.stderr, /\n\s+at /, 'no stack trace without COMPOSE_BACKUP_DEBUG');

  const debug = await runScript('list-backups', [], { cwd: clone.dir, env: { COMPOSE_BACKUP_DEBUG: '1' } });
  assert.equal(debug.code, 1, debug.stderr);
  assert.match(debug.stderr, /^error: unexpected: injected crash$/m);
  // The source's own line and column (`new Error` on the injected line), with no source map: both
  // strippers (amaro's on Node 20, Node's own on 22.18+/24) blank the types out in place.
  assert.ok([file, pathToFileURL(file).href].some((f) => debug.stderr.includes(`at formatListing (${f}:${crashLine}:9)`)), debug.stderr);
  // Every frame of ours names a .ts source with its line, never a bundle or a compiled file.
  const ours = debug.stderr.split('\n').filter((l) => l.includes(clone.dir));
  assert.ok(ours.length >= 2, debug.stderr);
  for (const l of ours) assert.match(l, new RegExp(`${clone.dir}/(lib/[a-z]+|scripts)/[a-z-]+\\.ts:\\d+:\\d+\\)?$`), l);
});
