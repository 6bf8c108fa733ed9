#!/usr/bin/env -S npx zx
// Archive the media folder into a new compressed backup and print its path.
import { runCli } from '../lib/cli.ts';
import { backupMedia, plural } from '../lib/media.ts';
import { chooseSet } from '../lib/writer.ts';
import { log, result } from '../lib/log.ts';
import { humanBytes, humanDuration } from '../lib/catalog.ts';
import { gate } from '../lib/sanity.ts';

await runCli(
  {
    name: 'backup-media',
    summary: 'Archive the media folder into $BACKUP_DIR/media/media_backup_<UTC time>.tar.zst (or .tar.gz).',
    usage: '[--env <name>] [--config <path>] [--json]',
  },
  async ({ settings, flags, now }) => {
    const { stamp, seq } = await chooseSet(settings.backupDir, now(), ['media']);
    log.info(`backing up the media folder ${settings.media.path} (${settings.envName}, ${settings.media.mode} mode)`);
    const b = await backupMedia({ settings, stamp, seq });
    log.success(`${b.name}: ${plural(b.files, 'file')}, ${humanBytes(b.bytes)} → ${humanBytes(b.size)} in ${humanDuration(b.durationMs)}${b.warnings.length ? ` (${b.warnings.length} warnings)` : ''}`);
    result(
      flags.json
        ? JSON.stringify({ path: b.path, name: b.name, size: b.size, durationMs: b.durationMs, files: b.files, directories: b.directories, bytes: b.bytes, warnings: b.warnings })
        : b.path,
    );
    await gate(settings, b);
  },
);
