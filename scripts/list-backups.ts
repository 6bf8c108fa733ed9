#!/usr/bin/env -S npx zx
// List the backups in the tree, newest first. Files the tool did not make are not shown. The
// safety databases restore-db kept are asked of the server on the side: if it does not answer,
// one note, and the files are listed all the same.
import { runCli } from '../lib/cli/frame.ts';
import { log, result } from '../lib/cli/output.ts';
import { formatListing, toListed, toListedDatabase, type SafetyDatabases } from '../lib/core/listing.ts';
import { lookUpSafetyDatabases } from '../lib/db/safety-dbs.ts';
import { listAll } from '../lib/store/catalog.ts';

await runCli(
  {
    name: 'list-backups',
    summary:
      'List database and media backups (and safety snapshots, and the safety databases restores kept), newest first.\n' +
      '--stats shows per kind: count, total size, newest and oldest, last success, growth per week, durations and sizes over time.\n' +
      '--offsite <target> lists the copies at that offsite target (sizes, ages, state) and the local backups not there yet.',
    usage: '[--stats | --offsite <target>] [--env <name>] [--config <path>] [--json]',
    booleans: ['stats'],
    strings: ['offsite'],
  },
  async ({ settings, flags, now }) => {
    const at = now();
    // --offsite and --stats import what they need when asked: the plain listing, the one run
    // most often, does not load the offsite stores or the statistics (test/unit/cli/imports.test.ts).
    if (flags.offsite !== undefined) {
      const [{ oneTarget }, { openStore }, { surveyTarget }, { formatOffsiteListing, offsiteListing }] = await Promise.all([
        import('../lib/ops/offsite.ts'),
        import('../lib/offsite/store.ts'),
        import('../lib/offsite/push.ts'),
        import('../lib/core/offsite-report.ts'),
      ]);
      const store = await openStore(oneTarget(settings, flags.offsite, '--offsite'), settings.envName);
      const survey = await surveyTarget(store, settings, at);
      const listing = offsiteListing({ target: store.target.name, where: store.where, ...survey, now: at });
      result(flags.json ? JSON.stringify(listing, null, 2) : formatOffsiteListing(listing, at));
      return;
    }
    if (flags.stats) {
      const [{ collectStats }, { formatStats }] = await Promise.all([import('../lib/monitor/collect.ts'), import('../lib/monitor/stats.ts')]);
      const stats = await collectStats(settings, at);
      result(flags.json ? JSON.stringify(stats, null, 2) : formatStats(stats, at, { sparkline: Boolean(process.stdout.isTTY) }));
      return;
    }
    const [backups, found] = await Promise.all([listAll(settings.backupDir), lookUpSafetyDatabases(settings.database, { sizes: true })]);
    let safety: SafetyDatabases | null = null;
    if (found.ok) {
      safety = { live: found.live, databases: found.databases };
    } else log.info(`note: safety databases not listed (${found.reason})`);
    if (flags.json) {
      const listed = [...backups.map((b) => toListed(b, at, settings.envName, backups)), ...(safety?.databases ?? []).map((d) => toListedDatabase(d, at, settings.envName))];
      result(JSON.stringify(listed, null, 2));
    } else result(formatListing(backups, at, settings.envName, safety));
  },
);
