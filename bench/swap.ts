// Benchmark of the media swap alone (not part of npm test):
//   npm run bench:swap -- [--entries 5000] [--rounds 5]
// A media folder of N top-level entries (files and folders) and a staging folder of N others, as
// restore-media leaves them just before its swap; times the swap (the media script's `commit`:
// journal, every old entry aside, every new one up) and the removal of the old entries after it
// (`settle`), against a bare `mv -t` of the same entries by hand, and the one-`mv`-per-entry loop
// the swap used to be.
// Prints medians (the target: well under a second for 5,000 entries).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MEDIA_SCRIPT } from '../lib/media/swap.ts';
import { arg, fmt, median } from './common.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench/out/swap');
const entries = arg('entries', 5000);
const rounds = arg('rounds', 5);

function prepare(): { media: string; staging: string } {
  fs.rmSync(OUT, { recursive: true, force: true });
  const media = path.join(OUT, 'media');
  const staging = path.join(media, '.compose-backup-staging-bench-1');
  fs.mkdirSync(staging, { recursive: true, mode: 0o700 });
  for (let i = 0; i < entries; i++) {
    for (const [dir, tag] of [[media, 'old'], [staging, 'new']] as const) {
      if (i % 10 === 0) fs.mkdirSync(path.join(dir, `${tag}-dir-${i}`));
      else fs.writeFileSync(path.join(dir, `${tag}-${i}.jpg`), tag);
    }
  }
  execFileSync('sync');
  return { media, staging };
}

function timed(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const t = { swap: [] as number[], settle: [] as number[], byHand: [] as number[], perEntry: [] as number[] };
const action = (media: string, ...words: string[]) => {
  const res = spawnSync('sh', ['-c', MEDIA_SCRIPT, 'sh', ...words.slice(0, 1), media, ...words.slice(1)], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`${words[0]} failed: ${res.stderr}`);
};
for (let r = 0; r < rounds; r++) {
  let { media } = prepare();
  t.swap.push(timed(() => action(media, 'commit', 'bench-1', '1.-.-')));
  t.settle.push(timed(() => action(media, 'settle', 'bench-1')));
  ({ media } = prepare());
  const aside = path.join(OUT, 'aside');
  fs.mkdirSync(aside);
  t.byHand.push(timed(() => execFileSync('sh', ['-c', 'cd "$1" && find . -mindepth 1 -maxdepth 1 ! -name ".compose-backup-*" -exec mv -t "$2" -- {} +', 'sh', media, aside])));
  if (r < 2) {
    ({ media } = prepare());
    fs.mkdirSync(aside);
    t.perEntry.push(timed(() => execFileSync('sh', ['-c', 'for f in "$1"/*; do mv -- "$f" "$2/"; done', 'sh', media, aside])));
  }
}
console.log(`media swap of ${entries} entries each way; ${rounds} rounds, medians`);
console.log(`swap (journal, out, in)            ${fmt(median(t.swap))}   (target: well under 1 s)`);
console.log(`then removing the old entries      ${fmt(median(t.settle))}   (after the swap, outside it)`);
console.log(`mv -t of the old entries by hand   ${fmt(median(t.byHand))}   (one direction only)`);
console.log(`one mv per entry (the old swap)    ${fmt(median(t.perEntry))}   (one direction only)`);
