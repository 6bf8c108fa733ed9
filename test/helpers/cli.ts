// Runs the real scripts the way users do: `npx zx scripts/<name>.ts …` from the project root.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURE_BIN = path.join(ROOT, 'test/fixtures/bin');

/**
 * The `just` binary itself, from the npm package rust-just installs for this platform, as a user's
 * own just is. Not node_modules/.bin/just: that is a Node launcher, and the tests start just in
 * folders outside the project, where the project's loader option that `npm test` passes on in
 * NODE_OPTIONS cannot resolve (it resolves from anywhere inside the project tree, which is where
 * the recipes' `npx zx` runs).
 */
export const JUST = path.join(
  path.dirname(createRequire(import.meta.url).resolve(`rust-just-${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}/package.json`)),
  'bin',
  process.platform === 'win32' ? 'just.exe' : 'just',
);

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /** Replace the environment instead of extending process.env. */
  cleanEnv?: boolean;
  input?: string;
  cwd?: string;
  timeoutMs?: number;
  onSpawn?: (pid: number) => void;
  /** Run under this umask (e.g. '000'). */
  umask?: string;
  /**
   * Its own process group (as cron or a terminal would start it), so that a crash point's SIGKILL
   * of the whole group, or a test's, stops the run and not the test runner.
   */
  newGroup?: boolean;
}

/** Environment for a test run: no config or variables from the developer's shell leak in. */
export function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(DATABASE_URL|BACKUP_DIR|MEDIA_DIR|HEALTHCHECKS_URL|BACKUP_COMPRESSION|PG[A-Z]+|NODE_TEST_CONTEXT|COMPOSE_BACKUP_[A-Z_]+)$/.test(k)) continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export function runScript(script: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const env = opts.cleanEnv ? (opts.env as Record<string, string>) : baseEnv(opts.env);
  return new Promise((resolve, reject) => {
    const argv = ['npx', 'zx', `scripts/${script}.ts`, ...args];
    const [cmd, ...rest] = opts.umask ? ['sh', '-c', `umask ${opts.umask} && exec "$@"`, 'sh', ...argv] : argv;
    const child = spawn(cmd!, rest, {
      cwd: opts.cwd ?? ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: opts.newGroup ?? false,
    });
    opts.onSpawn?.(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => (opts.newGroup ? killGroup(child.pid!) : child.kill('SIGKILL')), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, pid: child.pid! });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** SIGKILL a process group (a run started with newGroup), as the OOM killer or a reboot would. */
export function killGroup(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export function tempDir(prefix = 'cbt-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A folder of fake executables to put first on PATH. */
export function fakeBin(scripts: Record<string, string>): string {
  const dir = tempDir('cbt-bin-');
  for (const [name, body] of Object.entries(scripts)) {
    fs.writeFileSync(path.join(dir, name), body, { mode: 0o755 });
  }
  return dir;
}

export function withPath(...dirs: string[]): string {
  return [...dirs, process.env.PATH].join(':');
}

/** Names in a folder (sorted), [] when it does not exist. */
export function ls(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** sha256 of every file in a folder, to prove files were left byte-identical. */
export function snapshotFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ls(dir)) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isFile()) out[name] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  }
  return out;
}

export function writeConfig(dir: string, yamlText: string): string {
  const p = path.join(dir, 'backup.config.yaml');
  fs.writeFileSync(p, yamlText);
  return p;
}
