#!/usr/bin/env -S npx zx
// Restore a database backup. The file is opened once and checked whole (its manifest, only what
// pg_dump writes, its footer, the server's version) before the question; it is loaded into a
// scratch database as the least privileged role that can, and only when it loaded completely, and
// is byte for byte what was checked, does it replace the live one, which is kept aside as a safety
// database (or, with restore.databaseSafetyCopy: dump, copied to a safety file and dropped).
import { resolveBackupArg } from '../lib/cli/backup-arg.ts';
import { runCli } from '../lib/cli/frame.ts';
import { requireConfirmable } from '../lib/cli/confirm.ts';
import { result } from '../lib/cli/output.ts';
import { restoreDatabaseFile } from '../lib/ops/restore.ts';

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
    const r = await restoreDatabaseFile(settings, { path: file.path, name: file.parsed.name, codec: file.parsed.codec }, { yes: flags.yes, now: now() });
    const { database, safetyCopy, safetyDatabase, rows } = r;
    if (flags.json) result(JSON.stringify({ database, restoredFrom: file.path, safetyCopy, safetyDatabase, rows }));
    else if (safetyCopy ?? safetyDatabase) result((safetyCopy ?? safetyDatabase)!);
  },
);
