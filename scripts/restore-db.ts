#!/usr/bin/env -S npx zx
// Restore a database backup. The dump is loaded into a scratch database first; only when it
// loaded completely does it replace the live one, which is kept aside as a safety database
// (or, with restore.databaseSafetyCopy: dump, copied to a safety file and dropped).
import { runCli } from '../lib/cli/frame.ts';
import { resolveBackupArg } from '../lib/cli/backup-arg.ts';
import { confirm, requireConfirmable } from '../lib/cli/confirm.ts';
import { log, result } from '../lib/cli/output.ts';
import { totalRows } from '../lib/db/dump-scanner.ts';
import { openConnection } from '../lib/db/pg.ts';
import { restoreDatabase } from '../lib/db/restore.ts';
import { startManifestCheck } from '../lib/ops/verify.ts';
import { chooseSet } from '../lib/store/catalog.ts';

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
    // A file altered since it was written is refused before the question and the safety copy;
    // its content (decompression, SQL, footer) is checked by the load into the scratch database.
    // Started now: it runs beside the other checks.
    const checksum = startManifestCheck(file.path);
    const conn = openConnection(settings.database);
    try {
      const { stamp } = await chooseSet(settings.backupDir, now(), ['database'], 'snapshot');
      const r = await restoreDatabase({
        settings,
        conn,
        file: file.path,
        codec: file.parsed.codec,
        stamp,
        checksum,
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
      conn.close();
    }
  },
);
