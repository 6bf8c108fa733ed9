#!/usr/bin/env -S npx zx
// What cron runs: lock, ping, full backup, verify, prune, log, ping. See crontab.example.
import { runCli } from '../lib/cli/frame.ts';
import { EXIT } from '../lib/cli/errors.ts';
import { result, setConsoleEcho } from '../lib/cli/output.ts';
import { runScheduled } from '../lib/ops/scheduled.ts';

await runCli(
  {
    name: 'scheduled-backup',
    summary:
      'The unattended run: takes a lock, pings Healthchecks.io, backs up database and media as one set, ' +
      'verifies the new files, prunes (only after success), appends to $BACKUP_DIR/backup.log.',
    usage: '[--env <name>] [--config <path>] [--quiet] [--json]\n\n  --quiet           write to backup.log only, not to stderr (for cron)',
    booleans: ['quiet'],
  },
  async ({ settings, flags, now }) => {
    if (flags.quiet) setConsoleEcho(false);
    const outcome = await runScheduled(settings, now);
    if (flags.json) result(JSON.stringify(outcome, null, 2));
    return outcome.ok ? EXIT.ok : EXIT.failed;
  },
);
