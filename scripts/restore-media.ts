#!/usr/bin/env -S npx zx
// Restore a media backup. The whole archive is checked first (a hostile or damaged one changes
// nothing), a safety snapshot of the current media is taken, and the archive is unpacked beside
// the media and swapped in only when unpacking succeeded.
import { runCli } from '../lib/cli/frame.ts';
import { resolveBackupArg } from '../lib/cli/backup-arg.ts';
import { confirm, requireConfirmable } from '../lib/cli/confirm.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes, plural } from '../lib/core/format.ts';
import { restoreMedia } from '../lib/media/restore.ts';
import { startManifestCheck } from '../lib/ops/verify.ts';
import { chooseSet } from '../lib/store/catalog.ts';

await runCli(
  {
    name: 'restore-media',
    summary: 'Restore a media backup (by name from the backup folder, or by path), after confirmation and a safety snapshot.',
    usage: '<media_backup_YYYY_MM_DDTHH_MM_SS.tar.zst|.tar.gz> [--yes] [--env <name>] [--config <path>] [--json]',
    positionals: { min: 1, max: 1 },
  },
  async ({ settings, flags, args, now }) => {
    const file = resolveBackupArg(args[0], settings.backupDir, 'media');
    requireConfirmable({ action: `Replacing the media folder ${settings.media.path} (${settings.envName}) with ${file.parsed.name}`, yes: flags.yes });
    // Started now, awaited in restoreMedia beside the archive's listing.
    const checksum = startManifestCheck(file.path);
    const { stamp, seq } = await chooseSet(settings.backupDir, now(), ['media'], 'snapshot');
    const r = await restoreMedia({
      settings,
      file: file.path,
      name: file.parsed.name,
      codec: file.parsed.codec,
      stamp,
      seq,
      checksum,
      confirm: () =>
        confirm({
          action: `This replaces the media folder ${settings.media.path} (${settings.envName}) with ${file.parsed.name}`,
          expected: settings.envName,
          yes: flags.yes,
        }),
    });
    log.success(`media restored from ${file.parsed.name}: ${plural(r.check.files, 'file')}, ${humanBytes(r.check.bytes)}`);
    if (flags.json) {
      result(JSON.stringify({ restoredFrom: file.path, mediaPath: r.mediaPath, safetySnapshot: r.safetySnapshot, files: r.check.files, directories: r.check.directories, bytes: r.check.bytes }));
    } else if (r.safetySnapshot) result(r.safetySnapshot);
  },
);
