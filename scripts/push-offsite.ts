#!/usr/bin/env -S npx zx
// Copy every local backup not yet at the offsite target(s) there, encrypted, each with its
// manifest, then apply each target's retention. Prints the location of each new copy.
import { runCli } from '../lib/cli/frame.ts';
import { log, result } from '../lib/cli/output.ts';
import { pushSummary, selectTargets, withTarget } from '../lib/ops/offsite.ts';
import { pushToTarget, type PushOutcome } from '../lib/offsite/push.ts';

await runCli(
  {
    name: 'push-offsite',
    summary:
      'Copy every local backup not yet at the offsite target(s) there (encrypted with age to the target\'s recipients,\n' +
      'with its manifest, streamed), then apply each target\'s retention. Without --to: every target of the environment.',
    usage: '[--to <target>] [--env <name>] [--config <path>] [--json]',
    strings: ['to'],
  },
  async ({ settings, flags, now }) => {
    const targets = selectTargets(settings, flags.to as string | undefined, '--to');
    const outcomes: PushOutcome[] = [];
    for (const target of targets) {
      const o = await withTarget(settings, target, (store) =>
        pushToTarget(store, settings, now, { prune: true, onPushed: flags.json ? undefined : (c) => result(`${store.where}/${c.key}`) }),
      );
      outcomes.push(o);
      log.success(`${target.name} (${o.where}): ${pushSummary(o)}`);
    }
    if (flags.json) {
      result(
        JSON.stringify(
          outcomes.map((o) => ({
            target: o.target,
            where: o.where,
            pushed: o.pushed,
            alreadyThere: o.decisions.filter((d) => d.action === 'there').map((d) => d.file.name),
            notPushed: o.decisions.filter((d) => d.action === 'skip').map((d) => ({ name: d.file.name, reason: d.reason })),
            removed: o.pruned?.removed ?? [],
            swept: o.swept,
          })),
          null,
          2,
        ),
      );
    }
  },
);
