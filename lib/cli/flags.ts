// The command line every script shares: the common flags, the script's own, its positional
// arguments and its usage text. Pure, table-tested.
import { minimist } from 'zx';
import type { Operation } from '../config/schema.ts';
import type { RemoteMode } from '../remote/dispatch.ts';
import { UsageError } from './errors.ts';

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
   * (lib/remote/dispatch); 'local' runs it here, for scripts that reach the host themselves.
   */
  remote?: RemoteMode | ((flags: Record<string, unknown>) => RemoteMode);
}

export interface CommonFlags {
  env: string;
  config?: string;
  yes: boolean;
  json: boolean;
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
