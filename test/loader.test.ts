// The project's own TypeScript loader (lib/loader): operation scripts are served as cached
// bundles that must never be stale — an edited lib file takes effect on the next run — and a
// damaged cache entry is rebuilt, not run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundled, isFresh, parseHeader, stampOf } from '../lib/loader/hooks.mjs';
import { ROOT, runScript, tempDir } from './helpers/cli.ts';

const statOf = (size: number, mtimeMs: number) => () => ({ size, mtimeMs }) as fs.Stats;
const missing = () => {
  throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
};

test('stampOf and isFresh: any change of size or time, or a vanished file, is stale', () => {
  assert.deepEqual(stampOf('/a', statOf(10, 5)), ['/a', 10, 5]);
  assert.deepEqual(stampOf('/a', missing), ['/a', -1, -1]);
  const cases: [string, Parameters<typeof isFresh>[1], boolean][] = [
    ['same size and time', statOf(10, 5), true],
    ['other size', statOf(11, 5), false],
    ['other time', statOf(10, 6), false],
    ['gone', missing, false],
  ];
  for (const [name, stat, fresh] of cases) assert.equal(isFresh([['/a', 10, 5]], stat), fresh, name);
  assert.equal(isFresh([], statOf(1, 1)), true, 'nothing recorded');
});

test('parseHeader: only our own first line counts', () => {
  const cases: [string, ReturnType<typeof parseHeader>][] = [
    ['// compose-backup bundle [["/a",1,2]]\ncode', [['/a', 1, 2]]],
    ['// compose-backup bundle {"a":1}\ncode', null],
    ['// compose-backup bundle [["/a",1\ncode', null],
    ['export const x = 1;\n', null],
    ['', null],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseHeader(text), want, JSON.stringify(text));
});

/** A tiny project: scripts/op.ts imports lib/word.ts. */
function project(word: string): { entry: string; lib: string; cache: string } {
  const dir = tempDir('cbt-loader-');
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.mkdirSync(path.join(dir, 'lib'));
  const lib = path.join(dir, 'lib/word.ts');
  fs.writeFileSync(lib, `export const word: string = '${word}';\n`);
  const entry = path.join(dir, 'scripts/op.ts');
  fs.writeFileSync(entry, `#!/usr/bin/env -S npx zx\nimport { word } from '../lib/word.ts';\nexport const said: string = word;\n`);
  return { entry, lib, cache: path.join(dir, 'cache') };
}

async function run(code: string, dir: string): Promise<unknown> {
  const file = path.join(dir, `b-${Math.random().toString(36).slice(2)}.mjs`);
  fs.writeFileSync(file, code);
  return ((await import(pathToFileURL(file).href)) as { said: unknown }).said;
}

test('a bundle is built once, served from the cache, and rebuilt when an input changes', async () => {
  const p = project('first');
  const cached = path.join(p.cache, 'op.mjs');
  const one = await bundled(p.entry, p.cache);
  assert.equal(await run(one, p.cache), 'first');
  assert.ok(parseHeader(fs.readFileSync(cached, 'utf8'))!.some(([f]) => f === p.lib), 'the lib file is a recorded input');
  assert.ok(!/^#!/m.test(one), 'the #! line is dropped (it could not follow the header)');

  // Served from the cache: the cached file is what comes back, even with our marker in it.
  fs.writeFileSync(cached, fs.readFileSync(cached, 'utf8').replace('first', 'from the cache'));
  assert.equal(await run(await bundled(p.entry, p.cache), p.cache), 'from the cache');

  // An edit of an imported file (another size) makes the next call rebuild.
  fs.writeFileSync(p.lib, `export const word: string = 'second, longer';\n`);
  assert.equal(await run(await bundled(p.entry, p.cache), p.cache), 'second, longer');
  assert.match(fs.readFileSync(cached, 'utf8'), /second, longer/);

  // Same size, new time: rebuilt too.
  fs.writeFileSync(p.lib, `export const word: string = 'third!, longer';\n`);
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(p.lib, later, later);
  assert.equal(await run(await bundled(p.entry, p.cache), p.cache), 'third!, longer');
});

test('a cache entry that is not a bundle of ours is rebuilt; an unwritable cache still runs', async () => {
  const p = project('fine');
  fs.mkdirSync(p.cache);
  fs.writeFileSync(path.join(p.cache, 'op.mjs'), 'this is not javascript {');
  assert.equal(await run(await bundled(p.entry, p.cache), p.cache), 'fine');
  const blocked = path.join(p.cache, 'file-not-dir');
  fs.writeFileSync(blocked, '');
  assert.equal(await run(await bundled(p.entry, path.join(blocked, 'sub')), p.cache), 'fine');
});

test('a real script run through npx with a damaged cache entry rebuilds it and works', async () => {
  const cached = path.join(ROOT, 'node_modules/.cache/compose-backup/prune.mjs');
  fs.mkdirSync(path.dirname(cached), { recursive: true });
  // Replaced atomically: other tests may be starting prune at this moment.
  fs.writeFileSync(`${cached}.test`, 'garbage that would not parse {');
  fs.renameSync(`${cached}.test`, cached);
  const r = await runScript('prune', ['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: npx zx scripts\/prune\.ts/);
  assert.ok(parseHeader(fs.readFileSync(cached, 'utf8')), 'the cache holds a bundle again');
});

test('the loader option resolves wherever npm starts node in the project, even inside node_modules/<package>', () => {
  // npm runs a dependency's install script with the project's node-options and that package's
  // folder as the working directory; a loader that did not resolve there broke `npm install`.
  for (const cwd of [ROOT, path.join(ROOT, 'node_modules/zod'), path.join(ROOT, 'lib')]) {
    const r = spawnSync(process.execPath, ['--import', 'compose-backup-loader', '-e', 'console.log("ran")'], { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    assert.equal(r.status, 0, `${cwd}: ${r.stderr}`);
    assert.equal(r.stdout, 'ran\n');
  }
});
