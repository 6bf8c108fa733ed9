// Start-up cost of the scripts (not part of npm test):
//   npm run bench:startup -- [--rounds 9] [--node /path/to/node/bin] [--loader <module>]
// Times, alternating in one run: the launcher alone (`npx zx --version`: npx, node, zx), then
// `list-backups` on a tree of 10 backups and `backup-media` of an empty folder, each the real
// `npx zx scripts/<op>.ts` against the local PostgreSQL. Prints each script's median and how much
// longer than the launcher it took (the target: at most 0.3 s). With --node, the folder of another
// node binary goes first on PATH (e.g. a Node 24 from `npm i node@24` in a folder of its own), so
// the same run can compare Node versions: Node 22.18+/24 strip the types themselves, Node 20 gets
// the project's strip hook (lib/loader). With --loader, every command (the launcher's too) imports
// that module instead of the project's loader, to compare loaders on Node 20: e.g. `--loader tsx/esm`
// after `npm i --no-save tsx`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, median, must, PG, time } from './common.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench/out/startup');

function option(name: string): string | null {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? null) : null;
}

/** A tree of 10 small, real backups (5 dumps, 5 archives) made by hand, as list-backups reads them. */
function makeTree(dir: string): void {
  const empty = path.join(OUT, 'empty');
  fs.mkdirSync(empty, { recursive: true });
  for (const kind of ['postgres', 'media']) fs.mkdirSync(path.join(dir, kind), { recursive: true });
  for (let d = 1; d <= 5; d++) {
    const stamp = `2026_11_0${d}T02_00_00`;
    execFileSync('sh', ['-c', `printf -- '-- PostgreSQL database dump\\n' | zstd -q > ${dir}/postgres/backup_${stamp}.sql.zst`]);
    execFileSync('sh', ['-c', `tar -cf - -C ${empty} . | zstd -q > ${dir}/media/media_backup_${stamp}.tar.zst`]);
  }
}

async function main(): Promise<void> {
  const rounds = Number(option('rounds') ?? 9);
  const nodeBin = option('node');
  const loader = option('loader');
  fs.rmSync(OUT, { recursive: true, force: true });
  const tree = path.join(OUT, 'tree10');
  makeTree(tree);
  const mediaEmpty = path.join(OUT, 'media-empty');
  fs.mkdirSync(mediaEmpty, { recursive: true });
  const PATH = nodeBin ? `${nodeBin}:${process.env.PATH}` : process.env.PATH;
  const env: NodeJS.ProcessEnv = { ...PG, PATH, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' };
  // npm reads its config from the environment before .npmrc: this replaces the project's node-options.
  if (loader) env.npm_config_node_options = `--import ${loader}`;
  const version = execFileSync('node', ['--version'], { env, encoding: 'utf8' }).trim();
  const t = { launcher: [] as number[], list: [] as number[], media: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    t.launcher.push(must(await time(['npx', 'zx', '--version'], env, ROOT), 'npx zx --version').ms);
    t.list.push(must(await time(['npx', 'zx', 'scripts/list-backups.ts'], { ...env, BACKUP_DIR: tree }, ROOT), 'list-backups').ms);
    const backups = path.join(OUT, `backups-${r}`);
    t.media.push(must(await time(['npx', 'zx', 'scripts/backup-media.ts'], { ...env, BACKUP_DIR: backups, MEDIA_DIR: mediaEmpty }, ROOT), 'backup-media').ms);
    fs.rmSync(backups, { recursive: true, force: true });
  }
  const m = { launcher: median(t.launcher), list: median(t.list), media: median(t.media) };
  console.log(`node ${version}${loader ? `, --import ${loader}` : ''}; ${rounds} rounds, alternating, medians`);
  console.log(`npx zx --version                  ${fmt(m.launcher)}`);
  console.log(`list-backups (10 backups)         ${fmt(m.list)}   +${((m.list - m.launcher) / 1000).toFixed(2)} s over the launcher   (target <= +0.30 s)`);
  console.log(`backup-media (empty folder)       ${fmt(m.media)}   +${((m.media - m.launcher) / 1000).toFixed(2)} s over the launcher   (target <= +0.30 s)`);
}

await main();
