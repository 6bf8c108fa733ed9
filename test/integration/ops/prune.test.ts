// runPrune (the scheduled run's entry point, in process) and checkComplete on small real trees:
// a dry run changes nothing, a real run removes the plan with the manifests, and the newest of
// a group that does not read back complete stops everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Retention } from '../../../lib/core/prune-plan.ts';
import { checkComplete, PruneRefusedError, runPrune } from '../../../lib/ops/prune.ts';
import { ls, snapshotFiles, tempDir } from '../../helpers/cli.ts';

const NOW = new Date('2026-12-31T12:00:00Z');
const retention = (over: Partial<Retention> = {}): Retention => ({ database: {}, media: {}, snapshots: {}, ...over });
const db = (stamp: string) => `backup_${stamp}.sql.zst`;

const DUMP = '--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n\n--\n-- PostgreSQL database dump complete\n--\n\n';

const zstd = (text: string) => execFileSync('zstd', ['-q', '-c'], { input: text });

test('runPrune: a dry run changes nothing; a real run removes the plan and the manifests, in order, and says so', async () => {
  const bk = tempDir();
  fs.mkdirSync(path.join(bk, 'postgres'));
  const names = ['2026_12_31T03_00_00', '2026_12_30T03_00_00', '2026_12_29T03_00_00'].map((s) => db(s));
  for (const n of names) {
    fs.writeFileSync(path.join(bk, 'postgres', n), zstd(DUMP));
    fs.writeFileSync(path.join(bk, 'postgres', `${n}.manifest.json`), '{}');
  }
  const settings = { backupDir: bk, retention: retention({ database: { keepLast: 1 } }) };
  const before = snapshotFiles(path.join(bk, 'postgres'));
  const dry = await runPrune(settings, NOW, { dryRun: true });
  assert.deepEqual(dry.removed, []);
  assert.deepEqual(dry.plan.remove.map((f) => f.name), names.slice(1));
  assert.deepEqual(dry.checks.map((c) => [c.name, c.failure]), [[names[0], null]]);
  assert.deepEqual(snapshotFiles(path.join(bk, 'postgres')), before);

  const seen: string[] = [];
  const real = await runPrune(settings, NOW, { onRemoved: (p) => seen.push(p) });
  const p = (n: string) => path.join(bk, 'postgres', n);
  assert.deepEqual(real.removed, [p(`${names[1]}.manifest.json`), p(names[1]!), p(`${names[2]}.manifest.json`), p(names[2]!)]);
  assert.deepEqual(seen, real.removed);
  assert.deepEqual(ls(path.join(bk, 'postgres')), [names[0], `${names[0]}.manifest.json`]);
});

test('runPrune refuses, removing nothing, when the newest fails the completeness check', async () => {
  const bk = tempDir();
  fs.mkdirSync(path.join(bk, 'postgres'));
  fs.writeFileSync(path.join(bk, 'postgres', db('2026_12_31T03_00_00')), zstd(DUMP.replace('complete', 'INCOMPLETE')));
  fs.writeFileSync(path.join(bk, 'postgres', db('2026_12_30T03_00_00')), zstd(DUMP));
  const before = snapshotFiles(path.join(bk, 'postgres'));
  await assert.rejects(
    runPrune({ backupDir: bk, retention: retention({ database: { keepLast: 1 } }) }, NOW),
    (err: unknown) =>
      err instanceof PruneRefusedError && err.exitCode === 1 && err.outcome.removed.length === 0 &&
      /database backups: the newest, backup_2026_12_31T03_00_00\.sql\.zst, fails the completeness check \(it ends without "-- PostgreSQL database dump complete"/.test(err.message),
  );
  assert.deepEqual(snapshotFiles(path.join(bk, 'postgres')), before);
});

test('checkComplete: full dumps and archives pass; cut, garbage and truncated ones fail', async () => {
  const dir = tempDir();
  const w = (name: string, data: Buffer | string) => {
    fs.writeFileSync(path.join(dir, name), data);
    return path.join(dir, name);
  };
  const good = zstd(DUMP);
  const src = tempDir();
  fs.writeFileSync(path.join(src, 'a.txt'), 'x'.repeat(20000));
  const tarZst = execFileSync('sh', ['-c', `tar -C ${src} -c . | zstd -q -c`]);
  const tarGz = execFileSync('sh', ['-c', `tar -C ${src} -c . | gzip -c`]);
  const cases: [string, Buffer | string, 'database' | 'media', 'zstd' | 'gzip', RegExp | null][] = [
    ['dump.zst', good, 'database', 'zstd', null],
    ['dump.gz', execFileSync('gzip', ['-c'], { input: DUMP }), 'database', 'gzip', null],
    ['cut.zst', zstd(DUMP.slice(0, 40)), 'database', 'zstd', /ends without/],
    ['truncated.zst', good.subarray(0, good.length - 4), 'database', 'zstd', /zstd -d failed/],
    ['garbage.zst', 'not zstd at all', 'database', 'zstd', /zstd -d failed/],
    ['m.tar.zst', tarZst, 'media', 'zstd', null],
    ['m.tar.gz', tarGz, 'media', 'gzip', null],
    ['m-truncated.tar.zst', tarZst.subarray(0, Math.floor(tarZst.length / 2)), 'media', 'zstd', /failed/],
  ];
  for (const [name, data, kind, codec, failure] of cases) {
    const got = await checkComplete({ path: w(name, data), kind, codec });
    if (failure) assert.match(got ?? '(passed)', failure, name);
    else assert.equal(got, null, name);
  }
});
