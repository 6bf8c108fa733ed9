#!/usr/bin/env -S npx zx
// Restore a database backup. The file is opened once and checked whole (its manifest, only what
// pg_dump writes, its footer, the server's version) before the question; it is loaded into a
// scratch database as the least privileged role that can, and only when it loaded completely, and
// is byte for byte what was checked, does it replace the live one, which is kept aside as a safety
// database (or, with restore.databaseSafetyCopy: dump, copied to a safety file and dropped).
import { resolveBackupArg } from '../lib/cli/backup-arg.ts';
import { runCli } from '../lib/cli/frame.ts';
import { confirm, requireConfirmable } from '../lib/cli/confirm.ts';
import { log, result } from '../lib/cli/output.ts';
import { totalRows } from '../lib/db/dump-scanner.ts';
import { openConnection } from '../lib/db/pg.ts';
import { restoreDatabase } from '../lib/db/restore.ts';
import { manifestForRestore } from '../lib/ops/verify.ts';
import { chooseSet } from '../lib/store/catalog.ts';
import { openSource } from '../lib/store/source.ts';

await runCli(
  {
    name: 'restore-db',
    summary: 'Restore a database backup (by name from the backup folder, or by path), after confirmation.',
    usage: '<backup_YYYY_MM_DDTHH_MM_SS.sql.zst|.sql.gz> [--yes] [--env <name>] [--config <path>] [--json]',
    positionals: { min: 1, max: 1 },
  },
  async ({ settings, flags, args, now }) => {
    const file = resolveBackupArg(args[0], settings.backupDir, 'database');
    requireConfirmable({ action: `Replacing the database (${settings.envName}) with ${file.parsed.name}`, yes: flags.yes });
    const manifest = await manifestForRestore(file.path, file.parsed.name);
    const src = openSource(file.path);
    try {
      const conn = openConnection(settings.database);
      const { stamp } = await chooseSet(settings.backupDir, now(), ['database'], 'snapshot');
      const r = await restoreDatabase({
        settings,
        conn,
        src,
        name: file.parsed.name,
        codec: file.parsed.codec,
        manifest,
        stamp,
        confirm: (database) =>
          confirm({
            action: `This replaces database "${database}" (${settings.envName}) with ${file.parsed.name}`,
            expected: database,
            yes: flags.yes,
          }),
      });
      log.success(`database "${r.database}" restored from ${file.parsed.name} (${totalRows(r)} rows)`);
      if (r.safetyDatabase) {
        log.info(
          `the replaced data is kept in database "${r.safetyDatabase}" (pruned by the snapshots policy); ` +
            `to undo, rename "${r.database}" aside and "${r.safetyDatabase}" to "${r.database}" (README: "Undoing a restore")`,
        );
      }
      const { database, safetyCopy, safetyDatabase, rows } = r;
      if (flags.json) result(JSON.stringify({ database, restoredFrom: file.path, safetyCopy, safetyDatabase, rows }));
      else if (safetyCopy ?? safetyDatabase) result((safetyCopy ?? safetyDatabase)!);
    } finally {
      src.close();
    }
  },
);
