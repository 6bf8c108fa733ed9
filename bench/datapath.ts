// Where backup-db's time goes past the launcher (not part of npm test):
//   npm run bench:datapath -- [--size-mb 560] [--rounds 5]
// Runs the dump's data path alone, in a fresh Node process per run, with the project's own
// runPipeline and followFile, adding one part at a time (pg_dump as backup-db runs it, its output
// buffered by stdbuf; once more without, for comparison): pg_dump → zstd joined by descriptor
// (Node only waits); the same with the file hashed and flushed as it grows (what backup-media
// does); the dump relayed through Node (the pipeline's tap); relayed and scanned by the
// DumpScanner; relayed, scanned and hashed (backup-db's data path). Each is timed against the
// hand pipeline `pg_dump | zstd -T0 -3 > file && sync file` in the same round, alternating, with the Node process's own CPU
// time beside it, and that of every process but the server's (steadier than wall time on a
// shared machine). Uses the database bench/db.ts makes (cb_bench_<size>).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, benchDbName, fmt, median, must, PG, psql, time } from './common.ts';
import { compressArgv } from '../lib/core/codec.ts';
import { DumpScanner } from '../lib/db/dump-scanner.ts';
import { dumpArgv } from '../lib/db/pg.ts';
import { which } from '../lib/proc/which.ts';
import { runPipeline } from '../lib/proc/pipeline.ts';
import { followFile } from '../lib/store/follow.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench/out/datapath');
// `unbuffered`: pg_dump's own 8 KiB writes, as before its stdout went through stdbuf (lib/db/pg dumpArgv).
const MODES = ['fd', 'fd+hash', 'relay', 'relay+scan', 'relay+scan+hash unbuffered', 'relay+scan+hash'] as const;
type Mode = (typeof MODES)[number];

/** One run of one mode, in this process: prints {ms, nodeS, allS} (wall ms, CPU seconds of Node, of Node and its children) as JSON. */
async function runOne(mode: Mode, db: string): Promise<void> {
  const file = path.join(OUT, `${mode}.sql.zst`);
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, 'w', 0o600);
  const cpu0 = process.cpuUsage();
  const children0 = childrenCpuS();
  const t0 = performance.now();
  const follower = mode.includes('hash') ? await followFile(file, fd) : null;
  const scanner = new DumpScanner();
  const res = await runPipeline({
    stages: [
      { name: 'pg_dump', argv: dumpArgv({ mode: 'direct', url: null }, db, mode.endsWith('unbuffered') ? null : which('stdbuf')), env: PG },
      // The compressor exactly as backup-db runs it by default.
      { name: 'zstd', argv: compressArgv('zstd', null) },
    ],
    stdout: fd,
    tap: mode.startsWith('fd') ? undefined : { after: 0, look: mode.includes('scan') ? (c) => scanner.push(c) : () => {} },
  });
  if (mode.includes('scan') && !scanner.finish().complete) throw new Error('the scanner did not see the footer');
  if (!res.ok) throw new Error(res.failure?.message ?? 'failed');
  if (follower) await follower.finish(true);
  else fs.fsyncSync(fd);
  fs.closeSync(fd);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  const nodeS = (c.user + c.system) / 1e6;
  console.log(JSON.stringify({ ms, nodeS, allS: nodeS + childrenCpuS() - children0 }));
}

/** CPU seconds of this process's finished children, theirs included (/proc: cutime + cstime, in ticks of 1/100 s). */
function childrenCpuS(): number {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  // After "pid (comm) ", the fields start at state (field 3): cutime and cstime are fields 16 and 17.
  return (Number(fields[16 - 3]) + Number(fields[17 - 3])) / 100;
}

async function main(): Promise<void> {
  const modeAt = process.argv.indexOf('--mode');
  const sizeMb = arg('size-mb', 560);
  const db = benchDbName(sizeMb);
  if (modeAt >= 0) return runOne(process.argv[modeAt + 1] as Mode, db);
  if (psql('postgres', `SELECT count(*) FROM pg_database WHERE datname = '${db}'`) !== '1') throw new Error(`database ${db} is missing: run npm run bench:db -- --size-mb ${sizeMb} --prepare-only first`);
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  const rounds = arg('rounds', 5);
  const wall: Record<string, number[]> = { hand: [] };
  const cpu: Record<string, number[]> = {};
  const all: Record<string, number[]> = { hand: [] };
  for (const m of MODES) (wall[m] = []), (cpu[m] = []), (all[m] = []);
  for (let r = 0; r < rounds; r++) {
    const hand = must(await time(['sh', '-c', `pg_dump -d ${db} | zstd -q -T0 -3 > ${OUT}/hand.sql.zst && sync ${OUT}/hand.sql.zst`], PG), 'hand');
    wall.hand!.push(hand.ms);
    all.hand!.push(hand.cpuS);
    for (const m of MODES) {
      execFileSync('sync');
      const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--mode', m, '--size-mb', String(sizeMb)], { encoding: 'utf8', env: PG });
      if (child.status !== 0) throw new Error(`${m}: ${child.stderr.trim()}`);
      const { ms, nodeS, allS } = JSON.parse(child.stdout.trim().split('\n').pop()!) as { ms: number; nodeS: number; allS: number };
      wall[m]!.push(ms);
      cpu[m]!.push(nodeS);
      all[m]!.push(allS);
    }
    console.error(`round ${r + 1}: hand ${fmt(wall.hand![r]!)}, ${MODES.map((m) => `${m} ${fmt(wall[m]![r]!)}`).join(', ')}`);
  }
  const hand = median(wall.hand!);
  console.log(`${db}; ${rounds} rounds, medians; launcher, version checks and manifest not included`);
  console.log('CPU: of Node alone, and of every process but the server (pg_dump, zstd, Node)');
  console.log(`hand pg_dump | zstd > f && sync   ${fmt(hand)}                  CPU all ${median(all.hand!).toFixed(2)} s`);
  for (const m of MODES) {
    console.log(
      `${m.padEnd(32)} ${fmt(median(wall[m]!))}   ${(median(wall[m]!) / hand).toFixed(2)}x hand   CPU Node ${median(cpu[m]!).toFixed(2)} s, all ${median(all[m]!).toFixed(2)} s`,
    );
  }
}

await main();
