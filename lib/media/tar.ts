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
    { name: 'tar', argv: ['tar', '-t', '-P', ...LISTING_FLAGS, '-f', '-'], env: listingEnv() },
  ];
}

