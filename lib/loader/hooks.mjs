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

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && (url.endsWith('.ts') || url.endsWith('.mts'))) {
    return { format: 'module', source: stripped(url), shortCircuit: true };
  }
  return nextLoad(url, context);
}
