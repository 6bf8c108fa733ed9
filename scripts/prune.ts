#!/usr/bin/env -S npx zx
// Apply the retention policies: remove the backups no policy term keeps, with their manifests,
// and print each removed path; drop the safety databases restore-db kept beyond the snapshots
// policy, and print each name. --dry-run shows every backup with keep/remove and why.
import { runCli } from '../lib/cli/frame.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes } from '../lib/core/format.ts';
import { groupLabel, type PruneOutcome } from '../lib/core/prune-plan.ts';
import { formatPlan, pruneJson } from '../lib/core/prune-report.ts';
import { PruneRefusedError, runPrune } from '../lib/ops/prune.ts';

await runCli(
  {
    name: 'prune',
    summary:
      'Remove the backups the retention policies (config: retention.database, .media, .snapshots) do not keep,\n' +
      'and drop the safety databases restore-db kept that the snapshots policy does not keep.\n' +
      'Only this environment\'s own backups and its live database\'s safety databases are considered;\n' +
      'the newest of each kind is always kept.',
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
        // Paths and names go out as they are removed, so an interrupted run still says what it did.
        onRemoved: flags.json ? undefined : (p) => result(p),
        onDropped: flags.json ? undefined : (name) => result(name),
      });
    } catch (err) {
      if (err instanceof PruneRefusedError) show(err.outcome);
      throw err;
    }
    show(outcome);
    const { plan, databases } = outcome;
    const dbEntries = databases?.entries ?? [];
    if (!plan.groups.length && !dbEntries.length) {
      log.info(`no backups in ${settings.backupDir}: nothing to prune`);
      return;
    }
    for (const g of plan.groups) {
      if (g.policyName === null) continue;
      const removed = g.entries.filter((e) => e.action === 'remove').length;
      log.info(`${groupLabel(g)}: ${g.entries.length - removed} kept, ${removed} ${dryRun ? 'to remove' : 'removed'}`);
    }
    const drop = dbEntries.filter((e) => e.action === 'remove').length;
    if (dbEntries.length) {
      const done = dryRun ? `${drop} to drop` : `${databases!.dropped.length} dropped`;
      log.info(`safety databases of "${databases!.live}": ${dbEntries.length - drop} kept, ${done}`);
    }
    const bytes = plan.remove.reduce((n, f) => n + f.size, 0);
    const did = [
      ...(plan.remove.length ? [`${dryRun ? 'would remove' : 'removed'} ${plan.remove.length} backups (${humanBytes(bytes)})`] : []),
      ...(drop ? [dryRun ? `would drop ${drop} safety databases` : `dropped ${databases!.dropped.length} of ${drop} safety databases`] : []),
    ].join(', ');
    if (!did) log.success('nothing to remove');
    else log.success(dryRun ? `dry run: ${did}; nothing changed` : did);
  },
);
