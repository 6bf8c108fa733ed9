// The frame every script runs in: flags, the config read once and the environment's settings,
// dispatch to the environment's host when it has an ssh target, optional monitoring, one catch
// at the top that prints one line and sets the exit code (never process.exit(), which can cut
// buffered output), and a clean stop on signals (lib/proc/signals).
import { checkComposeServices } from '../config/compose.ts';
import { loadConfig, type Config } from '../config/load.ts';
import type { Settings } from '../config/resolve.ts';
import type { Monitor } from '../monitor/operation.ts';
import { installStopHandlers } from '../proc/signals.ts';
import { BackupError, errorMessage, EXIT, UsageError } from './errors.ts';
import { parseFlags, scriptArgs, usageText, type CliSpec, type CommonFlags } from './flags.ts';
import { log, redact } from './output.ts';

export interface CliContext {
  spec: CliSpec;
  flags: CommonFlags & Record<string, unknown>;
  args: string[];
  /** The config file, read once; other environments' settings come from it too. */
  config: Config;
  /** Settings of the chosen environment (validated; compose services checked). */
  settings: Settings;
  now: () => Date;
}

/**
 * The clock scripts use. COMPOSE_BACKUP_NOW (ISO time) pins it, for reproducible runs and for
 * tests of same-second backups; the pure core never reads the clock itself.
 */
export function clock(env: NodeJS.ProcessEnv): () => Date {
  const pinned = env.COMPOSE_BACKUP_NOW;
  if (!pinned) return () => new Date();
  const t = new Date(pinned);
  if (Number.isNaN(t.getTime())) throw new UsageError(`COMPOSE_BACKUP_NOW is not an ISO time: ${pinned}`);
  return () => t;
}

export type Body = (ctx: CliContext) => Promise<number | void>;

/** Print a failure as one line (the cause chain too under COMPOSE_BACKUP_DEBUG) and set the exit code. */
function report(err: unknown): void {
  if (err instanceof BackupError) {
    log.error(err.message);
    process.exitCode = err.exitCode;
  } else {
    log.error(`unexpected: ${errorMessage(err)}`);
    process.exitCode = EXIT.failed;
  }
  if (process.env.COMPOSE_BACKUP_DEBUG) {
    for (let e: unknown = err; e instanceof Error; e = e.cause) process.stderr.write(redact(String(e.stack)) + '\n');
  }
}

/** Run a script body with the common frame. */
export async function runCli(spec: CliSpec, body: Body): Promise<void> {
  installStopHandlers((level, message) => log[level](message));
  let monitor: Monitor | null = null;
  try {
    const raw = scriptArgs();
    const { flags, args, help } = parseFlags(spec, raw);
    if (help) {
      process.stdout.write(usageText(spec));
      process.exitCode = EXIT.ok;
      return;
    }
    const config = loadConfig(flags.config);
    const settings = config.settings(flags.env);
    // On the remote host itself settings.ssh is null (COMPOSE_BACKUP_ON_HOST, lib/config/resolve).
    // Loaded only when used: every module is start-up time for every run.
    const mode = typeof spec.remote === 'function' ? spec.remote(flags) : (spec.remote ?? 'dispatch');
    if (settings.ssh && mode === 'dispatch') {
      const { runRemote } = await import('../remote/dispatch.ts');
      process.exitCode = await runRemote({ op: spec.name, raw, args, yes: flags.yes, settings: { ...settings, ssh: settings.ssh } });
      return;
    }
    if (!settings.ssh) checkComposeServices(settings);
    if (settings.healthchecks.checks[spec.name]) monitor = await (await import('../monitor/operation.ts')).monitorOperation(settings, spec.name);
    const code = await body({ spec, flags, args, config, settings, now: clock(process.env) });
    process.exitCode = process.exitCode || (code ?? EXIT.ok);
  } catch (err) {
    report(err);
  } finally {
    await monitor?.finish(Number(process.exitCode ?? 0));
  }
}
