#!/usr/bin/env -S npx zx
// Copy a backup to this machine: from a remote environment (as `<env>_backup_…`, checked by size
// and sha256 against the remote file), or with --from from an offsite target (decrypted with
// --identity, checked against its manifest). Runs here (it reaches the remote host itself).
import { runCli } from '../lib/cli/frame.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes, plural } from '../lib/core/format.ts';
import { fetchFromTarget } from '../lib/ops/offsite.ts';
import { downloadBackup, parseKindArg, parseRemoteName } from '../lib/remote/download.ts';

await runCli(
  {
    name: 'download-backup',
    summary:
      'Copy a backup (and its manifest) into this machine\'s backup folder: from a remote environment as <env>_backup_…,\n' +
      'an incremental media backup with every archive of its chain not here yet (so it restores here),\n' +
      'or with --from <target> from an offsite target (decrypted with --identity, checked against its manifest).',
    usage: '<postgres|media> <backup name> (--env <remote env> | --from <target> [--identity <file>]) [--config <path>] [--json]',
    strings: ['from', 'identity'],
    positionals: { min: 2, max: 2 },
    remote: 'local',
  },
  async ({ settings, config, flags, args }) => {
    // Names are checked before anything connects.
    const name = parseRemoteName(args[1], parseKindArg(args[0]));
    if (flags.from !== undefined) {
      const all = await fetchFromTarget(settings, config, name, { from: flags.from, identity: flags.identity as string | undefined });
      for (const d of all) {
        if (d.transferred) log.success(`${d.name}: ${humanBytes(d.size)} fetched from ${flags.from}, decrypted, size and sha256 match its manifest`);
        else log.success(`${d.name} is already here, identical to the copy at ${flags.from}; nothing fetched`);
      }
      if (all.length > 1) log.info(`${name.name} is an incremental: the ${all.length - 1} archives it builds on came with it, so it restores here`);
      const d = all[all.length - 1]!;
      result(flags.json ? JSON.stringify(all.length > 1 ? { ...d, chain: all } : d) : d.path);
      return;
    }
    if (flags.identity !== undefined) throw new UsageError('--identity goes with --from <target>');
    if (!settings.ssh) {
      throw new UsageError(`environment "${settings.envName}" has no ssh target; download from a remote environment, e.g. --env production, or from an offsite target with --from`);
    }
    const d = await downloadBackup({ target: settings.ssh, envName: settings.envName, name, backupDir: config.localBackupDir() });
    if (d.transferred) log.success(`${d.name}: ${humanBytes(d.size)} downloaded, size and sha256 match ${settings.ssh.target}`);
    else log.success(`${d.name} is already here, identical to the one on ${settings.ssh.target}; nothing downloaded`);
    if (d.chain.length) {
      const fetched = d.chain.filter((c) => c.transferred);
      const size = fetched.reduce((n, c) => n + c.size, 0);
      log.success(
        `its chain is here too, so it restores here: ${plural(d.chain.length, 'archive')} it builds on (from ${d.chain[0]!.name}), ` +
          (fetched.length ? `${fetched.length} downloaded (${humanBytes(size)})` : 'none downloaded') +
          (fetched.length < d.chain.length ? `, ${d.chain.length - fetched.length} already here` : ''),
      );
    }
    // As with --from: an incremental's JSON lists its whole chain, full first, itself last.
    const { chain, ...point } = d;
    result(flags.json ? JSON.stringify(chain.length ? { ...point, chain: [...chain, point] } : point) : d.path);
  },
);
