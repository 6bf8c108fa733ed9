// Benchmark of backup-media and restore-media (not part of npm test):
//   npm run bench:media -- [--size-mb 300] [--rounds 3]
// Generates (once, deterministically, into bench/out/media-tree-<size>) a media tree shaped like
// real uploads: mostly incompressible images of 50 KB–5 MB with their thumbnails, some
// compressible documents, a few thousand files in dated folders. Then times, alternating in one
// run: backup-media with defaults, the seed's `tar -czf`, the hand pipeline `tar -cf - | zstd -T0`;
// restore-media into an empty media folder and over existing media (safety snapshot + swap),
// against `zstd -dc | tar -x`. Prints medians, ratios and the Node process's peak RSS.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, fmt, keystream, median, must, prng, time } from './common.ts';

/** Deterministic incompressible bytes for file `id` (the key keeps the cached trees as they were). */
const noise = (n: number, id: string | number): Buffer => keystream(n, `media-bench-${id}`);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sizeMb = arg('size-mb', 300);
const rounds = arg('rounds', 3);
// The name carries the generator's version: a changed generator makes a new tree.
const TREE = path.join(ROOT, `bench/out/media-tree-v2-${sizeMb}`);
const OUT = path.join(ROOT, 'bench/out/media');


const WORDS = Array.from({ length: 3000 }, (_, i) => crypto.createHash('md5').update(String(i)).digest('hex').slice(0, 3 + (i % 8)));

/** Prose-like text (compresses about 3x), as documents, CSVs and HTML exports do. */
function prose(n: number, rand: () => number): Buffer {
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = WORDS[Math.floor(rand() ** 3 * WORDS.length)]!;
    parts.push(w);
    len += w.length + 1;
    if (rand() < 0.08) {
      parts.push('.\n');
      len += 2;
    }
  }
  return Buffer.from(parts.join(' ')).subarray(0, n);
}

function generate(): void {
  const marker = path.join(TREE, '.generated');
  if (fs.existsSync(marker)) return;
  console.error(`generating a ${sizeMb} MB media tree in ${TREE} (once)…`);
  fs.rmSync(TREE, { recursive: true, force: true });
  const media = path.join(TREE, 'media');
  const rand = prng(20240115);
  const target = sizeMb * 1024 * 1024;
  let total = 0;
  let files = 0;
  let id = 0;
  const write = (rel: string, data: Buffer) => {
    const p = path.join(media, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    const t = new Date(Date.UTC(2019, 0, 1) + rand() * 6 * 365 * 86400_000);
    fs.utimesSync(p, t, t);
    total += data.length;
    files++;
  };
  while (total < target) {
    const y = 2019 + Math.floor(rand() * 6);
    const day = `${y}/${String(1 + Math.floor(rand() * 12)).padStart(2, '0')}/${String(1 + Math.floor(rand() * 28)).padStart(2, '0')}`;
    id++;
    if (rand() < 0.6) {
      // Image sizes skew small (50 KB … 5 MB, most under 500 KB), with three thumbnails each.
      const size = Math.round(50 * 1024 * 100 ** (rand() ** 4));
      const ext = rand() < 0.8 ? 'jpg' : 'png';
      write(`uploads/${day}/IMG_${id}.${ext}`, noise(size, id));
      write(`thumbs/${day}/IMG_${id}.150x150.${ext}`, noise(3 * 1024 + Math.floor(rand() * 6 * 1024), id + 1e7));
      write(`thumbs/${day}/IMG_${id}.400x400.${ext}`, noise(10 * 1024 + Math.floor(rand() * 20 * 1024), id + 2e7));
      write(`thumbs/${day}/IMG_${id}.800x800.${ext}`, noise(30 * 1024 + Math.floor(rand() * 90 * 1024), id + 3e7));
    } else {
      const size = 5 * 1024 + Math.floor(rand() ** 2 * 300 * 1024);
      const ext = ['pdf', 'docx', 'csv', 'html', 'txt'][Math.floor(rand() * 5)]!;
      write(`documents/user_${Math.floor(rand() * 200)}/report ${id}.${ext}`, prose(size, rand));
    }
  }
  for (let i = 0; i < 20; i++) fs.mkdirSync(path.join(media, `uploads/tmp/empty-${i}`), { recursive: true });
  fs.writeFileSync(marker, JSON.stringify({ files, bytes: total }) + '\n');
  console.error(`generated ${files} files, ${(total / 1048576).toFixed(0)} MiB`);
}

const sh = (script: string) => ['sh', '-c', script];

async function main(): Promise<void> {
  generate();
  const media = path.join(TREE, 'media');
  const info = JSON.parse(fs.readFileSync(path.join(TREE, '.generated'), 'utf8')) as { files: number; bytes: number };
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  const bk = path.join(OUT, 'backups');
  const env = { ...process.env, MEDIA_DIR: media, BACKUP_DIR: bk };
  const seedOut = path.join(OUT, 'seed.tar.gz');
  const handOut = path.join(OUT, 'hand.tar.zst');
  const t = { floor: [] as number[], tool: [] as number[], seed: [] as number[], hand: [] as number[], restoreEmpty: [] as number[], restoreFull: [] as number[], handRestore: [] as number[] };
  let peak = 0;
  let toolFile = '';
  const clearBackups = () => fs.rmSync(bk, { recursive: true, force: true });
  const warm = () => {
    // Every contender reads the same tree from the page cache; warm it once. (Through cat:
    // GNU tar writing to /dev/null itself skips reading file contents.)
    execFileSync('sh', ['-c', `tar -cf - -C '${media}' . | cat > /dev/null`]);
  };
  warm();
  for (let r = 0; r < rounds; r++) {
    clearBackups();
    // The launcher's fixed cost: npx, node, the project's loader, zx and the script, no work.
    t.floor.push(must(await time(['npx', 'zx', 'scripts/backup-media.ts', '--help'], env, ROOT), 'backup-media --help').ms);
    const a = must(await time(['npx', 'zx', 'scripts/backup-media.ts'], env, ROOT), 'backup-media');
    t.tool.push(a.ms);
    peak = Math.max(peak, a.nodePeakMiB);
    toolFile = fs.readdirSync(path.join(bk, 'media')).find((n) => n.endsWith('.tar.zst'))!;
    t.seed.push(must(await time(sh(`tar -czf '${seedOut}' -C '${media}' .`)), 'tar -czf').ms);
    t.hand.push(must(await time(sh(`tar -cf - -C '${media}' . | zstd -q -T0 > '${handOut}'`)), 'hand pipeline').ms);
    console.error(`backup round ${r + 1}: backup-media ${fmt(a.ms)} (node ${a.nodePeakMiB.toFixed(0)} MiB), tar -czf ${fmt(t.seed.at(-1)!)}, tar|zstd ${fmt(t.hand.at(-1)!)}`);
  }
  const archive = path.join(bk, 'media', toolFile);
  const sizes = { tool: fs.statSync(archive).size, seed: fs.statSync(seedOut).size, hand: fs.statSync(handOut).size };

  const target = path.join(OUT, 'restored');
  const handTarget = path.join(OUT, 'hand-restored');
  const restoreEnv = { ...env, MEDIA_DIR: target };
  const snapshots = () => fs.readdirSync(path.join(bk, 'media')).filter((n) => n.startsWith('temp_before_restore_'));
  for (let r = 0; r < rounds; r++) {
    fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(target);
    const e = must(await time(['npx', 'zx', 'scripts/restore-media.ts', toolFile, '--yes'], restoreEnv, ROOT), 'restore-media (empty)');
    t.restoreEmpty.push(e.ms);
    peak = Math.max(peak, e.nodePeakMiB);
    // Over existing media: the folder now holds the whole tree, so a safety snapshot is taken first.
    const f = must(await time(['npx', 'zx', 'scripts/restore-media.ts', toolFile, '--yes'], restoreEnv, ROOT), 'restore-media (existing)');
    t.restoreFull.push(f.ms);
    peak = Math.max(peak, f.nodePeakMiB);
    for (const s of snapshots()) fs.rmSync(path.join(bk, 'media', s));
    fs.rmSync(handTarget, { recursive: true, force: true });
    fs.mkdirSync(handTarget);
    t.handRestore.push(must(await time(sh(`zstd -dc '${handOut}' | tar -x -C '${handTarget}'`)), 'zstd -dc | tar -x').ms);
    console.error(`restore round ${r + 1}: into empty ${fmt(e.ms)}, over existing ${fmt(f.ms)} (node ${Math.max(e.nodePeakMiB, f.nodePeakMiB).toFixed(0)} MiB), zstd -dc|tar -x ${fmt(t.handRestore.at(-1)!)}`);
  }
  // The restored tree must be the tree.
  execFileSync('diff', ['-r', '--no-dereference', media, target]);

  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
  const line = (label: string, value: string, goal: string, ok: boolean) => console.log(`${label.padEnd(44)} ${value.padStart(10)}   ${goal}${ok ? '' : '   MISSED'}`);
  console.log(`\nmedia tree: ${info.files} files, ${(info.bytes / 1048576).toFixed(0)} MiB; ${rounds} rounds, medians`);
  console.log(`archives: backup-media ${(sizes.tool / 1048576).toFixed(0)} MiB, tar -czf ${(sizes.seed / 1048576).toFixed(0)} MiB, tar|zstd ${(sizes.hand / 1048576).toFixed(0)} MiB`);
  console.log(`backup-media ${fmt(m.tool)}   tar -czf ${fmt(m.seed)}   tar|zstd -T0 ${fmt(m.hand)}`);
  console.log(`restore-media: into empty ${fmt(m.restoreEmpty)}, over existing ${fmt(m.restoreFull)}   zstd -dc|tar -x ${fmt(m.handRestore)}\n`);
  line('speed-up over the seed (tar -czf / backup-media)', `${(m.seed / m.tool).toFixed(2)}x`, 'goal ≥ 8x', m.seed / m.tool >= 8);
  line('backup-media / hand pipeline', `${(m.tool / m.hand).toFixed(2)}x`, 'goal ≤ 1.25x', m.tool / m.hand <= 1.25);
  line('restore-media (empty) / zstd -dc|tar -x', `${(m.restoreEmpty / m.handRestore).toFixed(2)}x`, 'goal ≤ 1.5x', m.restoreEmpty / m.handRestore <= 1.5);
  line('restore-media (existing, with snapshot) / same', `${(m.restoreFull / m.handRestore).toFixed(2)}x`, '(for information)', true);
  line('Node peak RSS', `${peak.toFixed(0)} MiB`, 'goal ≤ 160 MiB', peak <= 160);
  // For information: the same ratios without the launcher's fixed cost (what grows with the data).
  line('start-up floor (npx zx scripts/backup-media.ts --help)', fmt(m.floor), '(for information)', true);
  line('without the floor: backup-media / hand', `${((m.tool - m.floor) / m.hand).toFixed(2)}x`, '(for information)', true);
  line('without the floor: restore-media (empty) / hand', `${((m.restoreEmpty - m.floor) / m.handRestore).toFixed(2)}x`, '(for information)', true);
}

await main();
