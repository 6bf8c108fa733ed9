// Operations of an environment with an `ssh` target run on that host, through the system `ssh` client.
// Command lines are built by pure functions (table-tested); they run through lib/proc like every
// other command (runSsh for a live remote run, capture and runPipeline for data).
// The client never prompts (BatchMode), trusts only known host keys, gives up on a dead link,
// and its exit code is the remote one, except 255, which ssh keeps for its own failures.
import { FailedError, UsageError } from '../cli/errors.ts';
import type { SshEndpoint, SshTarget } from '../config/resolve.ts';
import { runPipeline } from '../proc/pipeline.ts';
import { stopRequested } from '../proc/signals.ts';

/** ssh's exit code for its own failures: no connection, host key refused, auth refused, link lost. */
export const SSH_LOST = 255;

/**
 * POSIX single-quote quoting: the result is one shell word that means exactly `arg`,
 * whatever bytes it holds. Always quoted, so that no element can turn into an
 * assignment, a reserved word, an alias or a tilde on the remote side.
 */
export function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * A path as one value of an ssh `-o` option. ssh splits option values on blanks (honouring
 * quotes and backslashes) and expands `%` tokens in file options, so both are escaped.
 */
export function sshOptionPath(p: string): string {
  const escaped = p.replaceAll('%', '%%');
  if (!/[\s"'\\#]/.test(escaped)) return escaped;
  return `"${escaped.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * The argv of the local `ssh` that runs `remoteCommand` on the target. The remote side hands
 * the command line to the login shell, so every element is quoted into one string.
 * `tty` is only for interactive prompts: a pseudo-terminal mangles binary streams and merges stderr.
 */
export function sshArgv(t: SshEndpoint, remoteCommand: string[], opts: { tty?: boolean; shareConnection?: string } = {}): string[] {
  if (t.identityFile?.includes('%')) {
    // ssh reads `-i` as a token template and has no escape that also passes its own existence check.
    throw new UsageError(`ssh.identityFile ${t.identityFile}: ssh cannot use a key whose path holds "%"; rename or link it`);
  }
  return [
    'ssh',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `ConnectTimeout=${t.connectTimeout}`,
    // A silent link is declared lost after 45 s instead of hanging until TCP gives up.
    '-o', 'ServerAliveInterval=15',
    '-o', 'ServerAliveCountMax=3',
    ...(t.knownHostsFile ? ['-o', `UserKnownHostsFile=${sshOptionPath(t.knownHostsFile)}`] : []),
    ...(t.port ? ['-p', String(t.port)] : []),
    ...(t.identityFile ? ['-i', t.identityFile, '-o', 'IdentitiesOnly=yes'] : []),
    ...(opts.shareConnection ? connectionSharing(opts.shareConnection) : []),
    opts.tty ? '-t' : '-T',
    '--',
    t.target,
    remoteCommand.map(shellQuote).join(' '),
  ];
}

/**
 * Options that let the many short sessions of one run (an offsite push: a listing, then three
 * sessions per copy) share one connection: the first becomes the master, on a socket in `dir`
 * (a private folder of this run), and it exits by itself once idle for a few seconds, so nothing
 * outlives the run for long, even one killed with SIGKILL.
 */
export function connectionSharing(dir: string): string[] {
  return ['-o', 'ControlMaster=auto', '-o', `ControlPath=${sshOptionPath(`${dir}/%C`).replaceAll('%%C', '%C')}`, '-o', 'ControlPersist=5'];
}

/**
 * The project folder as a remote shell word. A leading `~` or `~user` stays unquoted so the
 * remote shell expands it to that host's home; the rest is quoted. A relative folder is
 * relative to the remote login directory (the home), as with scp.
 */
export function remoteDirWord(dir: string): string {
  const tilde = /^(~[A-Za-z0-9._-]*)(\/.*)?$/s.exec(dir);
  if (!tilde) return shellQuote(dir);
  const [, prefix, rest = ''] = tilde;
  return rest.length > 1 ? `${prefix}/${shellQuote(rest.slice(1))}` : `${prefix}${rest}`;
}

/**
 * The remote command that runs one of this toolkit's scripts in the remote checkout, for sshArgv.
 *
 * It is returned as an argv, `['sh', '-c', <script>]`, rather than as a raw string: sshArgv quotes
 * each element, and the `cd ... && ...` list needs a shell of its own, so `sh -c` gives one that
 * is the same on every host whatever the user's login shell is. Inside it everything but the
 * `~` prefix of the folder is quoted. COMPOSE_BACKUP_ON_HOST=1 tells the remote run that it is
 * already on its host (so it does not follow its own `ssh` target). A missing folder exits 2
 * (bad config) before anything runs; `exec` hands the remote exit code straight back.
 */
export function remoteScriptCommand(t: SshTarget, script: string, args: string[]): string[] {
  if (!/^[a-z][a-z0-9-]*$/.test(script)) throw new Error(`not a script name: ${JSON.stringify(script)}`);
  const zx = ['npx', 'zx', `scripts/${script}.ts`, '--env', t.remoteEnv, ...args].map(shellQuote).join(' ');
  return ['sh', '-c', `cd -- ${remoteDirWord(t.projectDir)} || exit 2; COMPOSE_BACKUP_ON_HOST=1 exec ${zx}`];
}

/**
 * Run a command on the target with its output streaming live to this terminal or log, and resolve
 * with its exit code (for the caller's process.exitCode). ssh's own failures (exit 255) throw a
 * FailedError that says what to check. No local shell is involved: the argv goes straight to ssh.
 * stdin stays here unless `tty` (an interactive prompt there): the remote run never reads it.
 */
export async function runSsh(t: SshTarget, remoteCommand: string[], opts: { tty?: boolean } = {}): Promise<number> {
  const res = await runPipeline({
    stages: [{ name: 'ssh', argv: sshArgv(t, remoteCommand, { tty: opts.tty }), stderr: 'inherit' }],
    stdin: opts.tty ? 'inherit' : 'ignore',
    stdout: 'inherit',
  });
  const ssh = res.stages[0]!;
  if (ssh.spawnError) {
    throw new FailedError(ssh.spawnCode === 'ENOENT' ? 'the ssh client is not installed here (apt-get install openssh-client)' : `cannot start ssh: ${ssh.spawnError}`);
  }
  // ssh exits 255 when it is killed after connecting ("Killed by signal 15"): not a lost link.
  if (stopRequested()) throw new FailedError(`ssh to ${t.target} was stopped by a signal from this process`);
  if (ssh.code === SSH_LOST) throw new FailedError(lostMessage(t));
  if (ssh.code === null) throw new FailedError(`ssh to ${t.target} was stopped by ${ssh.signal}`);
  return ssh.code;
}

function lostMessage(t: SshTarget): string {
  // The same options, with a remote `true`: a command to paste into a terminal.
  const probe = [...sshArgv(t, []).slice(0, -1), 'true'].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : shellQuote(a)));
  return (
    `ssh to ${t.target} failed (exit ${SSH_LOST}): it could not connect, the host key is not in ` +
    `${t.knownHostsFile ?? 'known_hosts'}, the key was refused, or the connection was lost; ` +
    `ssh's reason is printed above; check with: ${probe.join(' ')}`
  );
}
