// restore-media's half: never leave the media folder half-replaced. The archive is checked whole
// before anything changes, unpacked into a staging folder inside the media folder (same
// filesystem, and it works when the media folder is a mount point such as a Docker volume), and
// swapped in only once unpacking and the safety snapshot both succeeded (lib/media/swap).
import fs from 'node:fs';
import { errorMessage, FailedError, NoSpaceError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import { startProgress } from '../cli/progress.ts';
import type { MediaTarget, Settings } from '../config/resolve.ts';
import { decompressArgv } from '../core/codec.ts';
import { plural } from '../core/format.ts';
import type { Codec } from '../core/naming.ts';
import { capture } from '../proc/capture.ts';
import { firstError, runPipeline } from '../proc/pipeline.ts';
import type { WrittenBackup } from '../store/writer.ts';
import { backupMedia } from './backup.ts';
import { checkArchive, readPosition } from './check.ts';
import type { ArchiveCheck } from './listing.ts';
import { probeMedia, scriptArgv } from './swap.ts';
import { EXTRACT_FLAGS } from './tar.ts';

export interface MediaRestoreOptions {
  settings: Settings;
  file: string;
  name: string;
  codec: Codec;
  /** Stamp and sequence number of the safety snapshot. */
  stamp: string;
  seq: number;
  /** The file's checksum against its manifest, already started; rejects when it does not match. */
  checksum: Promise<unknown>;
  /** Asked once the archive passed its checks and before anything changes; throws to decline. */
  confirm: () => Promise<void>;
}

export interface MediaRestoreResult {
  mediaPath: string;
  safetySnapshot: string | null;
  check: ArchiveCheck;
}

export async function restoreMedia(opts: MediaRestoreOptions): Promise<MediaRestoreResult> {
  const target = opts.settings.media;

  // The checksum and the listing only read the archive, each with its own reader: side by side
  // they take the time of the longer one. An altered file is named as such before its content.
  log.info(`checking ${opts.name}`);
  const [sum, listed] = await Promise.allSettled([opts.checksum, checkArchive(opts.file, opts.codec, { progressLabel: 'checking the archive' })]);
  if (sum.status === 'rejected') throw sum.reason;
  if (listed.status === 'rejected') throw listed.reason;
  const check = listed.value;
  if (check.unsafe) throw new FailedError(`refusing to restore ${opts.name}: ${check.unsafe}; nothing was changed`);
  if (check.failure) throw new FailedError(`${opts.name} is damaged or truncated (${check.failure}); nothing was changed`);
  // An empty archive would "restore" an empty media folder; a real one always lists "./".
  if (check.entries === 0) throw new FailedError(`${opts.name} holds no entries; nothing was changed`);
  await opts.confirm();

  const token = `${opts.stamp}-${process.pid}`;
  // The probe also makes the staging folder: it must exist before the safety snapshot starts
  // reading the media folder, or tar would see the folder change under it.
  const probe = await probeMedia(target, token);
  for (const l of probe.leftovers) log.warn(`${target.path}/${l} was left by an interrupted restore; remove it once you have checked it`);
  const discard = () => capture(scriptArgv(target, 'discard', token)).catch(() => undefined);

  // The safety snapshot reads the current media, the unpack writes the staging folder (which the
  // snapshot excludes): independent, so they run side by side. Both must succeed before the swap.
  let snapshotting: Promise<WrittenBackup | null> = Promise.resolve(null);
  if (probe.state === 'full') {
    log.info(`taking a safety snapshot of ${target.path}, and unpacking ${opts.name} (${plural(check.files, 'file')}) beside it`);
    snapshotting = backupMedia({ settings: opts.settings, stamp: opts.stamp, seq: opts.seq, role: 'snapshot', via: 'run' });
  } else {
    log.info(probe.state === 'missing' ? `media folder ${target.path} does not exist; it will be created` : `media folder ${target.path} is empty; no safety snapshot needed`);
    log.info(`unpacking ${opts.name} (${plural(check.files, 'file')})`);
  }
  const [snap, unpacked] = await Promise.allSettled([snapshotting, unpack(target, opts.file, opts.codec, token)]);
  const safetySnapshot = snap.status === 'fulfilled' ? (snap.value?.path ?? null) : null;
  if (safetySnapshot) log.info(`safety snapshot: ${safetySnapshot}`);
  if (unpacked.status === 'rejected' || unpacked.value.failure) {
    await discard();
    if (unpacked.status === 'fulfilled' && unpacked.value.failure) {
      const f = unpacked.value.failure;
      const msg = `restore failed, the media folder is unchanged: ${f.noSpace ? `no space left on ${target.path} (the disk is full): ` : ''}${f.message}`;
      throw f.noSpace ? new NoSpaceError(msg) : new FailedError(msg);
    }
    throw new FailedError(`restore failed, the media folder is unchanged: ${errorMessage((unpacked as PromiseRejectedResult).reason)}`, { cause: (unpacked as PromiseRejectedResult).reason });
  }
  if (snap.status === 'rejected') {
    await discard();
    throw new FailedError(`restore stopped, the media folder is unchanged: the safety snapshot failed: ${errorMessage(snap.reason)}`, { cause: snap.reason });
  }

  const swapped = await capture(scriptArgv(target, 'commit', token));
  if (swapped.code !== 0) {
    await discard();
    throw new FailedError(`restore failed while swapping in the restored media: ${firstError(swapped.stderr) || `exit ${swapped.code}`}`);
  }
  return { mediaPath: target.path, safetySnapshot, check };
}

/** Decompress here and unpack into the staging folder where the media folder is. */
async function unpack(target: MediaTarget, file: string, codec: Codec, token: string) {
  const input = fs.openSync(file, 'r');
  const total = fs.fstatSync(input).size;
  const progress = startProgress('unpacking', () => readPosition(input, total));
  try {
    return await runPipeline({
      stdin: input,
      stages: [
        { name: `${codec} -d`, argv: decompressArgv(codec) },
        { name: 'unpack', argv: scriptArgv(target, 'unpack', token, EXTRACT_FLAGS) },
      ],
      stdout: 'ignore',
    });
  } finally {
    progress.stop();
    fs.closeSync(input);
  }
}

