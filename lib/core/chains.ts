// Incremental media chains: a full archive (level 0), then incrementals that each build on the
// archive of the level below, made just before it (GNU tar's --listed-incremental). Pure: which
// archive an incremental needs, the whole chain a restore point needs, and whether the next media
// backup is a full or an incremental, each with its reason. The names say it all: levels only
// grow within a chain and a new full starts a new one, so an incremental's parent is the newest
// older archive of its environment one level below (its manifest confirms it by name and sha256).
import { plural } from './format.ts';
import type { BackupName } from './naming.ts';
import { makeBackupName, newestFirst, parseBackupName } from './naming.ts';
import { withinCutoff } from './retention.ts';

export type ChainItem = Pick<BackupName, 'name' | 'kind' | 'role' | 'env' | 'level' | 'time' | 'seq'>;

/** The settings that decide when a new full starts a chain (config media.incremental). */
export interface ChainPolicy {
  fullEvery: string;
  maxChain: number;
  maxChainRatio: number;
}

function sameLine(a: ChainItem, b: ChainItem): boolean {
  return a.kind === 'media' && b.kind === 'media' && a.role === 'backup' && b.role === 'backup' && a.env === b.env;
}

/** Pure: the archive an incremental builds on, or null (a full, or its parent is gone). */
export function parentOf<T extends ChainItem>(item: T, all: readonly T[]): T | null {
  if (item.kind !== 'media' || item.role !== 'backup' || item.level === 0) return null;
  const older = all.filter((o) => o !== item && sameLine(o, item) && newestFirst(o, item) > 0);
  older.sort((a, b) => newestFirst(a, b));
  const candidate = older[0];
  return candidate && candidate.level === item.level - 1 ? candidate : null;
}

export interface Chain<T> {
  /** Full first, then every incremental up to and including the point; partial when broken. */
  links: T[];
  /** Why the point cannot be restored from what is there (the missing link), else null. */
  broken: string | null;
}

/** Pure: everything a restore point needs, oldest first. */
export function chainOf<T extends ChainItem>(point: T, all: readonly T[]): Chain<T> {
  const links: T[] = [point];
  let cur = point;
  while (cur.level > 0) {
    const parent = parentOf(cur, all);
    if (!parent) {
      return { links: links.reverse(), broken: `${cur.name} builds on a level-${cur.level - 1} archive that is not there` };
    }
    links.push(parent);
    cur = parent;
  }
  return { links: links.reverse(), broken: null };
}

/**
 * Pure: the chain of `point` among a folder's (or a host's listing's) file names: the point alone
 * for a full, else every archive it needs found by name, the point counted even when not listed.
 */
export function chainByNames(point: BackupName, names: readonly string[]): Chain<BackupName> {
  if (point.kind !== 'media' || point.level === 0) return { links: [point], broken: null };
  const all = names.map((n) => parseBackupName(n)).filter((b): b is BackupName => b !== null && b.kind === 'media');
  const self = all.find((b) => b.name === point.name) ?? point;
  return chainOf(self, all.includes(self) ? all : [...all, self]);
}

export type NextMedia =
  | { level: 0; incremental: boolean; reason: string | null }
  | { level: number; incremental: true; parent: string; reason: string };

export interface NextMediaInput<T extends ChainItem & { size: number }> {
  policy: ChainPolicy | null;
  /** `backup-media --full`. */
  forceFull: boolean;
  now: Date;
  /** This environment's own media backups (any order). */
  backups: readonly T[];
}

/** Pure: whether the next media backup is a full or an incremental, and why. */
export function planNextMedia<T extends ChainItem & { size: number }>(input: NextMediaInput<T>): NextMedia {
  const { policy } = input;
  if (!policy) return { level: 0, incremental: false, reason: null };
  const full = (reason: string): NextMedia => ({ level: 0, incremental: true, reason });
  if (input.forceFull) return full('a full backup was asked for (--full)');
  const own = input.backups.filter((b) => b.kind === 'media' && b.role === 'backup' && b.env === null);
  const newest = [...own].sort((a, b) => newestFirst(a, b))[0];
  if (!newest) return full('no earlier media backup to build on');
  const chain = chainOf(newest, own);
  if (chain.broken) return full(`the newest chain is broken (${chain.broken})`);
  const head = chain.links[0]!;
  if (head.time.getTime() <= withinCutoff(policy.fullEvery, input.now)) {
    return full(`the chain's full, ${head.name}, is older than fullEvery (${policy.fullEvery})`);
  }
  if (newest.level >= policy.maxChain) return full(`the chain has ${plural(newest.level, 'incremental')} (maxChain ${policy.maxChain})`);
  const added = chain.links.slice(1).reduce((n, l) => n + l.size, 0);
  if (head.size > 0 && added >= policy.maxChainRatio * head.size) {
    return full(`the chain's incrementals add up to ${Math.round((100 * added) / head.size)}% of its full (maxChainRatio ${policy.maxChainRatio})`);
  }
  return { level: newest.level + 1, incremental: true, parent: newest.name, reason: `level ${newest.level + 1} on top of ${newest.name}` };
}

/** What a link's manifest says of its place in the chain (lib/store/manifest's media part). */
export interface LinkRecord {
  name: string;
  manifest: { media?: { level?: number; parent?: { name: string; sha256: string } | null } } | null;
}

/**
 * Pure: why `link` cannot follow `parent` in a restore (null: the first link), else null. The
 * parent must be the very archive the link was made on: same name, same sha256 as just read.
 */
export function linkProblem(link: LinkRecord, parent: { name: string; sha256: string } | null): string | null {
  const media = link.manifest?.media;
  if (!parent) {
    if (media?.level) return `${link.name} is a level-${media.level} incremental, not a full archive to start from`;
    return null;
  }
  if (!media) return `${link.name} has no manifest, so nothing says which archive it builds on`;
  const p = media.parent;
  if (!p) return `${link.name}'s manifest names no archive it builds on`;
  if (originalName(p.name) !== originalName(parent.name)) return `${link.name} builds on ${p.name}, not on ${parent.name}`;
  if (p.sha256 !== parent.sha256) return `${link.name} builds on a different ${parent.name} (sha256 ${p.sha256.slice(0, 12)}…, the file there is ${parent.sha256.slice(0, 12)}…)`;
  return null;
}

/**
 * Pure: a backup's name as the environment that made it wrote it: a downloaded copy
 * (`production_media_backup_…`) keeps its original's manifest, which names its parent unprefixed.
 */
export function originalName(name: string): string {
  const p = parseBackupName(name);
  return p?.env ? makeBackupName({ ...p, env: null }) : name;
}
