// What a script loads before its first line runs: the static import graph, read from the sources
// (an `await import()` is not in it). On Node 20 every module is a round trip to the loader's
// hooks thread, so what only some paths need is imported on those paths; this keeps the heavy
// parts out of the two scripts whose start-up is measured (docs/benchmarks.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../helpers/cli.ts';

/** `import … from 'x'`, `import 'x'` and `export … from 'x'` at the start of a line; not `import type`. */
const STATIC = /^(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/gm;

/** Project files (relative to the root) and packages a script loads statically. */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (rel: string): void => {
    if (files.has(rel)) return;
    files.add(rel);
    for (const [, spec] of fs.readFileSync(path.join(ROOT, rel), 'utf8').matchAll(STATIC)) {
      if (spec!.startsWith('.')) visit(path.normalize(path.join(path.dirname(rel), spec!)));
      else if (!spec!.startsWith('node:')) packages.add(spec!);
    }
  };
  visit(entry);
  return { files, packages };
}

const scripts = fs.readdirSync(path.join(ROOT, 'scripts')).filter((f) => f.endsWith('.ts'));

test('the reader of the graph sees what it should: list-backups loads the frame, the config and zod', () => {
  const { files, packages } = staticGraph('scripts/list-backups.ts');
  for (const f of ['lib/cli/frame.ts', 'lib/config/load.ts', 'lib/store/catalog.ts']) assert.ok(files.has(f), f);
  assert.ok(packages.has('zod'));
});

test('list-backups: no offsite, statistics, operations, media or YAML code before the listing runs', () => {
  const { files, packages } = staticGraph('scripts/list-backups.ts');
  const heavy = [...files].filter((f) => /^lib\/(offsite|ops|media)\/|^lib\/monitor\/(collect|stats)\.ts$|^lib\/core\/offsite-/.test(f));
  assert.deepEqual(heavy, []);
  assert.deepEqual([...packages].filter((p) => p === 'yaml' || p.startsWith('@aws-sdk/')), []);
});

test('backup-media: no offsite, statistics or YAML code', () => {
  const { files, packages } = staticGraph('scripts/backup-media.ts');
  assert.deepEqual([...files].filter((f) => /^lib\/offsite\/|^lib\/monitor\/(collect|stats)\.ts$/.test(f)), []);
  assert.deepEqual([...packages].filter((p) => p === 'yaml' || p.startsWith('@aws-sdk/')), []);
});

test('no script loads the AWS SDK or yaml up front: only an s3 target or a config file needs them', () => {
  assert.ok(scripts.length > 10);
  for (const s of scripts) {
    const { packages } = staticGraph(`scripts/${s}`);
    assert.deepEqual([...packages].filter((p) => p === 'yaml' || p.startsWith('@aws-sdk/')), [], s);
  }
});
