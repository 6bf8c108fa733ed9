#!/usr/bin/env -S npx zx
// Check backups' integrity: one line per backup on stdout, exit 1 if any fails.
// --drill also restores the newest backups into a throwaway database and folder.
import path from 'node:path';
import { runCli } from '../lib/cli/frame.ts';
import { resolveBackupArg } from '../lib/cli/backup-arg.ts';
import { EXIT, UsageError } from '../lib/cli/errors.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes, plural } from '../lib/core/format.ts';
import { parseBackupName } from '../lib/core/naming.ts';
import { formatDrillLine, formatVerifyLine, selectForVerify, type DrillResult, type VerifyResult } from '../lib/core/verdicts.ts';
import { openConnection } from '../lib/db/pg.ts';
import { lookUpSafetyDatabases } from '../lib/db/safety-dbs.ts';
import { repairMediaOnTheSide } from '../lib/media/repair.ts';
import { runDrill } from '../lib/ops/drill.ts';
import { backupFileAt, verifyBackup } from '../lib/ops/verify.ts';
import { listAll, type BackupFile } from '../lib/store/catalog.ts';

await runCli(
  {
    name: 'verify',
    summary:
      'Check backups: checksum against the manifest, full decompression, a dump\'s completion footer and contents,\n' +
      'an archive\'s full listing and safety rules. Default: the newest database and media backup of this environment.\n' +
      '--all checks every backup (safety snapshots and downloaded copies too); --drill also restores the newest\n' +
      'backups into a throwaway database and a temporary folder and compares row and file counts.',
    usage: '[<backup file or name>] [--all] [--drill] [--env <name>] [--config <path>] [--json]',
    booleans: ['all', 'drill'],
    positionals: { min: 0, max: 1 },
  },
  async ({ settings, flags, args, now }) => {
    // Like every operation that touches the database: repair what a killed run left there, when the
    // server can be reached (verify itself reads only files, so an unreachable one is no failure).
    // The same for the media folder (a restore killed in its swap is completed or rolled back).
    if (!settings.ssh) await Promise.all([lookUpSafetyDatabases(settings.database), repairMediaOnTheSide(settings.media)]);
    const arg = args[0];
    if (arg !== undefined && flags.all) throw new UsageError('give either a backup or --all, not both');
    let targets: BackupFile[];
    if (arg !== undefined) {
      // The name says which kind it is (and so which folder a bare name is in).
      const kind = parseBackupName(path.basename(arg))?.kind ?? 'database';
      targets = [await backupFileAt(resolveBackupArg(arg, settings.backupDir, kind).path)];
    } else {
      targets = selectForVerify(await listAll(settings.backupDir), Boolean(flags.all), now());
    }
    if (!targets.length) {
      log.warn(`nothing to verify: no backups of environment "${settings.envName}" in ${settings.backupDir}`);
      if (flags.json) result(JSON.stringify({ ok: true, backups: [], drill: null }, null, 2));
      return EXIT.ok;
    }

    const checked: VerifyResult[] = [];
    for (const b of targets) {
      log.info(`verifying ${b.name} (${humanBytes(b.size)})`);
      const r = await verifyBackup(b);
      checked.push(r);
      if (!flags.json) result(formatVerifyLine(r));
    }

    let drill: DrillResult | null = null;
    if (flags.drill) {
      // A named backup is drilled itself; otherwise the newest of each kind, whatever --all says.
      const drilled = arg !== undefined ? targets : selectForVerify(targets, false, now());
      drill = await runDrill(openConnection(settings.database), drilled);
      if (!flags.json) for (const p of drill.parts) result(formatDrillLine(p));
    }

    const failed = checked.filter((r) => !r.ok).length;
    const drillFailed = drill ? drill.parts.filter((p) => !p.ok).length : 0;
    const ok = failed === 0 && drillFailed === 0;
    if (flags.json) result(JSON.stringify({ ok, backups: checked, drill }, null, 2));
    if (failed) log.error(`${failed} of ${plural(checked.length, 'backup')} failed verification`);
    if (drillFailed) log.error(`the restore drill failed for ${drillFailed} of ${plural(drill!.parts.length, 'backup')}`);
    if (ok) log.success(`${plural(checked.length, 'backup')} verified${drill ? `, restore drill passed (${drill.parts.length})` : ''}`);
    return ok ? EXIT.ok : EXIT.failed;
  },
);
