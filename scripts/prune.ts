#!/usr/bin/env -S npx zx
// Apply the retention policies: remove the backups no policy term keeps, with their manifests,
// and print each removed path. --dry-run shows every backup with keep/remove and why.
import { runCli } from '../lib/cli.ts';
import { log, result } from '../lib/log.ts';
import { humanBytes } from '../lib/catalog.ts';
import { formatPlan, groupLabel, pruneJson, runPrune, PruneRefusedError, type PruneOutcome } from '../lib/prune.ts';

await runCli(
  {
    name: 'prune',
    summary:
      'Remove the backups the retention policies (config: retention.database, .media, .snapshots) do not keep.\n' +
      'Only this environment\'s own backups are considered; the newest of each kind is always kept.',
    usage: '[--dry-run] [--env <name>] [--config <path>] [--json]',
    booleans: ['dry-run'],
  },
  async ({ settings, flags, now }) => {
    const dryRun = flags['dry-run'] === true;
    const show = (o: PruneOutcome) => {
      if (flags.json) result(JSON.stringify(pruneJson(o, settings.envName, settings.retention), null, 2));
      else if (dryRun) result(formatPlan(o, settings.envName, settings.retention));
    };
    let outcome: PruneOutcome;
    try {
      outcome = await runPrune(settings, now(), {
        dryRun,
        // Paths go out as they are removed, so an interrupted run still says what it did.
        onRemoved: flags.json ? undefined : (p) => result(p),
      });
    } catch (err) {
      if (err instanceof PruneRefusedError) show(err.outcome);
      throw err;
    }
    show(outcome);
    const { plan } = outcome;
    if (!plan.groups.length) {
      log.info(`no backups in ${settings.backupDir}: nothing to prune`);
      return;
    }
    for (const g of plan.groups) {
      if (g.policyName === null) continue;
      const removed = g.entries.filter((e) => e.action === 'remove').length;
      log.info(`${groupLabel(g)}: ${g.entries.length - removed} kept, ${removed} ${dryRun ? 'to remove' : 'removed'}`);
    }
    const bytes = plan.remove.reduce((n, f) => n + f.size, 0);
    if (!plan.remove.length) log.success('nothing to remove');
    else if (dryRun) log.success(`dry run: would remove ${plan.remove.length} backups (${humanBytes(bytes)}); nothing changed`);
    else log.success(`removed ${plan.remove.length} backups (${humanBytes(bytes)})`);
  },
);
