#!/usr/bin/env -S npx zx
// Dump PostgreSQL into a new compressed backup and print its path.
import { runCli } from '../lib/cli/frame.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes, humanDuration } from '../lib/core/format.ts';
import { backupDatabase } from '../lib/db/dump.ts';
import { openConnection } from '../lib/db/pg.ts';
import { gate } from '../lib/ops/sanity.ts';
import { chooseSet } from '../lib/store/catalog.ts';

await runCli(
  {
    name: 'backup-db',
    summary: 'Dump the PostgreSQL database into $BACKUP_DIR/postgres/backup_<UTC time>.sql.zst (or .sql.gz).',
    usage: '[--env <name>] [--config <path>] [--json]',
  },
  async ({ settings, flags, now }) => {
    const conn = openConnection(settings.database);
    const { stamp, seq } = await chooseSet(settings.backupDir, now(), ['database']);
    log.info(`backing up the database (${settings.envName}, ${settings.database.mode} mode)`);
    const b = await backupDatabase({ settings, conn, stamp, seq });
    log.success(`${b.name}: ${humanBytes(b.size)} in ${humanDuration(b.durationMs)}`);
    result(flags.json ? JSON.stringify({ path: b.path, name: b.name, size: b.size, durationMs: b.durationMs }) : b.path);
    // After the path is printed: a backup that trips the gate is kept, and the run fails.
    await gate(settings, b);
  },
);
