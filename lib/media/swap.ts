// The in-place work of a media restore, as one POSIX sh script that runs where the media folder
// is: on this host (host mode) or in a one-off container of the app service (compose mode), so
// both modes share it. Looking at the folder, repairing what a killed run left, making the staging
// folder, unpacking into it, and swapping it in.
//
// The swap is journaled, so that a run killed at any moment (SIGKILL, the OOM killer, a reboot,
// `docker stop`) leaves a state the next run can finish or undo. The media folder may be a mount
// point (a Docker volume) that cannot itself be renamed, so the swap moves its top-level entries:
//   1. `<swap>.out` is created, holding the run's id, and flushed: from here on the journal
//      decides. The live entries move into `<old>` (one mv for all of them, a handful of
//      processes at most, not one per entry).
//   2. `<swap>.out` is renamed `<swap>.in` (atomic, flushed): every old entry is in `<old>`. The
//      staged entries move up into the media folder.
//   3. `<swap>.in` is renamed `<swap>.done`: the media folder is the restored one. That is the
//      swap; removing the old entries, the work folders and then the journal comes after it
//      (`settle`), outside the part a signal must not cut.
// A dead run's journal says what to do: `.out` → move `<old>` back (the folder is exactly the old
// one), `.in` → move the rest of the staging folder up (exactly the new one), `.done` → finish
// removing. Without a journal only a staging folder can exist, which is removed. Renames within one
// filesystem either happened or did not, so an entry is always in exactly one of the folders.
import { FailedError } from '../cli/errors.ts';
import type { MediaTarget } from '../config/resolve.ts';
import { parseDfAvailable } from '../core/room.ts';
import { capture, type Captured } from '../proc/capture.ts';
import { firstError } from '../proc/pipeline.ts';
import { mediaArgv, OLD_PREFIX, STAGING_PREFIX, SWAP_PREFIX, type Via } from './tar.ts';

/**
 * The in-place work, as one POSIX sh script for both modes. `$1` is the action, `$2` the media
 * folder, then the action's words:
 *   survey              prints the folder's state, its free space (df) and every work entry at its top
 *   settle <token>…     brings the work of these runs to rest: finishes a completed swap's cleanup,
 *                       completes or rolls back a swap cut half-way, removes a staging folder
 *                       (for this run's own cleanup, and for runs that are gone); first it
 *                       waits until no process of that run holds its staging folder's lock
 *   prepare <token>     makes the media folder (if missing) and this run's staging folder (0700)
 *   unpack <token> …    reads a tar on stdin into the staging folder (the rest are tar's options),
 *                       clears setuid/setgid bits; on failure removes the staging folder
 *   discard <token>     removes the staging folder
 *   commit <token> <id> the journaled swap; <id> (the run's id) is written into the journal
 * A test can have the script SIGKILL its process group at a named moment of the swap, as the Node
 * side's fault points do (COMPOSE_BACKUP_CRASH_AT, lib/proc/fault): `media-swap:journaled`,
 * `media-swap:out:<n>` (after n entries moved out), `media-swap:between`, `media-swap:in:<n>`,
 * `media-swap:done`. Unset, it costs one comparison per step.
 */
export const MEDIA_SCRIPT = `set -u
action=$1 media=$2
shift 2
say() { printf 'compose-backup: %s\\n' "$*" >&2; }
crash_at=\${COMPOSE_BACKUP_CRASH_AT:-}
crash() { [ "$crash_at" = "$1" ] && kill -KILL 0; return 0; }
# Directory entries renamed must reach the disk before the journal says they did.
durable() { sync -- "$@" 2>/dev/null || sync; }
paths() {
  staging="$media/${STAGING_PREFIX}$1"
  old="$media/${OLD_PREFIX}$1"
  journal="$media/${SWAP_PREFIX}$1"
}
# Every entry of $1 but the work entries into $2. One mv for as many entries as fit in argv; a crash
# test moves them one at a time to stop after the n-th ($3 names its step).
move_all() {
  n=\${crash_at#"$3":}
  if [ -n "$crash_at" ] && [ "$n" != "$crash_at" ]; then
    i=0
    for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
      [ -e "$f" ] || [ -L "$f" ] || continue
      case \${f##*/} in ${STAGING_PREFIX}*|${OLD_PREFIX}*|${SWAP_PREFIX}*) continue ;; esac
      mv -f -- "$f" "$2/" || return 1
      i=$((i + 1))
      [ "$i" -ge "$n" ] && kill -KILL 0
    done
    return 0
  fi
  find "$1" -mindepth 1 -maxdepth 1 ! -name '${STAGING_PREFIX}*' ! -name '${OLD_PREFIX}*' ! -name '${SWAP_PREFIX}*' \\
    -exec sh -c 'to=$1; shift; exec mv -f -- "$@" "$to/"' sh "$2" {} +
}
empty() { [ -z "$(find "$1" -mindepth 1 -maxdepth 1 | head -n 1)" ]; }
# The staging folder's lock (fd 8), held by unpack and commit for as long as they or any child of
# theirs lives: a run's Node process can be dead while its processes still work (an mv finishing
# its rename after a SIGKILL, or the whole script in a container that a killed client leaves
# running), and settle waits for them before it touches the run's work. Without flock(1) (a
# minimal image) nothing is held and nothing is waited for.
hold() {
  [ -d "$1" ] && command -v flock >/dev/null 2>&1 || return 0
  exec 8<"$1" && flock -w "$2" 8
}
finish() {
  rm -rf -- "$old" "$staging" || return 1
  rm -f -- "$journal.done"
}
case $action in
survey)
  state=missing
  if [ -d "$media" ]; then
    state=empty
    for f in "$media"/* "$media"/.[!.]* "$media"/..?*; do
      [ -e "$f" ] || [ -L "$f" ] || continue
      case \${f##*/} in
      ${SWAP_PREFIX}*) printf 'media-work: %s %s\\n' "\${f##*/}" "$(head -c 200 -- "$f" | tr -d '\\n')" ;;
      ${STAGING_PREFIX}*|${OLD_PREFIX}*) printf 'media-work: %s\\n' "\${f##*/}" ;;
      *) state=full ;;
      esac
    done
  fi
  d=$media
  while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
  df -P -k -- "$d" 2>/dev/null | sed 's/^/media-df: /'
  echo "media-state: $state" ;;
settle)
  trap '' HUP INT TERM
  for token in "$@"; do
    paths "$token"
    hold "$staging" "\${COMPOSE_BACKUP_SETTLE_WAIT:-120}" || { say "the restore of run $token is still at work in $media (its processes hold $staging); try again when it has finished"; exit 1; }
    if [ -e "$journal.done" ]; then
      finish || { say "could not remove $old"; exit 1; }
      echo "media-settled: $token finished"
    elif [ -e "$journal.in" ]; then
      move_all "$staging" "$media" settle || { say "could not move the rest of $staging into $media"; exit 1; }
      durable "$media"
      mv -f -- "$journal.in" "$journal.done" && durable "$media"
      finish || { say "could not remove $old"; exit 1; }
      echo "media-settled: $token completed"
    elif [ -e "$journal.out" ]; then
      move_all "$old" "$media" settle || { say "could not move $old back into $media"; exit 1; }
      durable "$media"
      empty "$old" || { say "$old is not empty after moving it back; the previous media is there"; exit 1; }
      rm -rf -- "$staging" && rmdir -- "$old" && rm -f -- "$journal.out" || exit 1
      echo "media-settled: $token rolled-back"
    else
      # No journal: the swap never started; only a staging folder (and an empty old one) can be left.
      if [ -d "$old" ] && ! empty "$old"; then say "$old holds entries but no journal says why; check it by hand"; exit 1; fi
      rm -rf -- "$staging" && { [ ! -d "$old" ] || rmdir -- "$old"; } || exit 1
      echo "media-settled: $token discarded"
    fi
  done ;;
prepare)
  paths "$1"
  mkdir -p -- "$media" && mkdir -m 700 -- "$staging" ;;
unpack)
  paths "$1"; shift
  [ -d "$staging" ] || { say "no staging folder $staging"; exit 1; }
  hold "$staging" 10 || { say "$staging is in use by another process"; exit 1; }
  trap 'rm -rf -- "$staging"; exit 1' HUP INT TERM
  # setuid/setgid bits are never restored: an upload folder has no use for them, and a crafted
  # archive could plant a setuid-root program. The staging folder (0700) keeps them out of reach
  # until they are cleared.
  if tar -x -f - -C "$staging" "$@" &&
     find "$staging" ! -type l \\( -perm -4000 -o -perm -2000 \\) -exec chmod ug-s -- {} +; then
    exit 0
  fi
  rm -rf -- "$staging"
  say "unpacking failed; the media folder is unchanged"
  exit 1 ;;
discard)
  paths "$1"
  rm -rf -- "$staging" ;;
commit)
  paths "$1"
  [ -d "$staging" ] || { say "nothing unpacked at $staging"; exit 1; }
  hold "$staging" 10 || { say "$staging is in use by another process"; exit 1; }
  # From here to the end the swap is finished or undone, never left half-way by a signal.
  trap '' HUP INT TERM
  mkdir -m 700 -- "$old" || exit 1
  printf '%s\\n' "$2" > "$journal.out" && durable "$journal.out" "$media" || { rm -f -- "$journal.out"; rmdir -- "$old"; exit 1; }
  crash media-swap:journaled
  if move_all "$media" "$old" media-swap:out; then
    durable "$media" "$old"
    crash media-swap:between
    mv -f -- "$journal.out" "$journal.in" && durable "$media" || exit 1
    if move_all "$staging" "$media" media-swap:in; then
      durable "$media"
      mv -f -- "$journal.in" "$journal.done" && durable "$media"
      crash media-swap:done
      echo "media-swapped: completed"
      exit 0
    fi
    say "swapping failed; putting the previous media back"
    # Once every new entry is back in staging the state is the end of step 1 again, and so is the
    # journal, before the old entries move back.
    move_all "$media" "$staging" back && durable "$media" "$staging" &&
      mv -f -- "$journal.in" "$journal.out" && durable "$media" &&
      move_all "$old" "$media" back && durable "$media" || {
      say "could not put everything back: the previous media is in $old"; exit 1; }
  else
    say "swapping failed; putting the previous media back"
    move_all "$old" "$media" back && durable "$media" || { say "could not put everything back: the previous media is in $old"; exit 1; }
  fi
  rm -rf -- "$staging"; rmdir -- "$old"; rm -f -- "$journal.out"
  say "the media folder is as it was"
  echo "media-swapped: rolled-back"
  exit 1 ;;
*) say "unknown action $action"; exit 2 ;;
esac
`;

export type MediaAction = 'survey' | 'settle' | 'prepare' | 'unpack' | 'discard' | 'commit';

/** Pure: argv of one action of the media script. */
export function scriptArgv(target: MediaTarget, via: Via, action: MediaAction, words: string[] = []): string[] {
  return mediaArgv(target, via, ['sh', '-c', MEDIA_SCRIPT, 'sh', action, target.path, ...words]);
}

/** Run one action where the media is. */
export function runAction(target: MediaTarget, via: Via, action: MediaAction, words: string[] = []): Promise<Captured> {
  return capture(scriptArgv(target, via, action, words));
}

/** Pure: the one line to show of a failed action. */
export function actionError(out: Captured): string {
  return firstError(out.stderr.replace(/^compose-backup: /gm, '')) || `exit ${out.code}`;
}

export interface MediaSurvey {
  state: 'missing' | 'empty' | 'full';
  /** Free bytes on the media folder's filesystem (its nearest existing parent's), null if unknown. */
  free: number | null;
  /** Work entries at the top of the media folder: name, and a journal's content. */
  work: { name: string; content: string | null }[];
}

/** Pure: the survey action's output (noise from an entrypoint around it is ignored). */
export function parseSurvey(stdout: string): MediaSurvey | null {
  let state: MediaSurvey['state'] | null = null;
  const work: MediaSurvey['work'] = [];
  const df: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^media-state: (missing|empty|full)$/.exec(line.trim());
    if (m) state = m[1] as MediaSurvey['state'];
    const w = /^media-work: (\S+)(?: (.*))?$/.exec(line);
    if (w) work.push({ name: w[1]!, content: w[2] ?? null });
    if (line.startsWith('media-df: ')) df.push(line.slice('media-df: '.length));
  }
  return state ? { state, free: df.length ? parseDfAvailable(df.join('\n')) : null, work } : null;
}

/** Look at the media folder where it lives. */
export async function surveyMedia(target: MediaTarget, via: Via): Promise<MediaSurvey> {
  const out = await runAction(target, via, 'survey');
  const survey = out.code === 0 ? parseSurvey(out.stdout) : null;
  if (!survey) throw new FailedError(`cannot look at the media folder ${target.path}: ${actionError(out)}`);
  return survey;
}

/** Pure: what a settle said it did, per token. */
export function parseSettled(stdout: string): Map<string, RepairOutcome> {
  const done = new Map<string, RepairOutcome>();
  for (const line of stdout.split('\n')) {
    const m = /^media-settled: (\S+) (finished|completed|rolled-back|discarded)$/.exec(line.trim());
    if (m) done.set(m[1]!, m[2] as RepairOutcome);
  }
  return done;
}

export type RepairOutcome = 'finished' | 'completed' | 'rolled-back' | 'discarded';
