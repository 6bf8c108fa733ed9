// backup-media's half: the media folder archived with GNU tar (where it is: this host, or the
// app service) and compressed on this host into a new backup file; tar's own verbose listing,
// read as it goes by on stderr, gives the manifest its counts and warnings.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { Readable } from 'node:stream';
import { failure, FailedError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { MediaTarget, Settings } from '../config/resolve.ts';
import { compressArgv } from '../core/codec.ts';
import { planNextMedia, type NextMedia } from '../core/chains.ts';
import type { BackupRole } from '../core/naming.ts';
import { pipelineError, runPipeline, type Stage } from '../proc/pipeline.ts';
import { listKind, SNAPSHOT_SUFFIX, snapshotPathFor, type BackupFile } from '../store/catalog.ts';
import { readManifest } from '../store/manifest.ts';
import { writeNewBackup, type WrittenBackup } from '../store/writer.ts';
import { CreateLog } from './listing.ts';
import { busyRefusal, lookBeforeBackup } from './repair.ts';
import { mediaArgv, tarCreateArgv, type Via } from './tar.ts';

export interface MediaBackupOptions {
  settings: Settings;
  stamp: string;
  seq: number;
  role?: BackupRole;
  /** Compose mode: the running app service (backups), or a one-off container (during a restore). */
  via?: Via;
  /** `backup-media --full`: a full even when an incremental would do. */
  forceFull?: boolean;
  /** When the chain's limits are judged (the run's clock); default: now. */
  now?: Date;
}

export interface MediaBackup extends WrittenBackup {
  files: number;
  directories: number;
  bytes: number;
  warnings: string[];
  /** Full or incremental, and why (incremental mode), as planned before tar ran. */
  plan: NextMedia;
}

/** tar archived a special file that a run without the walk for them did not leave out. */
class SpecialFileSeen extends Error {
  constructor(file: string) {
    super(`the special file "${file}" was archived`);
  }
}

/** Whether `err`, or an error it wraps, is an instance of `cls`. */
function causedBy(err: unknown, cls: new (...args: never[]) => Error): boolean {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof cls) return true;
    e = (e as Error).cause;
  }
  return false;
}

/** What an incremental starts from: the parent's snapshot file, checked against its manifest. */
interface Base {
  parent: BackupFile;
  sha256: string;
  snapshot: Buffer;
}

/**
 * Full or incremental (lib/core/chains), and the snapshot file to start from. The newest archive
 * can be built on only when its snapshot file is there and is the one its manifest recorded: a
 * snapshot file from a failed run, or an altered one, would make tar leave changed files out.
 */
async function planBackup(settings: Settings, opts: MediaBackupOptions): Promise<{ plan: NextMedia; base: Base | null }> {
  const backups = settings.mediaIncremental ? await listKind(settings.backupDir, 'media') : [];
  const plan = planNextMedia({ policy: settings.mediaIncremental, forceFull: opts.forceFull ?? false, now: opts.now ?? new Date(), backups });
  if (!('parent' in plan)) return { plan, base: null };
  try {
    return { plan, base: await loadBase(backups.find((b) => b.name === plan.parent)!) };
  } catch (err) {
    return { plan: { level: 0, incremental: true, reason: (err as Error).message }, base: null };
  }
}

async function loadBase(parent: BackupFile): Promise<Base> {
  const manifest = await readManifest(parent.path).catch(() => null);
  const recorded = manifest?.media?.snapshot;
  if (!manifest || !recorded) throw new Error(`the newest media backup, ${parent.name}, has no manifest recording its snapshot file`);
  const snapshot = await fsp.readFile(snapshotPathFor(parent.path)).catch(() => null);
  if (!snapshot) throw new Error(`the snapshot file of ${parent.name} (${parent.name}.snar) is missing`);
  const sha = crypto.createHash('sha256').update(snapshot).digest('hex');
  if (sha !== recorded.sha256 || snapshot.length !== recorded.size) throw new Error(`the snapshot file of ${parent.name} is not the one its manifest recorded`);
  return { parent, sha256: manifest.sha256, snapshot };
}

/**
 * Whether the media folder is there to archive, before any file is made (host mode; in compose
 * mode tar says so). The built-in default ./media may simply not exist (a fresh clone): then
 * 'absent', which backup-full takes as "no media half"; a folder that was configured must exist.
 */
export function hostFolderState(target: MediaTarget): 'present' | 'absent' {
  if (target.mode !== 'host') return 'present';
  let st: fs.Stats;
  try {
    st = fs.statSync(target.path);
  } catch {
    if (!target.configured) return 'absent';
    throw new FailedError(`media backup failed: media folder ${target.path} does not exist; set MEDIA_DIR or media.path in the config`, { what: 'media backup' });
  }
  if (!st.isDirectory()) throw new FailedError(`media backup failed: media folder ${target.path} is not a folder`, { what: 'media backup' });
  return 'present';
}

export async function backupMedia(opts: MediaBackupOptions): Promise<MediaBackup> {
  const { settings } = opts;
  const target = settings.media;
  if (hostFolderState(target) === 'absent') {
    throw new FailedError(`media backup failed: media folder ${target.path} does not exist; create it, or set MEDIA_DIR or media.path in the config`, { what: 'media backup' });
  }
  const role = opts.role ?? 'backup';
  // A restore's safety snapshot runs inside that restore, which has looked already.
  if (role === 'backup') {
    const looked = await lookBeforeBackup(target, opts.via ?? 'exec').catch((err: unknown) => {
      throw failure('media backup', err);
    });
    // A swap in progress would be archived half-way; a staging folder is never archived.
    const busy = busyRefusal(looked.live, 'media backup failed', true);
    if (busy) throw new FailedError(busy, { what: 'media backup' });
  }
  // A restore's safety snapshot is always a plain full archive of its own.
  const { plan, base } = role === 'backup' ? await planBackup(settings, opts) : { plan: { level: 0, incremental: false, reason: null } as NextMedia, base: null };
  if (plan.incremental) log.info(plan.level > 0 ? `incremental backup, ${plan.reason}` : `full backup (starts a new chain): ${plan.reason}`);
  const archive = async (scan: boolean) => {
    const tarLog = new CreateLog();
    const label = role === 'snapshot' ? 'safety snapshot of the media' : 'media backup';
    const tar: Stage = {
      name: 'tar',
      argv: mediaArgv(target, opts.via ?? 'exec', tarCreateArgv(target.path, target.exclude, plan.incremental, scan)),
      // GNU tar exits 1 when a file changed while it was read: the archive is usable, so warn.
      okCodes: [1],
      onStderrLine: tarLog.line,
    };
    const written = await writeNewBackup({
      backupDir: settings.backupDir,
      kind: 'media',
      role,
      codec: settings.compression,
      stamp: opts.stamp,
      seq: opts.seq,
      level: plan.level,
      environment: settings.envName,
      label,
      diskMargin: settings.diskMargin,
      fill: async (fd) => {
        const res = await runPipeline({
          stages: [tar, { name: settings.compression, argv: compressArgv(settings.compression, settings.compressionLevel) }],
          // Incremental mode: the snapshot to start from goes in on stdin (none: a level-0 archive).
          stdin: plan.incremental ? Readable.from(base ? [base.snapshot] : []) : 'ignore',
          stdout: fd,
        });
        if (res.failure) {
          // tar's first message says what went wrong ("Cannot open: Permission denied"); the
          // pipeline's summary would only have its last words.
          const said = res.failure.stage === 'tar' && !res.failure.noSpace && tarLog.messages.length;
          if (!said) throw pipelineError(label, res.failure);
          const more = tarLog.messages.length > 1 ? ` (and ${tarLog.messages.length - 1} more tar messages)` : '';
          throw new FailedError(`${label} failed: ${tarLog.messages[0]}${more}`, { what: label });
        }
        // tar always lists "./"; nothing listed means no archive was made (in compose mode
        // `docker compose exec` also exits 1 when the service is down).
        // In incremental mode tar lists only the files it archived (none, when nothing changed);
        // its snapshot handed back is what says it ran to its end.
        const ran = plan.incremental ? tarLog.snapshot !== null : tarLog.entries > 0;
        if (!ran) throw new FailedError(`${label} failed: ${tarLog.messages[0] ?? tarLog.other ?? 'tar archived nothing'}`, { what: label });
        // Every archive this tool makes must pass its own restore, which refuses special files.
        if (tarLog.special) {
          if (!scan) throw new SpecialFileSeen(tarLog.special);
          throw new FailedError(
            `${label} failed: the special file (fifo or device) "${tarLog.special}" could not be left out (it appeared while tar ran, or its path holds a line break); remove or rename it, then back up again`,
            { what: label },
          );
        }
        const media = { files: tarLog.files, directories: tarLog.directories, bytes: tarLog.bytes, warnings: tarLog.warnings() };
        if (!plan.incremental) return { media };
        const snap = tarLog.snapshot!;
        return {
          media: {
            ...media,
            level: plan.level,
            parent: base ? { name: base.parent.name, sha256: base.sha256 } : null,
            snapshot: { size: snap.length, sha256: crypto.createHash('sha256').update(snap).digest('hex') },
          },
        };
      },
      // Published with the manifest, before the archive's final name: what the next incremental starts from.
      beside: plan.incremental ? { suffix: SNAPSHOT_SUFFIX, data: () => tarLog.snapshot! } : undefined,
    });
    return { written, tarLog };
  };
  // An incremental on top of another archives only what changed, so the walk for special files
  // (a tenth of its time on a big tree) is skipped; tar's own listing shows one if one changed, and
  // then the archive is made again with the walk, leaving it out as a full does.
  const scanFirst = plan.level === 0;
  let made;
  try {
    made = await archive(scanFirst);
  } catch (err) {
    if (scanFirst || !causedBy(err, SpecialFileSeen)) throw err;
    log.info('a special file appeared since the last backup: archiving again, leaving it out');
    made = await archive(true);
  }
  const { written, tarLog } = made;

  const warnings = tarLog.warnings();
  for (const w of warnings.slice(0, 20)) log.warn(w);
  if (warnings.length > 20) log.warn(`… ${warnings.length - 20} more tar warnings (see ${written.name}.manifest.json)`);
  return { ...written, files: tarLog.files, directories: tarLog.directories, bytes: tarLog.bytes, warnings, plan };
}
