#!/usr/bin/env -S npx zx
// Restore a media backup. The file (and, for an incremental, every archive of its chain) is opened
// once and checked whole (manifests, the chain's links, the safety rules of every entry, room to
// unpack) before the question; a safety snapshot of the current media is taken, the archives are
// unpacked from those same open files beside the media, and swapped in only when unpacking
// succeeded and the bytes unpacked are the bytes checked.
import { runCli } from '../lib/cli/frame.ts';
import { resolveBackupArg } from '../lib/cli/backup-arg.ts';
import { requireConfirmable } from '../lib/cli/confirm.ts';
import { result } from '../lib/cli/output.ts';
import { restoreMediaFile } from '../lib/ops/restore.ts';

await runCli(
  {
    name: 'restore-media',
    summary: 'Restore a media backup (by name from the backup folder, or by path), after confirmation and a safety snapshot. An incremental restores with its whole chain.',
    usage: '<media_backup_YYYY_MM_DDTHH_MM_SS[.incN].tar.zst|.tar.gz> [--yes] [--env <name>] [--config <path>] [--json]',
    positionals: { min: 1, max: 1 },
  },
  async ({ settings, flags, args, now }) => {
    const file = resolveBackupArg(args[0], settings.backupDir, 'media');
    requireConfirmable({ action: `Replacing the media folder ${settings.media.path} (${settings.envName}) with ${file.parsed.name}`, yes: flags.yes });
    const r = await restoreMediaFile(settings, { path: file.path, name: file.parsed.name, codec: file.parsed.codec }, { yes: flags.yes, now: now() });
    if (flags.json) {
      const { files, directories, bytes } = r.total;
      result(JSON.stringify({ restoredFrom: file.path, chain: r.checks.length, mediaPath: r.mediaPath, safetySnapshot: r.safetySnapshot, files, directories, bytes }));
    } else if (r.safetySnapshot) result(r.safetySnapshot);
  },
);
