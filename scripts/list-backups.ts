#!/usr/bin/env -S npx zx
// List the backups in the tree, newest first. Files the tool did not make are not shown.
import { runCli } from '../lib/cli.ts';
import { listAll } from '../lib/catalog.ts';
import { formatListing, toListed } from '../lib/listing.ts';
import { result } from '../lib/log.ts';

await runCli(
  {
    name: 'list-backups',
    summary: 'List database and media backups (and safety snapshots), newest first.',
    usage: '[--env <name>] [--config <path>] [--json]',
  },
  async ({ settings, flags, now }) => {
    const backups = await listAll(settings.backupDir);
    const at = now();
    if (flags.json) result(JSON.stringify(backups.map((b) => toListed(b, at, settings.envName)), null, 2));
    else result(formatListing(backups, at, settings.envName));
  },
);
