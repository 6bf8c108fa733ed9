// @ts-check
// Module hooks that turn the project's TypeScript into JavaScript, with esbuild.
//
// Why not tsx alone: on Node 20 every module a hook sees costs a round trip to the hooks thread,
// and a script imports some 200 (its lib graph, zod, yaml, dayjs). A scheduled backup paid about
// half a second for that before its first line ran. So an operation script (scripts/<op>.ts) is
// served as one bundle of itself, lib/ and those packages, built once and cached under
// node_modules/.cache/compose-backup. Each bundle records its inputs with their sizes and
// modification times; when any of them changes the bundle is rebuilt (~0.3 s), so an edited
// lib file takes effect on the next run. zx stays outside the bundle: its CLI has already loaded
// it, and the script must share that instance. Any other .ts file is transpiled on its own.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPTS = path.join(ROOT, 'scripts');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'compose-backup');
/** Changes of this file, the build settings or esbuild itself invalidate every bundle. */
const ALWAYS = [fileURLToPath(import.meta.url), path.join(ROOT, 'package.json'), path.join(ROOT, 'tsconfig.json'), path.join(ROOT, 'node_modules', 'esbuild', 'package.json')];
const HEADER = '// compose-backup bundle ';

/** @param {string} url @param {{ format?: string | null }} context @param {Function} nextLoad */
export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = path.dirname(file) === SCRIPTS ? await bundled(file, CACHE) : await transpiled(file);
  return { format: 'module', source, shortCircuit: true };
}

/**
 * @typedef {[file: string, size: number, mtimeMs: number]} Stamp
 */

/** Pure: the size and modification time that say whether a file changed. @param {string} file @param {(f: string) => fs.Stats} stat @returns {Stamp} */
export function stampOf(file, stat = fs.statSync) {
  try {
    const s = stat(file);
    return [file, s.size, s.mtimeMs];
  } catch {
    return [file, -1, -1];
  }
}

/** Pure apart from stat: every recorded input still has its recorded size and time. @param {Stamp[]} stamps @param {(f: string) => fs.Stats} stat */
export function isFresh(stamps, stat = fs.statSync) {
  return stamps.every(([file, size, mtime]) => {
    const [, s, m] = stampOf(file, stat);
    return s === size && m === mtime;
  });
}

/** Pure: the inputs recorded in a cached bundle's first line, or null when it is not one of ours. @param {string} text @returns {Stamp[] | null} */
export function parseHeader(text) {
  if (!text.startsWith(HEADER)) return null;
  const end = text.indexOf('\n');
  try {
    const stamps = JSON.parse(text.slice(HEADER.length, end));
    return Array.isArray(stamps) ? stamps : null;
  } catch {
    return null;
  }
}

/** The bundle of one operation script, from the cache when none of its inputs changed. @param {string} file @param {string} cacheDir */
export async function bundled(file, cacheDir) {
  const cached = path.join(cacheDir, `${path.basename(file, '.ts')}.mjs`);
  let text = '';
  try {
    text = fs.readFileSync(cached, 'utf8');
  } catch {}
  const stamps = parseHeader(text);
  if (stamps && isFresh(stamps)) return text;

  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [file],
    absWorkingDir: ROOT,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['zx'],
    metafile: true,
    write: false,
    logLevel: 'silent',
    // The CommonJS packages inside (yaml, dayjs) call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __cbRequire } from 'node:module'; const require = __cbRequire(import.meta.url);" },
  });
  const inputs = Object.keys(result.metafile.inputs).map((f) => path.resolve(ROOT, f));
  // Times are taken after the build: a file edited during it is seen as changed next time.
  const header = HEADER + JSON.stringify([...ALWAYS, ...inputs].map((f) => stampOf(f))) + '\n';
  // A script's #! line must be the first line of a file; here it would follow the header.
  const out = header + (result.outputFiles[0]?.text ?? '').replace(/^#!.*\n/, '');
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    // Written aside and renamed: runs starting together never read half a bundle.
    const tmp = `${cached}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, out);
    fs.renameSync(tmp, cached);
  } catch {
    // A read-only checkout still runs; it rebuilds each time.
  }
  return out;
}

/** Any other TypeScript file, on its own (a user's script importing lib/, say). @param {string} file */
async function transpiled(file) {
  const esbuild = await import('esbuild');
  const { code } = await esbuild.transform(fs.readFileSync(file, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20', sourcefile: file });
  return code;
}
