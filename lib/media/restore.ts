// restore-media's half: never leave the media folder half-replaced, and restore exactly what was
// checked. The archive is opened once (lib/store/source) and read whole before anything changes:
// its checksum against its manifest and a full listing with the safety rules, from the same read.
// A point of an incremental chain is the full and every incremental up to it (lib/core/chains):
// each is opened and checked the same way, and each must be the very archive the next one's
// manifest says it builds on (name and sha256), before anything changes; they are then unpacked
// in order into the one staging folder, deletions and renames applied, before the one swap.
// The folder must have room for what the archive holds. Then it is unpacked, from that same open
// file, into a staging folder inside the media folder (same filesystem, and it works when the media
// folder is a mount point such as a Docker volume), beside a safety snapshot of the current media;
// the bytes unpacked must be the bytes checked; and only then is the staging folder swapped in,
// by the journaled swap of lib/media/swap, which a signal cannot cut and a killed run's successor
// completes or rolls back (lib/media/repair).
import { errorMessage, FailedError, NoSpaceError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import { startProgress } from '../cli/progress.ts';
import type { MediaTarget, Settings } from '../config/resolve.ts';
import { decompressArgv } from '../core/codec.ts';
import { plural } from '../core/format.ts';
import { linkProblem } from '../core/chains.ts';
import type { Codec } from '../core/naming.ts';
import { judgeRoom } from '../core/room.ts';
import { judgeManifest } from '../core/verdicts.ts';
import { crashPoint } from '../proc/fault.ts';
import { formatRunId, thisRun } from '../proc/pid.ts';
import { runPipeline } from '../proc/pipeline.ts';
import { runCritical } from '../proc/signals.ts';
import type { Manifest } from '../store/manifest.ts';
import type { BackupSource } from '../store/source.ts';
import type { WrittenBackup } from '../store/writer.ts';
import { backupMedia } from './backup.ts';
import { checkArchive } from './check.ts';
import { sumChecks, type ArchiveCheck, type CheckTotals } from './listing.ts';
import { busyRefusal, lookAndRepairMedia } from './repair.ts';
import { actionError, runAction, scriptArgv } from './swap.ts';
import { EXTRACT_FLAGS, type Via } from './tar.ts';

/** One archive of what is restored: a full, or a link of an incremental chain. */
export interface MediaLink {
  /** The backup, opened once: checked, then restored from this very file. */
  src: BackupSource;
  name: string;
  codec: Codec;
  /** The file's manifest (null for backups made without one); the read is compared with it. */
  manifest: Manifest | null;
}

export interface MediaRestoreOptions {
  settings: Settings;
  /** The full first, then each incremental up to the point restored (one archive: a full). */
  links: MediaLink[];
  /** Stamp and sequence number of the safety snapshot. */
  stamp: string;
  seq: number;
  /** Asked once the archive passed its checks and before anything changes; throws to decline. */
  confirm: () => Promise<void>;
}

export interface MediaRestoreResult {
  mediaPath: string;
  safetySnapshot: string | null;
  /** The point restored (the last link's) listing check. */
  check: ArchiveCheck;
  /** Every link's, in order. */
  checks: ArchiveCheck[];
  /** The links' counts added up: what was unpacked. */
  total: CheckTotals;
}

/** Space a file takes beyond its bytes, at most (a filesystem block); folders and links take one too. */
const PER_ENTRY_BYTES = 4096;

/** Compose mode restores in a one-off container, so it works with the app stopped. */
const VIA: Via = 'run';

/**
 * Read the whole archive once and refuse it before anything changes; returns what the read saw.
 * `point`: the restore point when this archive is a link below it in its chain, so the refusal
 * names the point asked for and the link that failed.
 */
export async function checkForRestore(src: BackupSource, name: string, codec: Codec, manifest: Manifest | null, point = name): Promise<ArchiveCheck> {
  const link = point === name ? null : `${name}, which it builds on,`;
  const refuse = (why: string) => new FailedError(`refusing to restore ${point}, nothing was changed: ${link ? `${link} ` : ''}${why}`);
  const check = await checkArchive(src.read(), codec, { progressLabel: 'checking the archive' });
  // An altered file is named as such before its content.
  if (manifest && check.read) {
    const { problems } = judgeManifest({ kind: 'media', codec, size: check.read.size, sha256: check.read.sha256 }, manifest);
    if (problems.length) throw refuse(link ? `fails its check: ${problems.join('; ')}` : problems.join('; '));
  }
  if (link) {
    if (check.unsafe) throw refuse(`fails the safety rules: ${check.unsafe}`);
    if (check.failure || !check.read) throw refuse(`is damaged or truncated (${check.failure ?? 'the read stopped early'})`);
    if (check.entries === 0) throw refuse('holds no entries');
  }
  if (check.unsafe) throw new FailedError(`refusing to restore ${name}: ${check.unsafe}; nothing was changed`);
  if (check.failure || !check.read) throw new FailedError(`${name} is damaged or truncated (${check.failure ?? 'the read stopped early'}); nothing was changed`);
  // An empty archive would "restore" an empty media folder; a real one always lists "./".
  if (check.entries === 0) throw new FailedError(`${name} holds no entries; nothing was changed`);
  src.check(check.read);
  return check;
}

/**
 * Every link read whole and judged, in order, before anything changes; each incremental must
 * build on the archive just checked (by its manifest's parent name and sha256).
 */
export async function checkChainForRestore(links: MediaLink[]): Promise<ArchiveCheck[]> {
  const checks: ArchiveCheck[] = [];
  const point = links[links.length - 1]!.name;
  for (const [i, link] of links.entries()) {
    if (links.length > 1) log.info(`checking ${link.name} (${i + 1} of ${links.length} in the chain of ${point})`);
    const check = await checkForRestore(link.src, link.name, link.codec, link.manifest, point);
    const problem = linkProblem(link, i === 0 ? null : { name: links[i - 1]!.name, sha256: checks[i - 1]!.read!.sha256 });
    if (problem) throw new FailedError(`refusing to restore ${point}, nothing was changed: ${problem}`);
    checks.push(check);
  }
  return checks;
}

export async function restoreMedia(opts: MediaRestoreOptions): Promise<MediaRestoreResult> {
  const { settings, links } = opts;
  const target = settings.media;
  const name = links[links.length - 1]!.name;

  // What a killed restore left is finished or undone first; another restore running now is waited for.
  const looked = await lookAndRepairMedia(target, VIA);
  const busy = busyRefusal(looked.live, `not restoring ${name}`);
  if (busy) throw new FailedError(`${busy}; nothing was changed`);

  if (links.length === 1) log.info(`checking ${name}`);
  const checks = await checkChainForRestore(links);
  const check = checks[checks.length - 1]!;
  const total = sumChecks(checks);
  const { files } = total;
  if (looked.survey.free !== null) {
    // Each link's files counted in full: an over-estimate when incrementals replace files, never an under-estimate.
    const room = judgeRoom({
      dir: target.path,
      free: looked.survey.free,
      estimate: total.bytes + total.entries * PER_ENTRY_BYTES,
      margin: settings.diskMargin,
      basis: `${plural(files, 'file')} to unpack,`,
      what: `refusing to restore ${name}`,
      advice: 'nothing was changed. Free space on the media filesystem (the current media stays there until the swap), then restore again',
    });
    if (!room.ok) throw new NoSpaceError(room.message!);
  }
  if (total.setIds) log.warn(`${name} has ${plural(total.setIds, 'entry', 'entries')} with setuid/setgid bits; they are restored without them`);
  await opts.confirm();

  const token = `${opts.stamp}-${process.pid}`;
  // The staging folder must exist before the safety snapshot starts reading the media folder, or
  // tar would see the folder change under it.
  const prepared = await runAction(target, VIA, 'prepare', [token]);
  if (prepared.code !== 0) throw new FailedError(`cannot prepare the restore in ${target.path}: ${actionError(prepared)}; nothing was changed`);
  const discard = () => runAction(target, VIA, 'discard', [token]).catch(() => undefined);

  // The safety snapshot reads the current media, the unpack writes the staging folder (which the
  // snapshot excludes): independent, so they run side by side. Both must succeed before the swap.
  let snapshotting: Promise<WrittenBackup | null> = Promise.resolve(null);
  const { state } = looked.survey;
  const what = links.length > 1 ? `${name} (a chain of ${links.length} archives, ${plural(files, 'file')})` : `${name} (${plural(files, 'file')})`;
  if (state === 'full') {
    log.info(`taking a safety snapshot of ${target.path}, and unpacking ${what} beside it`);
    snapshotting = backupMedia({ settings, stamp: opts.stamp, seq: opts.seq, role: 'snapshot', via: VIA });
  } else {
    log.info(state === 'missing' ? `media folder ${target.path} does not exist; it will be created` : `media folder ${target.path} is empty; no safety snapshot needed`);
    log.info(`unpacking ${what}`);
  }
  const unpackAll = async () => {
    // In order: each incremental applies its deletions and renames to what the links below it left.
    for (const link of links) await unpack(target, link.src, link.codec, token);
  };
  const [snap, unpacked] = await Promise.allSettled([snapshotting, unpackAll()]);
  const safetySnapshot = snap.status === 'fulfilled' ? (snap.value?.path ?? null) : null;
  if (safetySnapshot) log.info(`safety snapshot: ${safetySnapshot}`);
  if (unpacked.status === 'rejected') {
    await discard();
    const err = unpacked.reason as unknown;
    if (err instanceof NoSpaceError) throw new NoSpaceError(`restore failed, the media folder is unchanged: ${err.message}`, { cause: err });
    throw new FailedError(`restore failed, the media folder is unchanged: ${errorMessage(err)}`, { cause: err });
  }
  if (snap.status === 'rejected') {
    await discard();
    throw new FailedError(`restore stopped, the media folder is unchanged: the safety snapshot failed: ${errorMessage(snap.reason)}`, { cause: snap.reason });
  }
  crashPoint('restore-media:unpacked');

  // The swap cannot be cut in two: a stop signal waits for it, and the line then says which way it went.
  const swapped = await runCritical(
    'the swap of the media folder',
    () => runAction(target, VIA, 'commit', [token, formatRunId(thisRun())]),
    (r) => (r instanceof Error || !/media-swapped: completed/.test(r.stdout) ? 'the media folder is as it was (the swap was rolled back)' : 'the swap was completed: the media folder is the restored one'),
  );
  if (swapped.code !== 0) throw new FailedError(`restore failed while swapping in the restored media: ${actionError(swapped)}`);
  crashPoint('restore-media:swapped');
  // The old entries go only now: the media folder is complete already, and a run killed while
  // removing them leaves a journal that says "done", which the next run finishes.
  const settled = await runAction(target, VIA, 'settle', [token]);
  if (settled.code !== 0) log.warn(`the media is restored, but its old entries could not all be removed: ${actionError(settled)}; the next run tries again`);
  return { mediaPath: target.path, safetySnapshot, check, checks, total };
}

/**
 * Decompress here (the container needs no zstd) and unpack into the staging folder where the
 * media folder is, from a new read of the opened file; then the bytes read must be the bytes
 * checked, or the staging folder is thrown away.
 */
async function unpack(target: MediaTarget, src: BackupSource, codec: Codec, token: string): Promise<void> {
  const read = src.read();
  const progress = startProgress('unpacking', read.position);
  try {
    const res = await runPipeline({
      stdin: read.stream,
      stages: [
        { name: `${codec} -d`, argv: decompressArgv(codec) },
        { name: 'unpack', argv: scriptArgv(target, VIA, 'unpack', [token, ...EXTRACT_FLAGS]) },
      ],
      stdout: 'ignore',
    });
    if (res.failure) {
      const f = res.failure;
      if (f.noSpace) throw new NoSpaceError(`no space left on ${target.path} (the disk is full): ${f.message}`);
      throw new FailedError(f.message);
    }
    src.verifySame(await read.done, 'nothing was restored from it');
  } finally {
    progress.stop();
  }
}
