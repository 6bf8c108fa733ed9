// Optional Healthchecks.io monitoring of manual runs: an operation whose check URL is in the
// config (healthchecks.checks.<operation>) pings start, then its exit status with its output.
import { addSink, log } from '../cli/output.ts';
import type { Settings } from '../config/resolve.ts';
import type { Operation } from '../config/schema.ts';
import { createPinger, type Pinger } from './healthchecks.ts';

export interface Monitor {
  finish(exitCode: number): Promise<void>;
}

export function pingerFor(settings: Settings, url: string | null): Pinger {
  const hc = settings.healthchecks;
  return createPinger(url, {
    onProblem: (m) => log.warn(m),
    timeoutMs: hc.timeoutSeconds * 1000,
    retries: hc.retries,
    totalBudgetMs: hc.budgetSeconds * 1000,
  });
}

export async function monitorOperation(settings: Settings, op: Operation): Promise<Monitor | null> {
  const url = settings.healthchecks.checks[op];
  if (!url) return null;
  const pinger = pingerFor(settings, url);
  const lines: string[] = [];
  const detach = addSink((line) => lines.push(line));
  await pinger.start();
  return {
    async finish(exitCode) {
      detach();
      const body = lines.join('\n');
      if (exitCode === 0) await pinger.success(body);
      else await pinger.exitStatus(exitCode, body);
    },
  };
}
