#!/usr/bin/env -S npx zx
// Back up the database, then the media, as one set sharing one timestamp. A failure of one
// half does not stop the other; the exit code is 1 when either failed.
import { runCli } from '../lib/cli/frame.ts';
import { EXIT } from '../lib/cli/errors.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes, humanDuration } from '../lib/core/format.ts';
import { openConnection } from '../lib/db/pg.ts';
import { backupSet, type HalfResult } from '../lib/ops/backup-set.ts';
import { gate } from '../lib/ops/sanity.ts';

await runCli(
  {
    name: 'backup-full',
    summary: 'Back up the database and the media folder as one set (same UTC timestamp).',
    usage: '[--env <name>] [--config <path>] [--json]',
  },
  async ({ settings, flags, now }) => {
    // A malformed DATABASE_URL is bad usage (exit 2) before either half starts.
    const conn = openConnection(settings.database);
    log.info(`backing up the database, then the media (${settings.envName})`);
    const results: HalfResult[] = await backupSet(settings, conn, now(), (r) => {
      if (r.backup) {
        log.success(`${r.half} backup done: ${r.backup.name}, ${humanBytes(r.backup.size)} in ${humanDuration(r.backup.durationMs)}`);
        if (!flags.json) result(r.backup.path);
      } else if (r.skipped) log.info(`note: ${r.skipped}`);
      else log.error(r.error!);
    });
    const failed = results.filter((r) => r.error !== null).map((r) => r.half);
    if (flags.json) {
      const brief = (half: string) => {
        const b = results.find((r) => r.half === half)?.backup;
        return b ? { path: b.path, name: b.name, size: b.size, durationMs: b.durationMs } : null;
      };
      result(JSON.stringify({ database: brief('database'), media: brief('media'), failed }));
    }
    // The sanity gate looks at what was made even when the other half failed.
    await gate(settings, results.flatMap((r) => (r.backup ? [r.backup] : []))).catch((err: Error) => {
      if (!failed.length) throw err;
      log.error(err.message);
    });
    if (failed.length) {
      const made = results.filter((r) => r.backup).map((r) => r.half);
      log.error(`backup-full: ${failed.join(' and ')} backup failed${made.length ? `; the ${made.join(' and ')} backup was made` : ''}`);
      return EXIT.failed;
    }
  },
);
