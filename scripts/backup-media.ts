#!/usr/bin/env -S npx zx
// Archive the media folder into a new compressed backup and print its path. With incrementals on
// (config media.incremental), an incremental on top of the newest archive when its chain allows,
// else a full that starts a new chain; --full forces one.
import { runCli } from '../lib/cli/frame.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes, humanDuration, plural } from '../lib/core/format.ts';
import { backupMedia } from '../lib/media/backup.ts';
import { gate } from '../lib/ops/sanity.ts';
import { chooseSet } from '../lib/store/catalog.ts';

await runCli(
  {
    name: 'backup-media',
    summary: 'Archive the media folder into $BACKUP_DIR/media/media_backup_<UTC time>.tar.zst (or .tar.gz).',
    usage: '[--full] [--env <name>] [--config <path>] [--json]\n  --full   a full archive even when incrementals are on (starts a new chain)',
    booleans: ['full'],
  },
  async ({ settings, flags, now }) => {
    const at = now();
    const { stamp, seq } = await chooseSet(settings.backupDir, at, ['media']);
    log.info(`backing up the media folder ${settings.media.path} (${settings.envName}, ${settings.media.mode} mode)`);
    const b = await backupMedia({ settings, stamp, seq, forceFull: Boolean(flags.full), now: at });
    log.success(`${b.name}: ${plural(b.files, 'file')}, ${humanBytes(b.bytes)} → ${humanBytes(b.size)} in ${humanDuration(b.durationMs)}${b.warnings.length ? ` (${b.warnings.length} warnings)` : ''}`);
    result(
      flags.json
        ? JSON.stringify({ path: b.path, name: b.name, size: b.size, durationMs: b.durationMs, files: b.files, directories: b.directories, bytes: b.bytes, warnings: b.warnings, level: b.plan.level, parent: 'parent' in b.plan ? b.plan.parent : null })
        : b.path,
    );
    await gate(settings, b);
  },
);
