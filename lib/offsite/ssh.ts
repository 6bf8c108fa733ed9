// An offsite target that is a folder on another host over SSH (another server, a storage box with
// a shell), through the project's ssh layer (lib/remote/ssh: batch mode, known host keys only, a
// dead link detected). Each step is one short POSIX sh script there; paths travel as arguments,
// never inside the script's text. A copy streams into a hidden temporary file (`cat >`), then one
// more session syncs it, writes its checksum record and renames it to its name.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FailedError, NO_SPACE_TEXT, NoSpaceError } from '../cli/errors.ts';
import type { OffsiteTarget } from '../config/resolve.ts';
import { envFolder, type StoredObject } from '../core/offsite-names.ts';
import { capture, type Captured } from '../proc/capture.ts';
import { firstError, heldOutput, runPipeline, type PipelineResult } from '../proc/pipeline.ts';
import { remoteDirWord, shellQuote, sshArgv, SSH_LOST } from '../remote/ssh.ts';
import { processAlive } from '../proc/pid.ts';
import { SMALL_MAX, stagingName, staleStaging, thisWriter, type OffsiteStore } from './store.ts';

type SshOffsite = Extract<OffsiteTarget, { kind: 'ssh' }>;

/** Lists the kinds' folders: `<size> <key>` per regular file, NUL-terminated (names are never trusted to lack newlines). */
const LIST = `cd -- "$R" 2>/dev/null || exit 0
for f in postgres/* postgres/.[!.]* media/* media/.[!.]*; do
  if [ -f "$f" ] && [ ! -h "$f" ]; then printf '%s %s\\0' "$(wc -c < "$f")" "$f"; fi
done`;

/** A regular file at "$R/$1", or exit 3 saying so. */
const REGULAR = `f="$R/$1"; if [ ! -f "$f" ] || [ -h "$f" ]; then echo "$1: no such file" >&2; exit 3; fi`;

/** Pure: the listing script's output as objects; anything malformed is skipped. */
export function parseSshListing(out: string): StoredObject[] {
  const objects: StoredObject[] = [];
  for (const entry of out.split('\0')) {
    const m = /^\s*(\d+) ((?:postgres|media)\/[^/]+)$/s.exec(entry);
    if (m) objects.push({ key: m[2]!, size: Number(m[1]), modified: null });
  }
  return objects;
}

export function openSshStore(target: SshOffsite, env: string): OffsiteStore {
  const root = envFolder(target.path, env);
  const me = thisWriter();
  const where = `${target.target}:${root}`;
  // The folder as a word of the remote shell: a leading ~ expands there, the rest is quoted.
  const prelude = `R=${remoteDirWord(target.path)}/${shellQuote(env)}; umask 077\n`;
  // One connection for the run's sessions; its socket's folder goes when this process exits.
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-ssh-'));
  process.once('exit', () => fs.rmSync(shared, { recursive: true, force: true }));
  const argv = (script: string, args: string[]) => sshArgv(target, ['sh', '-c', prelude + script, 'sh', ...args], { shareConnection: shared });

  const fail = (what: string, stderr: string, code: number | null): never => {
    const why = firstError(stderr);
    if (code === SSH_LOST) throw new FailedError(`cannot reach ${target.target} (offsite target "${target.name}") or lost the connection, ${what}: ${why || 'ssh exit 255'}`);
    if (NO_SPACE_TEXT.test(stderr)) throw new NoSpaceError(`${what} failed: no space left at ${where} (the disk there is full): ${why}`);
    throw new FailedError(`${what} at ${where} failed (exit ${code})${why ? `: ${why}` : ''}`);
  };
  const run = async (what: string, script: string, args: string[], input?: string | Buffer, maxBytes = SMALL_MAX): Promise<Captured> => {
    const c = await capture(argv(script, args), { input, maxBytes });
    if (c.code !== 0) fail(what, c.stderr, c.code);
    return c;
  };
  const failedRun = (what: string, res: PipelineResult): never => {
    const ssh = res.stages[0]!;
    if (ssh.spawnError) throw new FailedError(`${what}: ${ssh.spawnError}`);
    return fail(what, ssh.stderr, ssh.code);
  };

  const store: OffsiteStore = {
    target,
    where,
    async list() {
      return parseSshListing((await run('listing', LIST, [])).stdout);
    },
    async read(key, maxBytes = SMALL_MAX) {
      return (await run(`reading ${key}`, `${REGULAR}; exec cat -- "$f"`, [key], undefined, maxBytes)).stdoutBytes;
    },
    async open(key) {
      const held = heldOutput();
      void runPipeline({ stages: [{ name: 'ssh', argv: argv(`${REGULAR}; exec cat -- "$f"`, [key]) }], stdout: held.sink }).then((res) => {
        if (res.ok) held.close();
        else {
          try {
            failedRun(`reading ${key}`, res);
          } catch (err) {
            held.close(err as Error);
          }
        }
      });
      return held.readable;
    },
    async writeSmall(key, data) {
      const temp = stagingName(key, new Date(), me, crypto.randomBytes(4).toString('hex'));
      await run(`writing ${key}`, 'mkdir -p -- "$R/$3" && cat > "$R/$1" && mv -f -- "$R/$1" "$R/$2"', [temp, key, key.split('/')[0]!], data);
    },
    async stage(keys, body: Readable) {
      const temp = stagingName(keys.data, new Date(), me, crypto.randomBytes(4).toString('hex'));
      const discard = async () => {
        await capture(argv('rm -f -- "$R/$1"', [temp])).catch(() => undefined);
      };
      let bodyError: Error | null = null;
      body.once('error', (err) => (bodyError = err));
      const res = await runPipeline({
        stdin: body,
        stages: [{ name: 'ssh', argv: argv('mkdir -p -- "$R/$2" && exec cat > "$R/$1"', [temp, keys.data.split('/')[0]!]) }],
        stdout: 'ignore',
      });
      // The host's own failure first (a full disk there also breaks the body's pipe); a body that
      // failed on its side ends the remote `cat` like a complete one, so its own error decides then.
      if (!res.ok || bodyError) {
        await discard();
        if (!res.ok) failedRun(`writing ${keys.data}`, res);
        throw bodyError;
      }
      return {
        async commit(text) {
          const checksumTemp = stagingName(keys.checksum, new Date(), me, crypto.randomBytes(4).toString('hex'));
          const script =
            '{ sync -- "$R/$1" 2>/dev/null || sync; } && printf %s "$5" > "$R/$3" && mv -f -- "$R/$3" "$R/$4" && mv -f -- "$R/$1" "$R/$2"';
          try {
            await run(`publishing ${keys.data}`, script, [temp, keys.data, checksumTemp, keys.checksum, text]);
          } catch (err) {
            await discard();
            throw err;
          }
        },
        discard,
      };
    },
    async remove(key) {
      await run(`removing ${key}`, 'rm -f -- "$R/$1"', [key]);
    },
    async lockedUntil() {
      return null;
    },
    async hashThere(key) {
      const out = (await run(`sha256sum of ${key}`, `${REGULAR}; sha256sum -- "$f"`, [key])).stdout;
      const hash = /^\\?([0-9a-f]{64}) /.exec(out)?.[1];
      if (!hash) throw new FailedError(`sha256sum at ${where} gave no hash for ${key}`);
      return hash;
    },
    async sweep(now, listed) {
      const stale = staleStaging(listed, now, me, processAlive);
      if (stale.length) await run('removing leftovers', 'cd -- "$R" && rm -f -- "$@"', stale.map((o) => o.key));
      return stale.map((o) => o.key);
    },
  };
  return store;
}
