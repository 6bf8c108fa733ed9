#!/usr/bin/env -S npx zx
// Apply the retention policies: remove the backups no policy term keeps, with their manifests,
// and print each removed path; drop the safety databases restore-db kept beyond the snapshots
// policy, and print each name. --dry-run shows every backup with keep/remove and why.
import { runCli } from '../lib/cli/frame.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes, plural } from '../lib/core/format.ts';
import { groupLabel, type PruneOutcome } from '../lib/core/prune-plan.ts';
import { formatPlan, pruneJson } from '../lib/core/prune-report.ts';
import { PruneRefusedError, runPrune } from '../lib/ops/prune.ts';
import { formatTargetPlan } from '../lib/core/offsite-report.ts';
import { oneTarget, withTarget } from '../lib/ops/offsite.ts';
import { pruneTarget, targetPruneJson, TargetPruneRefusedError, type TargetPruneOutcome } from '../lib/offsite/prune.ts';

await runCli(
  {
    name: 'prune',
    summary:
      'Remove the backups the retention policies (config: retention.database, .media, .snapshots) do not keep,\n' +
      'and drop the safety databases restore-db kept that the snapshots policy does not keep.\n' +
      'Only this environment\'s own backups and its live database\'s safety databases are considered;\n' +
      'the newest of each kind is always kept.\n' +
      '--offsite <target> applies the target\'s retention to the copies there instead (its newest verified copy of\n' +
      'each kind is always kept; copies under S3 Object Lock are kept until their date).',
    usage: '[--dry-run] [--offsite <target>] [--env <name>] [--config <path>] [--json]',
    booleans: ['dry-run'],
    strings: ['offsite'],
  },
  async ({ settings, flags, now }) => {
    const dryRun = flags['dry-run'] === true;
    if (flags.offsite !== undefined) {
      const target = oneTarget(settings, flags.offsite, '--offsite');
      const show = (o: TargetPruneOutcome) => {
        if (flags.json) result(JSON.stringify(targetPruneJson(o), null, 2));
        else if (dryRun) result(formatTargetPlan({ ...o, retention: target.retention }));
      };
      let o: TargetPruneOutcome;
      try {
        o = await withTarget(settings, target, (store) => pruneTarget(store, settings, now(), { dryRun }));
      } catch (err) {
        if (err instanceof TargetPruneRefusedError) show(err.outcome);
        throw err;
      }
      show(o);
      if (!flags.json && !dryRun) for (const name of o.removed) result(`${o.where}/${name}`);
      const kept = o.plan.groups.flatMap((g) => g.entries).length - o.plan.remove.length;
      if (!o.plan.remove.length) log.success(`${target.name}: nothing to remove (${plural(kept, 'copy', 'copies')} kept)`);
      else log.success(`${target.name}: ${dryRun ? 'would remove' : 'removed'} ${plural(o.plan.remove.length, 'old copy', 'old copies')}, kept ${kept}${dryRun ? '; nothing changed' : ''}`);
      return;
    }
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
