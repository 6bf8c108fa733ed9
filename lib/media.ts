// The media half: archive the media folder with GNU tar, and restore an archive without ever
// leaving the media folder half-replaced. The archive is checked whole before anything changes,
// unpacked into a staging folder inside the media folder (same filesystem, and it works when
// the media folder is a mount point such as a Docker volume), and swapped in entry by entry
// only once unpacking succeeded. The same small sh script does the in-place work on this host
// (host mode) and inside a one-off container of the app service (compose mode).
import fs from 'node:fs';
import type { MediaTarget, Settings } from './config.ts';
import { checkArchive, EntryCounts, LISTING_FLAGS, listingEnv, parseListingLine, readPosition, type ArchiveCheck } from './archive.ts';
import { compressArgv, decompressArgv } from './codec.ts';
import { composeExec, composeRun } from './compose.ts';
import { FailedError, errorMessage } from './errors.ts';
import { log } from './log.ts';
import { runPipeline, type Stage } from './pipeline.ts';
import { startProgress } from './progress.ts';
import { capture, firstError } from './run.ts';
import { writeBackup, type WrittenBackup } from './writer.ts';
import type { BackupRole, Codec } from './naming.ts';

/** Work folders a restore makes inside the media folder; never archived, never restored. */
export const STAGING_PREFIX = '.compose-backup-staging-';
export const OLD_PREFIX = '.compose-backup-old-';

/** How a command reaches the media folder in compose mode: the running service, or a one-off container. */
export type Via = 'exec' | 'run';

/** Pure: a command run where the media folder is (this host, or the app service). */
export function mediaArgv(target: MediaTarget, via: Via, inner: string[]): string[] {
  if (target.mode === 'host') return inner;
  return via === 'exec' ? composeExec(target.compose, target.service, inner) : composeRun(target.compose, target.service, inner);
}

/**
 * Pure: the tar that archives a media folder. POSIX (pax) format keeps any name length and
 * nanosecond mtimes; atime/ctime are dropped so an unchanged tree archives the same. `-vv`
 * lists every entry on stderr, which is how files are counted and warnings caught. The
 * restore's own work folders are excluded (anchored to the top), then the user's globs with
 * tar's usual matching.
 */
export function tarCreateArgv(dir: string, exclude: readonly string[]): string[] {
  return [
    'env', 'LC_ALL=C',
    'tar', '-c', '-f', '-', '--format=posix', '--pax-option=delete=atime,delete=ctime', ...LISTING_FLAGS,
    '--anchored', `--exclude=./${STAGING_PREFIX}*`, `--exclude=./${OLD_PREFIX}*`, '--no-anchored',
    ...exclude.map((g) => `--exclude=${g}`),
    '-C', dir, '.',
  ];
}

/**
 * Options of the unpacking tar: permissions exactly as archived (`-p`, whatever the umask),
 * owners by number (`--numeric-owner`: the uid in the container is the uid that wrote the file;
 * as root tar restores owners, as another user it cannot and makes the files that user's).
 * Leading `/` and `..` are refused by tar itself too, as a second line behind checkArchive.
 */
export const EXTRACT_FLAGS = ['-p', '--numeric-owner'];

/**
 * The in-place work, as one POSIX sh script for both modes. `$1` is the action, `$2` the media
 * folder, `$3` a token naming this run's work folders; the rest goes to tar.
 *   probe    prints "media-state: missing|empty|full" and any work folder left by an interrupted run,
 *            then makes the media folder (if missing) and this run's staging folder
 *   unpack   reads a tar on stdin into the staging folder; on failure removes it
 *   commit   moves the current entries aside, the staged ones up, then deletes both work folders;
 *            if a move fails, puts everything back
 *   discard  removes the staging folder (when the decompressor failed though tar did not)
 * Unpacking and swapping are separate runs because only this side knows whether the
 * decompressor, which runs here, read the archive to its end.
 */
export const MEDIA_SCRIPT = `set -u
action=$1 media=$2 token=$3
shift 3
staging="$media/${STAGING_PREFIX}$token"
old="$media/${OLD_PREFIX}$token"
say() { printf 'compose-backup: %s\\n' "$*" >&2; }
ours() { case \${1##*/} in ${STAGING_PREFIX}*|${OLD_PREFIX}*) return 0 ;; esac; return 1; }
move_all() {
  for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    ours "$f" && continue
    mv -- "$f" "$2/" || return 1
  done
  return 0
}
case $action in
probe)
  state=missing
  if [ -d "$media" ]; then
    state=empty
    for f in "$media"/* "$media"/.[!.]* "$media"/..?*; do
      [ -e "$f" ] || [ -L "$f" ] || continue
      if ours "$f"; then echo "media-leftover: \${f##*/}"; else state=full; fi
    done
  fi
  mkdir -p -- "$media" && mkdir -- "$staging" || exit 1
  echo "media-state: $state" ;;
unpack)
  [ -d "$staging" ] || { say "no staging folder $staging"; exit 1; }
  trap 'rm -rf -- "$staging"; exit 1' HUP INT TERM
  if tar -x -f - -C "$staging" "$@"; then exit 0; fi
  rm -rf -- "$staging"
  say "unpacking failed; the media folder is unchanged"
  exit 1 ;;
discard)
  rm -rf -- "$staging" ;;
commit)
  [ -d "$staging" ] || { say "nothing unpacked at $staging"; exit 1; }
  mkdir -- "$old" || exit 1
  trap '' HUP INT TERM
  if move_all "$media" "$old" && move_all "$staging" "$media"; then
    rm -rf -- "$old" "$staging" || say "could not remove $old; remove it by hand"
    exit 0
  fi
  say "swapping failed; putting the previous media back"
  if move_all "$media" "$staging" && move_all "$old" "$media"; then
    rm -rf -- "$staging"; rmdir -- "$old"
    say "the media folder is as it was"
  else
    say "could not put everything back: the previous media is in $old"
  fi
  exit 1 ;;
*) say "unknown action $action"; exit 2 ;;
esac
`;

/** Pure: argv of one action of the media script. */
export function scriptArgv(target: MediaTarget, action: 'probe' | 'unpack' | 'commit' | 'discard', token: string, extra: string[] = []): string[] {
  return mediaArgv(target, 'run', ['sh', '-c', MEDIA_SCRIPT, 'sh', action, target.path, token, ...extra]);
}

export interface MediaProbe {
  state: 'missing' | 'empty' | 'full';
  /** Work folders an interrupted restore left in the media folder. */
  leftovers: string[];
}

/** Pure: the probe action's output. */
export function parseProbe(stdout: string): MediaProbe | null {
  let state: MediaProbe['state'] | null = null;
  const leftovers: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^media-state: (missing|empty|full)$/.exec(line.trim());
    if (m) state = m[1] as MediaProbe['state'];
    const l = /^media-leftover: (.+)$/.exec(line);
    if (l) leftovers.push(l[1]!);
  }
  return state ? { state, leftovers } : null;
}

/** What tar said while archiving: counts from its listing, and its own messages. */
export class CreateLog extends EntryCounts {
  /** `tar: …` lines (warnings when tar exits 0 or 1, errors when it exits 2). */
  messages: string[] = [];
  /** The last line that was neither (`service "django" is not running`, a shell's complaint). */
  other: string | null = null;
  private dropped = 0;

  line = (line: string): void => {
    if (!line) return;
    // tar names itself as invoked ("tar: …", "/usr/bin/tar: …").
    const m = /^(?:\S*\/)?tar: (.*)$/.exec(line);
    if (m) {
      if (/Exiting with failure status/.test(line)) return;
      if (this.messages.length < 100) this.messages.push(`tar: ${m[1]}`);
      else this.dropped++;
      return;
    }
    const e = parseListingLine(line);
    if (e) this.add(e);
    else this.other = line.trim().slice(0, 500) || this.other;
  };

  /** Messages for the manifest, with a count of those left out. */
  warnings(): string[] {
    return this.dropped ? [...this.messages, `… and ${this.dropped} more`] : [...this.messages];
  }
}

export interface MediaBackupOptions {
  settings: Settings;
  stamp: string;
  seq: number;
  role?: BackupRole;
  /** Compose mode: the running app service (backups), or a one-off container (during a restore). */
  via?: Via;
}

export interface MediaBackup extends WrittenBackup {
  files: number;
  directories: number;
  bytes: number;
  warnings: string[];
}

/** Refuse a missing media folder before any file is made (host mode; in compose mode tar says so). */
function requireHostFolder(target: MediaTarget): void {
  if (target.mode !== 'host') return;
  let st: fs.Stats;
  try {
    st = fs.statSync(target.path);
  } catch {
    throw new FailedError(`media folder ${target.path} does not exist; set MEDIA_DIR or media.path in the config`);
  }
  if (!st.isDirectory()) throw new FailedError(`media folder ${target.path} is not a folder`);
}

export async function backupMedia(opts: MediaBackupOptions): Promise<MediaBackup> {
  const { settings } = opts;
  const target = settings.media;
  requireHostFolder(target);
  const tarLog = new CreateLog();
  const role = opts.role ?? 'backup';
  const label = role === 'snapshot' ? 'safety snapshot of the media' : 'media backup';
  const tar: Stage = {
    name: 'tar',
    argv: mediaArgv(target, opts.via ?? 'exec', tarCreateArgv(target.path, target.exclude)),
    env: listingEnv(),
    // GNU tar exits 1 when a file changed while it was read: the archive is usable, so warn.
    okCodes: [1],
    onStderrLine: tarLog.line,
  };
  let written: WrittenBackup;
  try {
    written = await writeBackup({
      backupDir: settings.backupDir,
      kind: 'media',
      role,
      codec: settings.compression,
      stamp: opts.stamp,
      seq: opts.seq,
      environment: settings.envName,
      label,
      diskMargin: settings.diskMargin,
      stages: [tar, { name: settings.compression, argv: compressArgv(settings.compression, settings.compressionLevel) }],
      check: () => {
        // tar always lists "./"; nothing listed means no archive was made (in compose mode
        // `docker compose exec` also exits 1 when the service is down).
        if (tarLog.entries === 0) throw new FailedError(`${label} failed: ${tarLog.messages[0] ?? tarLog.other ?? 'tar archived nothing'}`);
        return { media: { files: tarLog.files, directories: tarLog.directories, bytes: tarLog.bytes, warnings: tarLog.warnings() } };
      },
    });
  } catch (err) {
    // tar's first message says what went wrong ("Cannot open: Permission denied"); the
    // pipeline's summary would only have its last words.
    if (err instanceof FailedError && err.message.startsWith(`${label} failed: tar failed`) && tarLog.messages.length) {
      throw new FailedError(`${label} failed: ${tarLog.messages[0]}${tarLog.messages.length > 1 ? ` (and ${tarLog.messages.length - 1} more tar messages)` : ''}`);
    }
    throw err;
  }
  const warnings = tarLog.warnings();
  for (const w of warnings.slice(0, 20)) log.warn(w);
  if (warnings.length > 20) log.warn(`… ${warnings.length - 20} more tar warnings (see ${written.name}.manifest.json)`);
  return { ...written, files: tarLog.files, directories: tarLog.directories, bytes: tarLog.bytes, warnings };
}

/** Look at the media folder where it lives. */
export async function probeMedia(target: MediaTarget, token: string): Promise<MediaProbe> {
  const out = await capture(scriptArgv(target, 'probe', token));
  const probe = out.code === 0 ? parseProbe(out.stdout) : null;
  if (!probe) throw new FailedError(`cannot look at the media folder ${target.path}: ${firstError(out.stderr) || `exit ${out.code}`}`);
  return probe;
}

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
  if (unpacked.status === 'rejected' || !unpacked.value.ok) {
    await discard();
    const why = unpacked.status === 'rejected' ? errorMessage(unpacked.reason) : unpacked.value.failure;
    throw new FailedError(`restore failed, the media folder is unchanged: ${why}`);
  }
  if (snap.status === 'rejected') {
    await discard();
    throw new FailedError(`restore stopped, the media folder is unchanged: the safety snapshot failed: ${errorMessage(snap.reason)}`);
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

/** Pure: "1 file", "2 files". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Pure: "database backup failed: x" stays as is; "x" becomes "database backup failed: x". */
export function halfFailure(half: 'database' | 'media', err: unknown): string {
  const msg = errorMessage(err);
  const prefix = `${half} backup failed: `;
  return msg.startsWith(prefix) ? msg : prefix + msg;
}
