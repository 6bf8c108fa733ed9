// Benchmark of incremental media backups (not part of npm test):
//   npm run bench:media-incremental -- [--size-mb 3072] [--rounds 2] [--change 1]
// Generates once (deterministically, into bench/out/media-inc-tree-v2-<size>) a media tree shaped
// like uploads: ~30,000 files of mostly incompressible bytes, images of 12 KB – 3 MB (most under
// 100 KB) with two thumbnails each, in year/month/day folders. Each round works on a fresh copy of
// it and times, in one run, alternating with the launcher (`npx zx --version`):
//   - a full backup-media (level 0 of a chain);
//   - six days of `--change`% of the files changed (a quarter each added, rewritten, deleted,
//     renamed), an incremental after each;
//   - a full of the same last point (`backup-media --full`);
//   - restore-media of the chain of 7 (full + 6 incrementals) and of that one full, each into an
//     empty folder, in alternating order.
// Sizes: each incremental against its changed files alone (`tar -c -T list | zstd`, the same
// level), with and without the renamed files (GNU tar records renames of folders, not of files:
// a renamed file is archived again under its new name). Prints medians and the issue's targets.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, fmt, keystream, median, must, prng, time, type Timed } from './common.ts';

/** Deterministic incompressible bytes for file `id` (the key keeps the cached trees as they were). */
const noise = (n: number, id: string | number): Buffer => keystream(n, `media-inc-bench-${id}`);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sizeMb = arg('size-mb', 3072);
const rounds = arg('rounds', 2);
const changePct = arg('change', 1);
const DAYS = 6;
// The name carries the generator's version: a changed generator makes a new tree.
const TREE = path.join(ROOT, `bench/out/media-inc-tree-v2-${sizeMb}`);
const OUT = path.join(ROOT, 'bench/out/media-incremental');
const DAY0 = Date.UTC(2027, 2, 1, 3, 0, 0);
const at = (day: number) => new Date(DAY0 + day * 86_400_000).toISOString();


/** An upload's size: skewed, 12 KB … 3 MB, median ~40 KB, mean ~290 KB. */
const imageSize = (rand: () => number) => Math.round(12 * 1024 * 250 ** (rand() ** 2.2));

/** `mtime`: an old upload's; none: now (a change's, which tar must see as newer than the last run). */
function write(p: string, data: Buffer, mtime?: Date): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  if (mtime) fs.utimesSync(p, mtime, mtime);
}

function generate(): { files: number; bytes: number } {
  const marker = path.join(TREE, '.generated');
  if (fs.existsSync(marker)) return JSON.parse(fs.readFileSync(marker, 'utf8'));
  console.error(`generating a ${sizeMb} MB media tree in ${TREE} (once)…`);
  fs.rmSync(TREE, { recursive: true, force: true });
  const media = path.join(TREE, 'media');
  const rand = prng(20270301);
  const target = sizeMb * 1024 * 1024;
  let bytes = 0;
  let files = 0;
  for (let id = 1; bytes < target; id++) {
    const day = `${2019 + Math.floor(rand() * 7)}/${String(1 + Math.floor(rand() * 12)).padStart(2, '0')}/${String(1 + Math.floor(rand() * 28)).padStart(2, '0')}`;
    const ext = rand() < 0.8 ? 'jpg' : 'png';
    // Old uploads' times, all in the past: tar archives a file with a future mtime in every
    // incremental again (it is newer than any run), which is not what is measured here.
    const mtime = new Date(Date.UTC(2019, 0, 1) + rand() * 7 * 365 * 86_400_000);
    const sizes = [imageSize(rand), 3 * 1024 + Math.floor(rand() * 7 * 1024), 15 * 1024 + Math.floor(rand() * 25 * 1024)];
    const rels = [`uploads/${day}/IMG_${id}.${ext}`, `thumbs/${day}/IMG_${id}.150x150.${ext}`, `thumbs/${day}/IMG_${id}.400x400.${ext}`];
    rels.forEach((rel, i) => write(path.join(media, rel), noise(sizes[i]!, `${id}-${i}`), mtime));
    bytes += sizes[0]! + sizes[1]! + sizes[2]!;
    files += 3;
  }
  fs.writeFileSync(marker, JSON.stringify({ files, bytes }) + '\n');
  console.error(`generated ${files} files, ${(bytes / 1048576).toFixed(0)} MiB`);
  return { files, bytes };
}

/** Every file below `dir`, relative, sorted (the change picks from it deterministically). */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.push(r);
    }
  };
  walk('');
  return out.sort();
}

interface Change {
  /** Files whose bytes are new under their path: added, rewritten, renamed (new names). */
  changed: string[];
  renamed: string[];
  deleted: number;
}

/** A day of changes to `pct`% of the files: a quarter each added, rewritten, deleted, renamed. */
function changeTree(media: string, day: number, pct: number): Change {
  const rand = prng(1000 + day);
  const files = listFiles(media);
  const n = Math.max(4, Math.round((files.length * pct) / 100));
  const quarter = Math.floor(n / 4);
  const picked = new Set<number>();
  const pick = () => {
    for (;;) {
      const i = Math.floor(rand() * files.length);
      if (!picked.has(i)) {
        picked.add(i);
        return files[i]!;
      }
    }
  };
  const changed: string[] = [];
  const renamed: string[] = [];
  const folder = `uploads/2027/03/${String(day).padStart(2, '0')}`;
  for (let i = 0; i < quarter; i++) {
    const rel = `${folder}/NEW_${day}_${i}.jpg`;
    write(path.join(media, rel), noise(imageSize(rand), `add-${day}-${i}`));
    changed.push(rel);
  }
  for (let i = 0; i < quarter; i++) {
    const rel = pick();
    const p = path.join(media, rel);
    write(p, noise(fs.statSync(p).size, `mod-${day}-${i}`));
    changed.push(rel);
  }
  for (let i = 0; i < quarter; i++) fs.unlinkSync(path.join(media, pick()));
  for (let i = 0; i < n - 3 * quarter; i++) {
    const rel = pick();
    const to = rel.replace(/(\.[a-z]+)$/, `_renamed${day}$1`);
    fs.renameSync(path.join(media, rel), path.join(media, to));
    changed.push(to);
    renamed.push(to);
  }
  return { changed, renamed, deleted: quarter };
}

/** The compressed size of just these files (tar of the list, zstd at the tool's default level). */
function aloneSize(media: string, rels: string[], out: string): number {
  const list = `${out}.list`;
  fs.writeFileSync(list, rels.join('\n') + '\n');
  execFileSync('sh', ['-c', 'tar -c -f - --format=posix -C "$1" -T "$2" | zstd -q -T0 -3 > "$3"', 'sh', media, list, out]);
  const size = fs.statSync(out).size;
  fs.rmSync(out);
  fs.rmSync(list);
  return size;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const info = generate();
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  const media = path.join(OUT, 'media');
  const bk = path.join(OUT, 'backups');
  const restored = path.join(OUT, 'restored');
  const config = path.join(OUT, 'backup.config.yaml');
  // The sanity gate compares an incremental with the full before it; here only time and size count.
  fs.writeFileSync(config, `environments:
  local:
    media: { mode: host, incremental: { fullEvery: 7d, maxChain: 13, maxChainRatio: 0.5 } }
    verify: { onShrink: warn }
`);
  const env = (day: number, mediaDir = media) => ({ ...process.env, MEDIA_DIR: mediaDir, BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: at(day) });
  const zx = (script: string, args: string[]) => ['npx', 'zx', `scripts/${script}.ts`, ...args, '--config', config];
  const launcher = async () => t.launcher.push(must(await time(['npx', 'zx', '--version'], process.env, ROOT), 'npx zx --version').ms);
  const t = { launcher: [] as number[], full: [] as number[], inc: [] as number[], restoreChain: [] as number[], restoreFull: [] as number[] };
  const cpu = { full: [] as number[], inc: [] as number[] };
  let peak = 0;
  const tool = (x: Timed) => {
    peak = Math.max(peak, x.nodePeakMiB);
    return x;
  };
  const sizes: { full: number; inc: number[]; alone: number[]; aloneNoRenames: number[]; changedBytes: number[] } = { full: 0, inc: [], alone: [], aloneNoRenames: [], changedBytes: [] };
  const newest = (pattern: RegExp) => fs.readdirSync(path.join(bk, 'media')).filter((n) => pattern.test(n)).sort().at(-1)!;

  for (let r = 0; r < rounds; r++) {
    fs.rmSync(bk, { recursive: true, force: true });
    fs.rmSync(media, { recursive: true, force: true });
    execFileSync('cp', ['-a', path.join(TREE, 'media'), media]);
    // Every contender reads the tree from the page cache; warm it (through cat: GNU tar writing
    // to /dev/null itself skips reading file contents).
    execFileSync('sh', ['-c', 'tar -cf - -C "$1" . | cat > /dev/null', 'sh', media]);

    await launcher();
    const full = tool(must(await time(zx('backup-media', []), env(0), ROOT), 'backup-media (full)'));
    t.full.push(full.ms);
    cpu.full.push(full.cpuS);
    const fullName = newest(/^media_backup_.*\.tar\.zst$/);
    sizes.full = fs.statSync(path.join(bk, 'media', fullName)).size;
    console.error(`round ${r + 1}: full ${fmt(full.ms)} (${mib(sizes.full)}, node ${full.nodePeakMiB.toFixed(0)} MiB, launcher ${fmt(t.launcher.at(-1)!)})`);

    for (let day = 1; day <= DAYS; day++) {
      const ch = changeTree(media, day, changePct);
      execFileSync('sync');
      await launcher();
      const inc = tool(must(await time(zx('backup-media', []), env(day), ROOT), `backup-media (incremental ${day})`));
      t.inc.push(inc.ms);
      cpu.inc.push(inc.cpuS);
      const name = newest(new RegExp(`\\.inc${day}\\.tar\\.zst$`));
      const size = fs.statSync(path.join(bk, 'media', name)).size;
      if (r === 0) {
        sizes.inc.push(size);
        sizes.alone.push(aloneSize(media, ch.changed, path.join(OUT, 'alone.tar.zst')));
        sizes.aloneNoRenames.push(aloneSize(media, ch.changed.filter((c) => !ch.renamed.includes(c)), path.join(OUT, 'alone.tar.zst')));
        sizes.changedBytes.push(ch.changed.reduce((n, c) => n + fs.statSync(path.join(media, c)).size, 0));
      }
      console.error(`  day ${day}: ${ch.changed.length + ch.deleted} files changed; incremental ${fmt(inc.ms)} (${mib(size)}, node ${inc.nodePeakMiB.toFixed(0)} MiB, launcher ${fmt(t.launcher.at(-1)!)})`);
    }
    const point = newest(new RegExp(`\\.inc${DAYS}\\.tar\\.zst$`));
    await launcher();
    const again = tool(must(await time(zx('backup-media', ['--full']), env(DAYS + 0.5), ROOT), 'backup-media --full'));
    t.full.push(again.ms);
    cpu.full.push(again.cpuS);
    const pointFull = newest(new RegExp(`^media_backup_${at(DAYS + 0.5).slice(0, 19).replace(/[-:]/g, '_')}\\.tar\\.zst$`));
    console.error(`  a full of the same point: ${fmt(again.ms)} (launcher ${fmt(t.launcher.at(-1)!)})`);

    // Chain and full restores, each into an empty folder, alternating which goes first.
    const order = r % 2 === 0 ? (['chain', 'full'] as const) : (['full', 'chain'] as const);
    for (const which of order) {
      fs.rmSync(restored, { recursive: true, force: true });
      fs.mkdirSync(restored);
      execFileSync('sync');
      const name = which === 'chain' ? point : pointFull;
      const x = tool(must(await time(zx('restore-media', [name, '--yes']), env(DAYS + 1, restored), ROOT), `restore-media ${which}`));
      (which === 'chain' ? t.restoreChain : t.restoreFull).push(x.ms);
      console.error(`  restore of the ${which === 'chain' ? `chain of ${DAYS + 1}` : 'full'}: ${fmt(x.ms)} (node ${x.nodePeakMiB.toFixed(0)} MiB)`);
      // The first round proves both restores give the tree as it is (once: diff of 3 GB is slow).
      if (r === 0) execFileSync('diff', ['-r', '--no-dereference', '-q', media, restored]);
    }
  }

  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
  const line = (label: string, value: string, goal: string, ok: boolean) => console.log(`${label.padEnd(58)} ${value.padStart(12)}   ${goal}${ok ? '' : '   MISSED'}`);
  const incRatio = (m.inc - m.launcher) / (m.full - m.launcher);
  const sizeRatios = sizes.inc.map((s, i) => s / sizes.alone[i]!);
  const sizeRatiosNoRenames = sizes.inc.map((s, i) => s / sizes.aloneNoRenames[i]!);
  const chainRatio = m.restoreChain / m.restoreFull;
  console.log(`\nmedia tree: ${info.files} files, ${mib(info.bytes)}; ${changePct}% changed per day; ${rounds} rounds, medians (incrementals: ${t.inc.length} samples)`);
  console.log(`launcher ${fmt(m.launcher)}; full ${fmt(m.full)} (${median(cpu.full).toFixed(1)} s CPU); incremental ${fmt(m.inc)} (${median(cpu.inc).toFixed(1)} s CPU)`);
  console.log(`restore: chain of ${DAYS + 1} ${fmt(m.restoreChain)}, one full ${fmt(m.restoreFull)}`);
  console.log(`full ${mib(sizes.full)}; incrementals ${sizes.inc.map(mib).join(', ')}`);
  console.log(`changed files alone, compressed: ${sizes.alone.map(mib).join(', ')} (bytes changed: ${sizes.changedBytes.map(mib).join(', ')})`);
  console.log(`  without the renamed files: ${sizes.aloneNoRenames.map(mib).join(', ')}\n`);
  line('incremental / full, past the launcher', `${(100 * incRatio).toFixed(1)}%`, 'target ≤ 10%', incRatio <= 0.1);
  line('incremental / changed files compressed alone (worst day)', `${Math.max(...sizeRatios).toFixed(2)}x`, 'target ≤ 1.2x', Math.max(...sizeRatios) <= 1.2);
  line('  same, renamed files not counted as changed (worst day)', `${Math.max(...sizeRatiosNoRenames).toFixed(2)}x`, '(for information)', true);
  line(`restore of a chain of ${DAYS + 1} / restore of one full`, `${chainRatio.toFixed(2)}x`, 'target ≤ 1.5x', chainRatio <= 1.5);
  line('Node peak RSS', `${peak.toFixed(0)} MiB`, 'target ≤ 160 MiB', peak <= 160);
}

await main();
