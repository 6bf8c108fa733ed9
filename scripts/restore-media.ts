#!/usr/bin/env -S npx zx
// Restore a media backup. The file is opened once and checked whole (its manifest, the safety rules
// of every entry, room to unpack) before the question; a safety snapshot of the current media is
// taken, the archive is unpacked from that same open file beside the media, and swapped in only
// when unpacking succeeded and the bytes unpacked are the bytes checked.
import { runCli } from '../lib/cli/frame.ts';
import { resolveBackupArg } from '../lib/cli/backup-arg.ts';
import { confirm, requireConfirmable } from '../lib/cli/confirm.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes, plural } from '../lib/core/format.ts';
import { restoreMedia } from '../lib/media/restore.ts';
import { manifestForRestore } from '../lib/ops/verify.ts';
import { chooseSet } from '../lib/store/catalog.ts';
import { openSource } from '../lib/store/source.ts';

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
    const manifest = await manifestForRestore(file.path, file.parsed.name);
    const { stamp, seq } = await chooseSet(settings.backupDir, now(), ['media'], 'snapshot');
    const src = openSource(file.path);
    let r;
    try {
      r = await restoreMedia({
        settings,
        src,
        name: file.parsed.name,
        codec: file.parsed.codec,
        manifest,
        stamp,
        seq,
        confirm: () =>
          confirm({
            action: `This replaces the media folder ${settings.media.path} (${settings.envName}) with ${file.parsed.name}`,
            expected: settings.envName,
            yes: flags.yes,
          }),
      });
    } finally {
      src.close();
    }
    log.success(`media restored from ${file.parsed.name}: ${plural(r.check.files, 'file')}, ${humanBytes(r.check.bytes)}`);
    if (flags.json) {
      result(JSON.stringify({ restoredFrom: file.path, mediaPath: r.mediaPath, safetySnapshot: r.safetySnapshot, files: r.check.files, directories: r.check.directories, bytes: r.check.bytes }));
    } else if (r.safetySnapshot) result(r.safetySnapshot);
  },
);
