// Operations of an environment with an `ssh` target run on that host: the remote checkout runs
// the same script on its own config, so a backup or restore there never sends its data over
// the network. Only what must happen here happens here: flags that name local files are dropped,
// backup names are checked before connecting, and a restore is confirmed by the person at this
// terminal before anything runs remotely. Deciding what to forward is pure; runRemote is the effect.
import path from 'node:path';
import { interpretBackupArg } from '../cli/backup-arg.ts';
import { confirm } from '../cli/confirm.ts';
import { UsageError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { Settings, SshTarget } from '../config/resolve.ts';
import type { Operation } from '../config/schema.ts';
import { parseBackupName, type BackupKind } from '../core/naming.ts';
import { remoteScriptCommand, runSsh } from './ssh.ts';

/** Where a script runs for an environment with an ssh target. */
export type RemoteMode = 'dispatch' | 'local';

/** Flags that only make sense on this machine; the remote run picks its own. */
const LOCAL_ONLY_FLAGS = ['config', 'env'];

/**
 * Pure: the arguments the remote run gets: the ones given, in order, without `--config` (a local
 * file; the remote reads its own backup.config.yaml) and `--env` (remoteScriptCommand passes the
 * remote name), plus `--yes` once the person here has confirmed.
 */
export function forwardedArgs(raw: string[], opts: { confirmed: boolean }): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i]!;
    if (a === '--') {
      out.push(...raw.slice(i));
      break;
    }
    const flag = /^--([^=]+)(=.*)?$/s.exec(a);
    if (flag && LOCAL_ONLY_FLAGS.includes(flag[1]!)) {
      if (flag[2] === undefined) i++; // `--config path`: the value is the next argument
      continue;
    }
    out.push(a);
  }
  if (opts.confirmed && !out.includes('--yes')) out.push('--yes');
  return out;
}

/** The backup argument of operations that take one, and the kind it must be (null: either). */
const BACKUP_ARG: Partial<Record<Operation, BackupKind | null>> = {
  'restore-db': 'database',
  'restore-media': 'media',
  verify: null,
};

/**
 * Pure: refuse a bad backup name (exit 2) before connecting, with the same rules as the remote
 * side. Paths are left to the remote host, where they mean something.
 */
export function checkRemoteArgs(op: Operation, args: string[]): void {
  if (!(op in BACKUP_ARG)) return;
  const kind = BACKUP_ARG[op];
  const arg = args[0];
  if (arg === undefined) return;
  if (kind) {
    interpretBackupArg(arg, '/', kind);
  } else if (arg.includes('\0') || !parseBackupName(path.posix.basename(arg))) {
    throw new UsageError(`"${arg}" is not a backup name this tool makes; run list-backups to see the names`);
  }
}

export interface RemoteConfirmation {
  action: string;
  /** The word to type: the environment's name, which says "production" where it matters. */
  expected: string;
}

/** Pure: what a remote operation replaces, for the local confirmation; null when it replaces nothing. */
export function remoteConfirmation(op: Operation, args: string[], settings: Pick<Settings, 'envName'> & { ssh: Pick<SshTarget, 'target'> }): RemoteConfirmation | null {
  const what = op === 'restore-db' ? 'the database' : op === 'restore-media' ? 'the media folder' : null;
  if (!what) return null;
  const from = path.posix.basename(args[0] ?? '');
  return {
    action: `This replaces ${what} on ${settings.ssh.target} (${settings.envName}) with ${from}`,
    expected: settings.envName,
  };
}

export interface RemoteRun {
  op: Operation;
  /** The script's arguments as given on the command line. */
  raw: string[];
  /** Positional arguments, parsed. */
  args: string[];
  yes: boolean;
  settings: Settings & { ssh: SshTarget };
}

/**
 * Run the operation on the environment's host: check names, confirm here, then stream the
 * remote run's output live and return its exit code. ssh's own failure (exit 255) throws.
 */
export async function runRemote(r: RemoteRun): Promise<number> {
  const { ssh } = r.settings;
  checkRemoteArgs(r.op, r.args);
  const question = remoteConfirmation(r.op, r.args, r.settings);
  if (question) await confirm({ ...question, yes: r.yes });
  const args = forwardedArgs(r.raw, { confirmed: question !== null });
  log.info(`${r.op} on ${ssh.target} (${r.settings.envName}, in ${ssh.projectDir})`);
  // stdin stays here: the remote run never prompts (confirmations were asked above).
  return runSsh(ssh, remoteScriptCommand(ssh, r.op, args));
}
