#!/usr/bin/env -S npx zx
// Copy a backup from a remote environment to this machine, as `<env>_backup_…`, checked by size
// and sha256 against the remote file. Runs here (it reaches the remote host itself).
import { runCli } from '../lib/cli/frame.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes } from '../lib/core/format.ts';
import { downloadBackup, parseKindArg, parseRemoteName } from '../lib/remote/download.ts';

await runCli(
  {
    name: 'download-backup',
    summary: 'Copy a backup (and its manifest) from a remote environment into this machine\'s backup folder as <env>_backup_….',
    usage: '<postgres|media> <backup name> --env <remote env> [--config <path>] [--json]',
    positionals: { min: 2, max: 2 },
    remote: 'local',
  },
  async ({ settings, config, flags, args }) => {
    // Names are checked before anything connects.
    const name = parseRemoteName(args[1], parseKindArg(args[0]));
    if (!settings.ssh) {
      throw new UsageError(`environment "${settings.envName}" has no ssh target; download from a remote environment, e.g. --env production`);
    }
    const d = await downloadBackup({ target: settings.ssh, envName: settings.envName, name, backupDir: config.localBackupDir() });
    if (d.transferred) log.success(`${d.name}: ${humanBytes(d.size)} downloaded, size and sha256 match ${settings.ssh.target}`);
    else log.success(`${d.name} is already here, identical to the one on ${settings.ssh.target}; nothing downloaded`);
    result(flags.json ? JSON.stringify(d) : d.path);
  },
);
