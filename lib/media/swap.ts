// The in-place work of a media restore, as one POSIX sh script that runs where the media folder
// is: on this host (host mode) or in a one-off container of the app service (compose mode), so
// both modes share it. Making the staging folder, unpacking into it, and swapping it in.
import { FailedError } from '../cli/errors.ts';
import type { MediaTarget } from '../config/resolve.ts';
import { capture } from '../proc/capture.ts';
import { firstError } from '../proc/pipeline.ts';
import { mediaArgv, OLD_PREFIX, STAGING_PREFIX } from './tar.ts';

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

/** Look at the media folder where it lives. */
export async function probeMedia(target: MediaTarget, token: string): Promise<MediaProbe> {
  const out = await capture(scriptArgv(target, 'probe', token));
  const probe = out.code === 0 ? parseProbe(out.stdout) : null;
  if (!probe) throw new FailedError(`cannot look at the media folder ${target.path}: ${firstError(out.stderr) || `exit ${out.code}`}`);
  return probe;
}
