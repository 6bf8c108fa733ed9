// GNU tar command lines for the media half, and where they run (this host, or the app
// service in compose mode). Pure: table-tested as argv.
import type { MediaTarget } from '../config/resolve.ts';
import { composeExec, composeRun } from '../config/compose.ts';
import { decompressArgv } from '../core/codec.ts';
import type { Codec } from '../core/naming.ts';
import type { Stage } from '../proc/pipeline.ts';

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

/** The marker file of a media swap in progress (lib/media/swap: the intent journal). */
export const SWAP_PREFIX = '.compose-backup-swap-';
/** Every name a restore's work may take at the top of the media folder. */
export const WORK_PREFIXES = [STAGING_PREFIX, OLD_PREFIX, SWAP_PREFIX] as const;

/** The lines that carry tar's new snapshot file out on stderr, around its base64 text. */
export const SNAPSHOT_BEGIN = 'compose-backup-snapshot: begin';
export const SNAPSHOT_END = 'compose-backup-snapshot: end';

/**
 * The archiving tar, run where the media is, behind a few lines of POSIX sh that first find the
 * special files (fifos, sockets, devices) and hand them to tar as exact exclusions: an archive
 * holding one would be refused whole by restore-media, so it is left out with a warning
 * (`compose-backup: warning: …` on stderr, recorded in the manifest). A special file whose path
 * holds a line break cannot be named to tar this way; the listing check catches it (CreateLog).
 *
 * Incremental mode (GNU tar's --listed-incremental): the snapshot file to start from arrives on
 * stdin (empty: a level-0 archive) and the one tar leaves goes out on stderr, as base64 between
 * two marker lines, once tar is done. So in compose mode nothing is kept in the container between
 * runs (a temporary file lives as long as the script; one that a SIGKILLed run left, named by its
 * dead pid, is removed by the next run), and tar's habit of rewriting the snapshot file even when
 * it fails cannot spoil the next run: only a published archive's copy is used.
 * `--no-check-device`: a recreated volume or host changes device numbers, which would otherwise
 * make every file look new and turn each incremental into a full. `incremental-changed`: the same
 * without the walk for special files (lib/media/backup: an incremental on top of another).
 */
export const CREATE_SCRIPT = `set -u
dir=$1 mode=$2; shift 2
cd -- "$dir" || { printf 'compose-backup: cannot open the media folder %s\\n' "$dir" >&2; exit 2; }
LC_ALL=C; export LC_ALL
case $mode in incremental*) incremental=yes ;; *) incremental=no ;; esac
if [ "$incremental" = yes ]; then
  tmp=\${TMPDIR:-/tmp}
  for f in "$tmp"/compose-backup-snar.*; do
    p=\${f#"$tmp"/compose-backup-snar.}; p=\${p%%.*}
    [ -f "$f" ] && ! kill -0 "$p" 2>/dev/null && rm -f -- "$f"
  done
  snar=$(mktemp "$tmp/compose-backup-snar.$$.XXXXXXXXXX") || { printf 'compose-backup: cannot make a temporary file for the snapshot\\n' >&2; exit 2; }
  trap 'rm -f -- "$snar"' EXIT
  trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
  cat > "$snar" || { printf 'compose-backup: cannot read the snapshot to start from\\n' >&2; exit 2; }
  set -- --listed-incremental="$snar" --no-check-device "$@"
fi
nl='
'
if [ "$mode" != incremental-changed ]; then
  find . -path './.compose-backup-*' -prune -o ! -path "*$nl*" \\( -type p -o -type s -o -type b -o -type c \\) -print 2>/dev/null |
  while IFS= read -r f; do
    kind=device; [ -p "$f" ] && kind=fifo; [ -S "$f" ] && kind=socket
    printf 'compose-backup: warning: left out "%s": a %s (special files are not backed up)\\n' "$f" "$kind" >&2
    printf '%s\\n' "$f"
  done
fi | tar -c -f - --anchored --no-wildcards --exclude-from=- --wildcards "$@" --no-wildcards .
rc=$?
if [ "$incremental" = yes ] && [ "$rc" -le 1 ]; then
  { echo '${SNAPSHOT_BEGIN}' && base64 < "$snar" && echo '${SNAPSHOT_END}'; } >&2 ||
    { printf 'compose-backup: cannot hand back the snapshot (is base64 there?)\\n' >&2; exit 2; }
fi
exit "$rc"
`;

/**
 * Pure: the command that archives a media folder (CREATE_SCRIPT, then tar's options). POSIX
 * (pax) format keeps any name length and nanosecond mtimes; atime/ctime are dropped so an
 * unchanged tree archives the same. `-vv` lists every entry on stderr, which is how files are
 * counted and warnings caught. The restore's own work entries are excluded (anchored to the
 * top), then the user's globs with tar's usual matching.
 */
export function tarCreateArgv(dir: string, exclude: readonly string[], incremental = false, scan = true): string[] {
  return [
    'sh', '-c', CREATE_SCRIPT, 'sh', dir, !incremental ? 'plain' : scan ? 'incremental' : 'incremental-changed',
    '--format=posix', '--pax-option=delete=atime,delete=ctime', ...LISTING_FLAGS,
    // A full made in incremental mode would say "Directory is new" of every folder.
    ...(incremental ? ['--warning=no-new-dir', '--warning=no-rename-directory'] : []),
    '--anchored', ...WORK_PREFIXES.map((p) => `--exclude=./${p}*`), '--no-anchored',
    ...exclude.map((g) => `--exclude=${g}`),
  ];
}

/**
 * Options of the unpacking tar: permissions exactly as archived (`-p`, whatever the umask),
 * owners by number (`--numeric-owner`: the uid in the container is the uid that wrote the file;
 * as root tar restores owners, as another user it cannot and makes the files that user's).
 * Leading `/` and `..` are refused by tar itself too, as a second line behind checkArchive.
 * `--listed-incremental=/dev/null` applies an incremental archive as GNU tar documents it: files
 * that were gone when it was made are deleted, renamed folders moved (a full needs nothing of it).
 */
export const EXTRACT_FLAGS = ['-p', '--numeric-owner', '--listed-incremental=/dev/null'];


/** The listing flags every caller uses, so lines always have the shape parseListingLine expects. */
export const LISTING_FLAGS = ['-vv', '--quoting-style=c', '--full-time', '--numeric-owner'];

/**
 * The environment for a tar whose listing we parse: the C locale makes tar escape every
 * non-ASCII byte as octal, so a line is plain ASCII whatever the names hold.
 */
export function listingEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, LC_ALL: 'C' };
}

/** Pure: the stages that list an archive (decompressor, tar -t). */
export function listingStages(codec: Codec): Stage[] {
  return [
    { name: codec, argv: decompressArgv(codec) },
    // -P: list names and link targets exactly as stored; without it tar hides a leading
    // "/" or "../" of link targets from the listing (and would then strip them on extraction).
    // -G: an incremental archive's folder records (what each folder held, what was renamed) are
    // listed too, so the safety rules judge them as well (lib/media/listing's DumpDirs).
    { name: 'tar', argv: ['tar', '-t', '-G', '-P', ...LISTING_FLAGS, '-f', '-'], env: listingEnv() },
  ];
}

