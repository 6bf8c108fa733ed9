// The offsite operations' shared wiring: which targets a command means, each opened under its own
// lock (a push and a prune of one target never run side by side on this machine), and the one-line
// summaries that push-offsite, the scheduled run's log and its ping share.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, FailedError, UsageError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { Config } from '../config/load.ts';
import type { OffsiteTarget, Settings } from '../config/resolve.ts';
import { humanBytes, plural } from '../core/format.ts';
import { chainOf } from '../core/chains.ts';
import { withEnvPrefix, type BackupName } from '../core/naming.ts';
import { collectCopies, type RemoteCopy } from '../core/offsite-names.ts';
import { checkIdentityFile } from '../offsite/age.ts';
import { fetchCopy, type Fetched } from '../offsite/fetch.ts';
import type { PushOutcome } from '../offsite/push.ts';
import { readReceipts } from '../offsite/receipts.ts';
import { openStore, type OffsiteStore } from '../offsite/store.ts';
import type { DrillPart, DrillResult } from '../core/verdicts.ts';
import { openConnection } from '../db/pg.ts';
import type { BackupFile } from '../store/catalog.ts';
import { acquireLock } from '../store/lock.ts';
import { runDrill } from './drill.ts';
import { backupFileAt } from './verify.ts';

/** The targets a command works on: the one named, or (for a push without --to) all of them. */
export function selectTargets(settings: Pick<Settings, 'offsite' | 'envName'>, name: string | undefined, flag: string): OffsiteTarget[] {
  const names = Object.keys(settings.offsite);
  if (!names.length) {
    throw new UsageError(`environment "${settings.envName}" has no offsite targets; add an offsite: section to its config (README: "Offsite copies")`);
  }
  if (name === undefined) return names.map((n) => settings.offsite[n]!());
  const target = settings.offsite[name];
  if (!target) throw new UsageError(`${flag} ${name}: no such offsite target in environment "${settings.envName}"; it has: ${names.join(', ')}`);
  return [target()];
}

/** The one target a command needs (`--offsite NAME`, `--from NAME`). */
export function oneTarget(settings: Pick<Settings, 'offsite' | 'envName'>, name: unknown, flag: string): OffsiteTarget {
  if (typeof name !== 'string' || name === '') throw new UsageError(`${flag} needs the name of an offsite target`);
  return selectTargets(settings, name, flag)[0]!;
}

/** Open a target under its lock (exit 75 when another run on this machine holds it). */
export async function withTarget<T>(settings: Pick<Settings, 'backupDir' | 'envName'>, target: OffsiteTarget, fn: (store: OffsiteStore) => Promise<T>): Promise<T> {
  const lock = await acquireLock(path.join(settings.backupDir, `.offsite-${target.name}.lock`), { env: settings.envName, target: target.name });
  try {
    return await fn(await openStore(target, settings.envName));
  } finally {
    await lock.release();
  }
}

/** Pure: "pushed 2 copies (212 MiB): backup_….sql.zst, media_backup_….tar.zst; 12 already there; removed 1 old copy". */
export function pushSummary(o: PushOutcome): string {
  const bytes = o.pushed.reduce((n, c) => n + c.size, 0);
  const there = o.decisions.filter((d) => d.action === 'there').length;
  const skipped = o.decisions.filter((d) => d.action === 'skip').length;
  const parts = [o.pushed.length ? `pushed ${plural(o.pushed.length, 'copy', 'copies')} (${humanBytes(bytes)}): ${o.pushed.map((c) => c.name).join(', ')}` : 'nothing to push'];
  if (there) parts.push(`${there} already there`);
  if (skipped) parts.push(`${skipped} not pushed (outside the target's retention or failed their checks)`);
  const removed = o.pruned?.removed.length ?? 0;
  if (removed) parts.push(`removed ${plural(removed, 'old copy', 'old copies')}`);
  if (o.swept.length) parts.push(`swept ${plural(o.swept.length, 'leftover')} of interrupted pushes`);
  return parts.join('; ');
}

/** The copy of a backup at a target, or a usage error saying how to look. */
export function findCopy(copies: readonly RemoteCopy[], name: Pick<BackupName, 'name' | 'kind'>, store: Pick<OffsiteStore, 'target' | 'where'>): RemoteCopy {
  const copy = copies.find((c) => c.name === name.name && c.kind === name.kind);
  if (!copy) throw new UsageError(`no copy of ${name.name} at ${store.target.name} (${store.where}); run list-backups --offsite ${store.target.name} to see the names`);
  return copy;
}

/** The identity, when the target's copies are encrypted (checked before anything connects). */
export function identityFor(target: OffsiteTarget, identity: string | undefined, what: string): string | null {
  return target.encryption === 'age' ? checkIdentityFile(identity, what) : null;
}

/**
 * The copies a restore of `point` needs, full first: the point alone, or its incremental chain as
 * it is at the target; a chain with a link missing there is refused, naming it.
 */
export function chainToFetch(point: RemoteCopy, copies: readonly RemoteCopy[], where: string): RemoteCopy[] {
  const chain = chainOf(point, copies);
  if (chain.broken) throw new FailedError(`${point.name} cannot be restored from ${where}: its chain is broken there (${chain.broken}); choose an earlier point (list-backups --offsite shows what is there)`);
  return chain.links;
}

/**
 * download-backup --from: a copy into this machine's tree. The environment's own tree when it
 * lives here (the same name, as if never gone); the local tree with the environment's prefix
 * when the environment is another host's (`production_backup_…`), like a download from it.
 * Returns every file fetched, the one asked for last.
 */
export async function fetchFromTarget(settings: Settings, config: Config, name: BackupName, opts: { from: unknown; identity: string | undefined }): Promise<Fetched[]> {
  const target = oneTarget(settings, opts.from, '--from');
  const identity = identityFor(target, opts.identity, `fetching from ${target.name}`);
  const here = settings.ssh === null;
  const store = await openStore(target, settings.envName);
  const { copies } = collectCopies(await store.list());
  const copy = findCopy(copies, name, store);
  const receipts = here ? await readReceipts(settings.backupDir, target.name) : null;
  // An incremental comes with the archives it builds on (those already here are kept as they are).
  const fetched: Fetched[] = [];
  for (const link of chainToFetch(copy, copies, `${target.name} (${store.where})`)) {
    fetched.push(
      await fetchCopy({
        store,
        copy: link,
        identity,
        backupDir: here ? settings.backupDir : config.localBackupDir(),
        name: here ? link.name : withEnvPrefix(link, settings.envName),
        receipt: receipts?.byName.get(link.name),
      }),
    );
  }
  return fetched;
}

/** Pure: which copies a deep check covers: the one named, every one (--all), or the newest complete copy of each kind. */
export function selectDeep(copies: readonly RemoteCopy[], opts: { name: string | null; all: boolean }): RemoteCopy[] {
  if (opts.name !== null) return copies.filter((c) => c.name === opts.name);
  if (opts.all) return [...copies];
  const complete = copies.filter((c) => c.hasChecksum && c.hasManifest);
  return (['database', 'media'] as const).flatMap((kind) => complete.filter((c) => c.kind === kind).slice(0, 1));
}

/**
 * The restore drill from a target: the copies fetched (decrypted, checked) into a scratch backup
 * tree under TMPDIR, drilled there like local backups (lib/ops/drill), and the tree removed. An
 * incremental is fetched with every archive of its chain (found among `all`, the target's
 * copies), so the drill restores it as restore-media would; a chain with a gap there fails.
 */
export async function drillFromTarget(settings: Settings, store: OffsiteStore, copies: RemoteCopy[], identity: string | null, all: readonly RemoteCopy[] = copies): Promise<DrillResult> {
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'compose-backup-offsite-drill-'));
  try {
    const files: BackupFile[] = [];
    const broken: DrillPart[] = [];
    const fetched = new Map<string, string>();
    for (const copy of copies) {
      let links: RemoteCopy[];
      try {
        links = chainToFetch(copy, all.includes(copy) ? all : [...all, copy], `${store.target.name} (${store.where})`);
      } catch (err) {
        broken.push({ kind: copy.kind, name: copy.name, path: copy.key, ok: false, checks: [], problems: [errorMessage(err)] });
        continue;
      }
      for (const link of links) {
        if (fetched.has(link.name)) continue;
        if (link !== copy) log.info(`fetching ${link.name}, which ${copy.name} builds on`);
        fetched.set(link.name, (await fetchCopy({ store, copy: link, identity, backupDir: scratch, name: link.name })).path);
      }
      files.push(await backupFileAt(fetched.get(copy.name)!));
    }
    const drilled = await runDrill(openConnection(settings.database), files);
    const parts = [...broken, ...drilled.parts];
    return { ok: parts.every((p) => p.ok), parts };
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}
