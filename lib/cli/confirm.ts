// Confirmation before a destructive step: on a terminal the user types a word (the database
// or environment name); without one, --yes is required. Either way the answer comes before
// anything is touched.
import readline from 'node:readline';
import { DeclinedError } from './errors.ts';

export interface ConfirmOptions {
  /** What will happen, shown before the question. */
  action: string;
  /** The word the user must type. */
  expected: string;
  yes: boolean;
  /** For tests; defaults to process.stdin / process.stderr. */
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * Fail at once (exit 3) when the question could not be asked: no --yes and no terminal. Called
 * before long checks, so a cron line that forgot --yes does not read a whole backup first.
 */
export function requireConfirmable(opts: Pick<ConfirmOptions, 'action' | 'yes' | 'input'>): void {
  if (opts.yes || (opts.input ?? process.stdin).isTTY) return;
  throw new DeclinedError(`${opts.action}: confirmation needed and no terminal is attached; add --yes to proceed`);
}

export async function confirm(opts: ConfirmOptions): Promise<void> {
  if (opts.yes) return;
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stderr;
  requireConfirmable(opts);
  const rl = readline.createInterface({ input, output, terminal: true });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.question(`${opts.action}.\nType ${opts.expected} to continue: `, resolve);
      rl.once('close', () => resolve(''));
    });
    if (answer.trim() !== opts.expected) {
      throw new DeclinedError(`not confirmed (expected "${opts.expected}"); nothing was changed`);
    }
  } finally {
    rl.close();
  }
}
