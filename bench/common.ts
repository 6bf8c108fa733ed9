// Shared by the benchmarks: timing of whole commands, peak memory of the Node process that
// does the work, medians. Speed is reported as ratios against baselines timed in the same run,
// alternating, because absolute timings on a shared machine are noise.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export interface Timed {
  ms: number;
  code: number | null;
  /** Peak RSS (VmHWM) in MiB of the largest node process in the command's tree. */
  nodePeakMiB: number;
  stderr: string;
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  const all = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  const parent = new Map<number, number>();
  for (const p of all) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(p), ppid);
    } catch {
      /* gone */
    }
  }
  while (stack.length) {
    const cur = stack.pop()!;
    out.push(cur);
    for (const [child, pp] of parent) if (pp === cur) stack.push(child);
  }
  return out;
}

function nodeHwm(pids: number[]): number {
  let max = 0;
  for (const pid of pids) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      if (!/^Name:\s+node/m.test(status) && !/^Name:\s+(npm exec|npx|zx)/m.test(status)) continue;
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      // npx itself is node too; the worker is the process that loaded the script.
      if (!cmd.includes('scripts/')) continue;
      const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
      if (m) max = Math.max(max, Number(m[1]) / 1024);
    } catch {
      /* gone */
    }
  }
  return max;
}

export function time(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    let peak = 0;
    const poll = setInterval(() => {
      peak = Math.max(peak, nodeHwm(descendants(child.pid!)));
    }, 50);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, code, nodePeakMiB: peak, stderr });
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export function must(t: Timed, what: string): Timed {
  if (t.code !== 0) throw new Error(`${what} failed (exit ${t.code}): ${t.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return t;
}

export function fmt(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
