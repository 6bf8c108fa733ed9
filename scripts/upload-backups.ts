#!/usr/bin/env -S npx zx
// Copy local backups (and their manifests) into a remote environment's backup folder, e.g. to
// rebuild a new server from them. Each file is checked there by size and sha256 before it gets
// its name; an identical file already there is kept, a different one is never replaced.
// `--receive` is the other end of the transfer, run by this script on the remote host.
import { runCli } from '../lib/cli/frame.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes } from '../lib/core/format.ts';
import { parseReceive, receiveBackup, resolveUpload, sendBackups } from '../lib/remote/upload.ts';

await runCli(
  {
    // Not one of the contract's operations (nothing schedules or pings it), hence the cast.
    name: 'upload-backups',
    summary: 'Copy local backups (by name from the local backup folder, or by path) to a remote environment\'s backup folder.',
    usage: '<backup name or path>... --env <remote env> [--config <path>]',
    strings: ['receive', 'size', 'sha256'],
    positionals: { min: 0, max: 1000 },
    remote: 'local',
  },
  async ({ settings, config, flags, args }) => {
    if (flags.receive !== undefined) {
      if (settings.ssh) throw new UsageError('--receive is the remote end of upload-backups; it runs on the target host only');
      const { name, expected } = parseReceive(String(flags.receive), flags.size, flags.sha256);
      const r = await receiveBackup(settings.backupDir, name, expected);
      if (r.written) log.success(`${name.name} received: ${humanBytes(expected.size)}, size and sha256 match`);
      else log.success(`${name.name} is already here, identical; nothing written`);
      result(r.path);
      return;
    }
    if (!args.length) throw new UsageError('name the backups to upload; run list-backups to see them');
    if (!settings.ssh) {
      throw new UsageError(`environment "${settings.envName}" has no ssh target; upload to a remote environment, e.g. --env production`);
    }
    // Every name is checked before anything connects.
    const here = config.localBackupDir();
    const files = args.map((a) => resolveUpload(a, here));
    return sendBackups(settings.ssh, files);
  },
);
