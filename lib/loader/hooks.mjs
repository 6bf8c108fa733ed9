// Node 20's module hooks (register.mjs registers them there only; Node 22.18+/24 need none).
//
// TypeScript: amaro, the package that is Node's own type stripper (22.18+/24 ship it inside), in
// its strip-only mode. Types become blanks of the same length, so every line and column stays
// where it was: a stack trace names the source's own lines without a source map, as it does on
// Node 24. Strip-only accepts erasable syntax only, which is all the code uses (tsconfig's
// erasableSyntaxOnly). tsx, the loader this replaces, cost every process ~0.25 s of CPU to start
// (esbuild's service, its resolver) and more per module; this hook costs ~0.1 s
// (docs/benchmarks.md). Loading amaro itself costs ~0.16 s, so the stripped text is kept on disk,
// keyed by a hash of the source (not its path: copies of the project share entries); a run whose
// files are all there never loads amaro.
//
// Packages with a CommonJS build (zod, dayjs, zx): imported as ESM, zod alone is ~95 modules, and
// on Node 20 each one is a round trip to this hooks thread; imported as CommonJS, Node lexes each
// one's whole re-export tree for its names. Required, they are neither: an `import … from 'zod'`
// gets a small ES module that requires the package's CommonJS build and re-exports its names
// (listed once per installed file, and kept on disk too). The same file a `require` loads, so
// there is one copy (zx's CLI has already required zx's). docs/benchmarks.md has what each saves.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** The project's node_modules/.cache (this folder is linked into node_modules), else the temp folder. */
function cacheDir() {
  const dirs = [path.resolve(fileURLToPath(import.meta.url), '../../../node_modules/.cache/compose-backup-loader'), path.join(os.tmpdir(), 'compose-backup-loader')];
  for (const dir of dirs) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      return dir;
    } catch {}
  }
  return null;
}

const CACHE = cacheDir();
const AMARO_VERSION = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('amaro')), '../package.json'), 'utf8')).version;

function cached(key) {
  try {
    return CACHE && fs.readFileSync(path.join(CACHE, key), 'utf8');
  } catch {
    return null;
  }
}

/** Written under a temporary name and renamed, so a concurrent reader sees the whole text or none. */
function keep(key, text) {
  if (!CACHE) return;
  try {
    const temp = path.join(CACHE, `${key}.${process.pid}.tmp`);
    fs.writeFileSync(temp, text);
    fs.renameSync(temp, path.join(CACHE, key));
  } catch {}
}

const sha256 = (...parts) => parts.reduce((h, p) => h.update(p).update('\0'), crypto.createHash('sha256')).digest('hex');

let transformSync = null;

function stripped(url) {
  const file = fileURLToPath(url);
  const source = fs.readFileSync(file, 'utf8');
  const key = sha256(`amaro ${AMARO_VERSION} strip-only`, source);
  let code = cached(key);
  if (code === null) {
    transformSync ??= require('amaro').transformSync;
    code = transformSync(source, { mode: 'strip-only', filename: file }).code;
    keep(key, code);
  }
  return code;
}

/**
 * The specifiers served as a required CommonJS build behind an ES module of its names. Named one
 * by one: listing the names requires the file once (in this thread), which must have no effects
 * beyond defining them (zx's own `zx/cli` would, for one).
 */
const REQUIRED = /^(zod|zx|dayjs|dayjs\/plugin\/[a-zA-Z]+\.js)$/;
const FACADE = '?required';

function facade(url) {
  const file = fileURLToPath(url);
  const { mtimeMs, size } = fs.statSync(file);
  const key = sha256('names', file, String(mtimeMs), String(size));
  let names = cached(key);
  if (names === null) {
    names = JSON.stringify(Object.keys(require(file)).filter((n) => n !== 'default'));
    keep(key, names);
  }
  // Local names, since an export may be a reserved word (zod has `null`, `enum`, `function`).
  const lines = JSON.parse(names).map((n, i) => `const _${i} = m[${JSON.stringify(n)}]; export { _${i} as ${JSON.stringify(n)} };`);
  return [`import { createRequire } from 'node:module';`, `const m = createRequire(${JSON.stringify(url)})(${JSON.stringify(file)});`, 'export default m;', ...lines].join('\n');
}

export async function resolve(specifier, context, nextResolve) {
  if (REQUIRED.test(specifier)) {
    const conditions = context.conditions.filter((c) => c !== 'import').concat('require');
    const cjs = await nextResolve(specifier, { ...context, conditions }).catch(() => null);
    if (cjs?.format === 'commonjs') return { url: cjs.url + FACADE, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:')) {
    if (url.endsWith('.ts') || url.endsWith('.mts')) return { format: 'module', source: stripped(url), shortCircuit: true };
    if (url.endsWith(FACADE)) return { format: 'module', source: facade(url.slice(0, -FACADE.length)), shortCircuit: true };
  }
  return nextLoad(url, context);
}
