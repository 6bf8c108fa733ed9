#!/usr/bin/env -S npx zx
// List the backups in the tree, newest first. Files the tool did not make are not shown.
import { runCli } from '../lib/cli.ts';
import { listAll } from '../lib/catalog.ts';
import { formatListing, toListed } from '../lib/listing.ts';
import { result } from '../lib/log.ts';
import { collectStats, formatStats } from '../lib/stats.ts';

await runCli(
  {
    name: 'list-backups',
    summary:
      'List database and media backups (and safety snapshots), newest first.\n' +
      '--stats shows per kind: count, total size, newest and oldest, last success, growth per week, durations and sizes over time.',
    usage: '[--stats] [--env <name>] [--config <path>] [--json]',
    booleans: ['stats'],
  },
  async ({ settings, flags, now }) => {
    const at = now();
    if (flags.stats) {
      const stats = await collectStats(settings, at);
      result(flags.json ? JSON.stringify(stats, null, 2) : formatStats(stats, at, { sparkline: Boolean(process.stdout.isTTY) }));
      return;
    }
    const backups = await listAll(settings.backupDir);
    if (flags.json) result(JSON.stringify(backups.map((b) => toListed(b, at, settings.envName)), null, 2));
    else result(formatListing(backups, at, settings.envName));
  },
);
