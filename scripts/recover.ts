#!/usr/bin/env -S npx zx
// Recover this environment from an offsite target, on an empty or new server: the newest set there
// (or the one made at or before --at) is fetched, decrypted with --identity, verified, and restored
// (database and media), with restore-db's and restore-media's confirmations and safety rules.
import { runCli } from '../lib/cli/frame.ts';
import { requireConfirmable } from '../lib/cli/confirm.ts';
import { UsageError } from '../lib/cli/errors.ts';
import { log, result } from '../lib/cli/output.ts';
import { parseAtTime } from '../lib/core/offsite-plan.ts';
import { identityFor, oneTarget } from '../lib/ops/offsite.ts';
import { recover } from '../lib/ops/recover.ts';

await runCli(
  {
    name: 'recover',
    summary:
      'Recover this environment from an offsite target: fetch the newest set there (or the newest made at or before --at),\n' +
      'decrypt it with --identity, verify it, and restore the database and the media, after confirmation.',
    usage: '--from <target> --identity <file> [--at <time>] [--yes] [--env <name>] [--config <path>] [--json]',
    strings: ['from', 'identity', 'at'],
    remote: 'local',
  },
  async ({ settings, flags, now }) => {
    if (settings.ssh) {
      throw new UsageError(
        `recover runs on the server being recovered, and environment "${settings.envName}" names another host (ssh: ${settings.ssh.target}); ` +
          'run it there, with COMPOSE_BACKUP_ON_HOST=1 set as in the crontab',
      );
    }
    const target = oneTarget(settings, flags.from, '--from');
    const identity = identityFor(target, flags.identity as string | undefined, 'recover');
    const at = typeof flags.at === 'string' ? parseAtTime(flags.at) : null;
    requireConfirmable({ action: `Recovering ${settings.envName} (its database and media folder) from ${target.name}`, yes: flags.yes });
    const r = await recover({ settings, target, identity, at, yes: flags.yes, now });
    log.success(
      `${settings.envName} recovered from ${target.name}: ${[r.database && `database "${r.database.restored.database}" from ${r.database.fetched.name}`, r.media && `media from ${r.media.fetched.name}`].filter(Boolean).join(', ')}`,
    );
    if (flags.json) {
      result(
        JSON.stringify({
          target: r.target,
          where: r.where,
          database: r.database && { backup: r.database.fetched.path, database: r.database.restored.database, safetyDatabase: r.database.restored.safetyDatabase, safetyCopy: r.database.restored.safetyCopy, rows: r.database.restored.rows },
          media: r.media && { backup: r.media.fetched.path, mediaPath: r.media.restored.mediaPath, safetySnapshot: r.media.restored.safetySnapshot, files: r.media.restored.check.files },
        }),
      );
    } else {
      for (const p of [r.database?.fetched.path, r.media?.fetched.path]) if (p) result(p);
    }
  },
);
