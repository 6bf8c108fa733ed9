// Small commands whose output fits in memory (versions, one-line queries) run through zx.
// Big data never comes through here: see lib/pipeline.
import { $ } from 'zx';
import { redact } from './log.ts';

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export async function capture(argv: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Captured> {
  const out = await $({
    env: opts.env ?? process.env,
    quiet: true,
    nothrow: true,
    input: opts.input,
    timeout: opts.timeoutMs,
  })`${argv}`;
  return { code: out.exitCode ?? 1, stdout: out.stdout, stderr: redact(out.stderr) };
}

/** Pure: the line of a command's stderr worth showing. */
export function firstError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.find((l) => /\b(error|fatal|ERROR|FATAL)\b:?/.test(l)) ?? lines[lines.length - 1] ?? '').slice(0, 500);
}
