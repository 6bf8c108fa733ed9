// The frame every script runs in: flags, settings, one catch at the top that prints one line
// and sets the exit code (never process.exit(), which can cut buffered output), and cleanup
// of child processes when the run is interrupted.
import { minimist } from 'zx';
import { BackupError, EXIT, UsageError, errorMessage } from './errors.ts';
import { log, redact } from './log.ts';
import { killAll } from './pipeline.ts';
import { loadSettings, type Operation, type Settings } from './config.ts';
import { checkComposeServices } from './compose.ts';
import { runRemote, type RemoteMode } from './remote.ts';
import { monitorOperation, type Monitor } from './monitor.ts';

export interface CliSpec {
  name: Operation;
  /** One-line description and the usage lines after the common flags. */
  summary: string;
  usage: string;
  booleans?: string[];
  strings?: string[];
  positionals?: { min: number; max: number };
  /**
   * For an environment with an ssh target: 'dispatch' (default) runs the script on that host
   * (lib/remote); 'local' runs it here, for scripts that reach the host themselves.
   */
  remote?: RemoteMode;
}

export interface CommonFlags {
  env: string;
  config?: string;
  yes: boolean;
  json: boolean;
}

export interface CliContext {
  spec: CliSpec;
  flags: CommonFlags & Record<string, unknown>;
  args: string[];
  /** Settings of the chosen environment (validated; compose services checked). */
  settings: Settings;
  now: () => Date;
}

const COMMON_USAGE = `Common flags:
  --env <name>      environment from the config (default: local)
  --config <path>   config file (default: ./backup.config.yaml when it exists, else built-in defaults)
  --yes             answer yes to confirmations (needed without a terminal)
  --json            machine-readable result on stdout
  --help            this help`;

export function usageText(spec: CliSpec): string {
  return `${spec.summary}\n\nUsage: npx zx scripts/${spec.name}.ts ${spec.usage}\n\n${COMMON_USAGE}\n`;
}

/** The script's own arguments: after the .ts path, whether run by zx or by tsx. */
export function scriptArgs(argv: string[] = process.argv): string[] {
  const i = argv.findIndex((a, idx) => idx > 0 && /\.[cm]?[jt]s$/.test(a) && !/node_modules/.test(a));
  return argv.slice(i + 1);
}

/** Pure: parse and check flags. */
export function parseFlags(spec: CliSpec, raw: string[]): { flags: CommonFlags & Record<string, unknown>; args: string[]; help: boolean } {
  const booleans = ['yes', 'json', 'help', ...(spec.booleans ?? [])];
  const strings = ['env', 'config', ...(spec.strings ?? [])];
  const unknown: string[] = [];
  const parsed = minimist(raw, {
    boolean: booleans,
    string: strings,
    default: { env: 'local' },
    unknown: (a: string) => {
      if (a.startsWith('-')) {
        unknown.push(a);
        return false;
      }
      return true;
    },
  });
  if (parsed.help) return { flags: parsed as never, args: [], help: true };
  if (unknown.length) throw new UsageError(`unknown flag ${unknown[0]}; see --help`);
  for (const s of strings) {
    if (Array.isArray(parsed[s])) throw new UsageError(`--${s} given more than once`);
    if (s in parsed && parsed[s] === '' && raw.some((r) => r === `--${s}`)) throw new UsageError(`--${s} needs a value`);
  }
  const args = (parsed._ as unknown[]).map(String);
  const { min, max } = spec.positionals ?? { min: 0, max: 0 };
  if (args.length < min) throw new UsageError(`missing argument; usage: ${spec.name} ${spec.usage}`);
  if (args.length > max) throw new UsageError(`unexpected argument "${args[max]}"; usage: ${spec.name} ${spec.usage}`);
  return { flags: parsed as never, args, help: false };
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

let interrupted = false;
function onSignal(signal: NodeJS.Signals, why = `interrupted by ${signal}`): void {
  if (interrupted) return;
  interrupted = true;
  log.error(`${why}; stopping and removing work in progress`);
  killAll('SIGTERM');
  // Exit hooks (lib/atomic) remove temporary files; 128+n is the shell's convention.
  process.exitCode = signal === 'SIGINT' ? 130 : 143;
  setTimeout(() => process.exit(), 200).unref();
}

export type Body = (ctx: CliContext) => Promise<number | void>;

export interface RunOptions {
  /** Skip loading settings (for scripts whose work does not need them). */
  noSettings?: boolean;
}

/**
 * npx runs the script under `sh -c`; a SIGTERM sent to npx alone (`kill <pid>`) stops npx and
 * that shell but never reaches this process, which would go on as an orphan. (Ctrl-C, `timeout`
 * and systemd signal the whole group and are caught above.) When the process that started this
 * one is gone, stop as on SIGTERM.
 */
function watchLauncher(): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onSignal('SIGTERM', `the process that started this run (pid ${parent}) is gone`);
  }, 500);
  timer.unref();
}

/** Run a script body with the common frame. */
export async function runCli(spec: CliSpec, body: Body, opts: RunOptions = {}): Promise<void> {
  // Node passes the signal's number as a second argument: not a reason to print.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => onSignal(signal));
  watchLauncher();
  let monitor: Monitor | null = null;
  try {
    const raw = scriptArgs();
    const { flags, args, help } = parseFlags(spec, raw);
    if (help) {
      process.stdout.write(usageText(spec));
      process.exitCode = EXIT.ok;
      return;
    }
    const settings = opts.noSettings ? (null as unknown as Settings) : loadSettings({ config: flags.config, env: flags.env });
    // On the remote host itself settings.ssh is null (COMPOSE_BACKUP_ON_HOST, lib/config).
    if (settings?.ssh && (spec.remote ?? 'dispatch') === 'dispatch') {
      process.exitCode = await runRemote({ op: spec.name, raw, args, yes: flags.yes, settings: { ...settings, ssh: settings.ssh } });
      return;
    }
    if (settings && !settings.ssh) checkComposeServices(settings);
    if (settings) monitor = await monitorOperation(settings, spec.name);
    const code = await body({ spec, flags, args, settings, now: clock(process.env) });
    process.exitCode = process.exitCode || (code ?? EXIT.ok);
  } catch (err) {
    if (err instanceof BackupError) {
      log.error(err.message);
      process.exitCode = err.exitCode;
    } else {
      log.error(`unexpected: ${errorMessage(err)}`);
      if (process.env.COMPOSE_BACKUP_DEBUG) process.stderr.write(redact(String((err as Error)?.stack)) + '\n');
      process.exitCode = EXIT.failed;
    }
  } finally {
    await monitor?.finish(Number(process.exitCode ?? 0));
  }
}
