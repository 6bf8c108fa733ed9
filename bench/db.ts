// Benchmark of backup-db and restore-db (not part of npm test):
//   npm run bench:db -- [--size-mb 500] [--rounds 3] [--prepare-only]
// Generates (once) a database of realistic data — prose-like text that compresses about 3x,
// JSON, numbers — then times, alternating in one run: backup-db with defaults, the seed's
// `pg_dump | gzip`, the hand pipeline `pg_dump | zstd -T0 -3 > f && sync f` (backup-db flushes
// its file to disk too); and restore-db against
// `zstd -dc file | psql`. Prints ratios and the Node process's peak RSS.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, benchDbName, fmt, median, must, PG, psql, time } from './common.ts';
import { parseSafetyDatabaseName } from '../lib/db/safety-names.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench/out/db');
const sizeMb = arg('size-mb', 500);
const rounds = arg('rounds', 3);
// One database per size, so runs at several sizes do not regenerate each other's.
const DB = benchDbName(sizeMb);

/** Prose-like text: words from a fixed vocabulary with a skewed (Zipf-like) choice, as text compresses ~3x. */
function* copyRows(seed: number, count: number, startId: number): Generator<string> {
  let x = seed >>> 0;
  const rand = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const vocab = Array.from({ length: 4000 }, (_, i) => {
    let w = '';
    let n = 2 + ((i * 7919) % 9);
    let y = i + 1;
    while (n--) {
      w += 'etaoinshrdlcumwfgypbvkjxqz'[(y = (y * 48271) % 2147483647) % (n % 3 === 0 ? 26 : 12)];
    }
    return w;
  });
  const word = () => vocab[Math.floor(rand() ** 2.2 * vocab.length)]!;
  const sentence = (n: number) => Array.from({ length: n }, word).join(' ');
  for (let i = 0; i < count; i++) {
    const id = startId + i;
    const body = Array.from({ length: 3 + Math.floor(rand() * 6) }, () => sentence(8 + Math.floor(rand() * 20)) + '.').join(' ');
    const meta = JSON.stringify({ views: Math.floor(rand() * 10000), tags: [word(), word()] });
    yield `${id}\t${sentence(4)}\t${body}\tauthor${id % 500}\t2024-01-01 00:00:00+00\t${meta}\n`;
  }
}

function ensureDatabase(): void {
  const exists = psql('postgres', `SELECT count(*) FROM pg_database WHERE datname = '${DB}'`) === '1';
  const size = exists ? Number(psql(DB, 'SELECT pg_database_size(current_database())')) : 0;
  if (size >= sizeMb * 1024 * 1024 * 0.95) return;
  console.error(`generating ${sizeMb} MB of data in ${DB} (once)…`);
  if (exists) psql('postgres', `DROP DATABASE ${DB} WITH (FORCE)`);
  psql('postgres', `CREATE DATABASE ${DB}`);
  psql(DB, `CREATE TABLE articles (id bigint PRIMARY KEY, title text, body text, author text, published timestamptz, meta jsonb);
    CREATE INDEX ON articles (author);`);
  const batch = 50_000;
  for (let b = 0; Number(psql(DB, 'SELECT pg_database_size(current_database())')) < sizeMb * 1024 * 1024; b++) {
    let text = '';
    for (const row of copyRows(b + 1, batch, b * batch + 1)) text += row;
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', DB, '-c', 'COPY articles FROM STDIN'], { env: PG, input: text, maxBuffer: 1 << 30 });
  }
  psql(DB, 'VACUUM ANALYZE');
}

async function main(): Promise<void> {
  ensureDatabase();
  if (process.argv.includes('--prepare-only')) return;
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  const dbBytes = Number(psql(DB, 'SELECT pg_database_size(current_database())'));
  const env = { ...PG, DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${DB}`, BACKUP_DIR: path.join(OUT, 'tree') };
  const t = { floor: [] as number[], tool: [] as number[], seed: [] as number[], hand: [] as number[], restore: [] as number[], handRestore: [] as number[], carefulRestore: [] as number[] };
  let peak = 0;
  let last = '';
  for (let r = 0; r < rounds; r++) {
    // The launcher's fixed cost: npx, node, the TypeScript loader (Node 20), zx and the script, no work.
    t.floor.push(must(await time(['npx', 'zx', 'scripts/backup-db.ts', '--help'], env, ROOT), 'backup-db --help').ms);
    const tool = must(await time(['npx', 'zx', 'scripts/backup-db.ts'], env, ROOT), 'backup-db');
    t.tool.push(tool.ms);
    peak = Math.max(peak, tool.nodePeakMiB);
    t.seed.push(must(await time(['sh', '-c', `pg_dump -d ${DB} | gzip > ${OUT}/seed.sql.gz`], PG), 'seed').ms);
    t.hand.push(must(await time(['sh', '-c', `pg_dump -d ${DB} | zstd -q -T0 -3 > ${OUT}/hand.sql.zst && sync ${OUT}/hand.sql.zst`], PG), 'hand').ms);
    console.error(`round ${r + 1}: backup-db ${fmt(tool.ms)}, pg_dump|gzip ${fmt(t.seed[r]!)}, pg_dump|zstd ${fmt(t.hand[r]!)}`);
  }
  last = fs.readdirSync(path.join(OUT, 'tree/postgres')).filter((n) => /^backup_.*\.sql\.zst$/.test(n)).sort().pop()!;
  const file = path.join(OUT, 'tree/postgres', last);
  for (let r = 0; r < rounds; r++) {
    const restore = must(await time(['npx', 'zx', 'scripts/restore-db.ts', file, '--yes'], env, ROOT), 'restore-db');
    t.restore.push(restore.ms);
    peak = Math.max(peak, restore.nodePeakMiB);
    // The database restore-db replaced is kept as its safety copy; over rounds those would fill the
    // disk. Dropped here, untimed (prune's job in real use); only exact safety names of cb_bench.
    for (const n of psql('postgres', `SELECT datname FROM pg_database WHERE datname LIKE '${DB.replace(/_/g, '\\_')}\\_temp\\_before\\_restore\\_%'`).split('\n')) {
      if (n && parseSafetyDatabaseName(n, DB)) psql('postgres', `DROP DATABASE "${n}" WITH (FORCE)`);
    }
    psql('postgres', 'DROP DATABASE IF EXISTS cb_bench_hand');
    psql('postgres', 'CREATE DATABASE cb_bench_hand');
    t.handRestore.push(must(await time(['sh', '-c', `zstd -dcq ${file} | psql -X -q -o /dev/null -d cb_bench_hand`], PG), 'hand restore').ms);
    psql('postgres', 'DROP DATABASE cb_bench_hand');
    // What a careful person does by hand: dump the live database first, then load.
    psql('postgres', 'CREATE DATABASE cb_bench_hand');
    t.carefulRestore.push(
      must(await time(['sh', '-c', `pg_dump -d ${DB} | zstd -q -T0 > ${OUT}/before.sql.zst && zstd -dcq ${file} | psql -X -q -o /dev/null -d cb_bench_hand`], PG), 'careful restore').ms,
    );
    psql('postgres', 'DROP DATABASE cb_bench_hand');
    // The safety copies restore-db keeps would fill the disk over rounds; they are not measured.
    for (const n of fs.readdirSync(path.join(OUT, 'tree/postgres'))) if (n.startsWith('temp_before_restore')) fs.rmSync(path.join(OUT, 'tree/postgres', n));
    console.error(`round ${r + 1}: restore-db ${fmt(restore.ms)}, zstd -dc | psql ${fmt(t.handRestore[r]!)}, pg_dump first then load ${fmt(t.carefulRestore[r]!)}`);
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
  const dumpSize = fs.statSync(file).size;
  console.log(`database ${(dbBytes / 2 ** 20).toFixed(0)} MiB on disk; backup ${(dumpSize / 2 ** 20).toFixed(0)} MiB (zstd); ${rounds} rounds, medians`);
  console.log(`backup-db            ${fmt(m.tool)}`);
  console.log(`pg_dump | gzip       ${fmt(m.seed)}   speed-up of backup-db: ${(m.seed / m.tool).toFixed(2)}x   (target >= 3x)`);
  console.log(`pg_dump | zstd -T0 -3 > f && sync f   ${fmt(m.hand)}   backup-db / hand: ${(m.tool / m.hand).toFixed(2)}x   (target <= 1.4x)`);
  console.log(`restore-db           ${fmt(m.restore)}   restore-db / hand: ${(m.restore / m.handRestore).toFixed(2)}x   (target <= 1.5x)`);
  console.log(`zstd -dc | psql      ${fmt(m.handRestore)}`);
  console.log(`dump live, then load ${fmt(m.carefulRestore)}   restore-db / that: ${(m.restore / m.carefulRestore).toFixed(2)}x   (restore-db also keeps a safety copy first)`);
  console.log(`node peak RSS        ${peak.toFixed(0)} MiB   (target <= 160 MiB)`);
  // For information: the same ratios without the launcher's fixed cost (what grows with the data).
  console.log(`start-up floor       ${fmt(m.floor)}   (npx zx scripts/backup-db.ts --help)`);
  console.log(`without the floor    backup-db / hand: ${((m.tool - m.floor) / m.hand).toFixed(2)}x   restore-db / hand: ${((m.restore - m.floor) / m.handRestore).toFixed(2)}x`);
}

await main();
