// Runs a chain of processes (dump | compress > file, decompress | load, …) the way a shell
// pipeline with `pipefail` would, but with every stage's exit status and stderr kept apart.
// Data moves between processes by file descriptor; Node touches it only where an inspector
// stream is placed, and then with backpressure, so memory stays flat whatever the size, or
// where it observes a copy that the kernel makes (lib/tee-stdout.pl).
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { Transform, type Readable, type Writable } from 'node:stream';
import { redact } from './log.ts';
import { findOnPath, teeArgv, TEE_CANNOT_RUN } from './tee.ts';

export interface Stage {
  /** Short name for messages ("pg_dump", "zstd"). */
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit codes that are not failures (GNU tar's 1 = "file changed as we read it"). */
  okCodes?: number[];
  /** Called with each stderr line (for progress or warnings); stderr is kept as a tail anyway. */
  onStderrLine?: (line: string) => void;
}

export interface StageResult {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines of stderr, secrets masked. */
  stderr: string;
  /** Set when the process could not be started (ENOENT…). */
  spawnError?: string;
}

export interface PipelineSpec {
  stages: Stage[];
  /** fd to feed the first stage's stdin, or 'ignore'. */
  stdin?: number | 'ignore';
  /** fd for the last stage's stdout; or a Writable that receives it through Node. */
  stdout: number | Writable | 'ignore';
  /** A Node stream placed after stage `after` (data passes through it). */
  tap?: { after: number; stream: Transform };
  /**
   * Node sees a copy of stage `after`'s output, which still goes to the next stage by descriptor:
   * the stage runs under lib/tee-stdout.pl, which has the kernel duplicate the bytes. Where perl
   * is missing, or with `via: 'relay'`, the output is relayed through Node instead (same chunks,
   * more CPU). `onData` must not keep the chunks it is given.
   */
  observe?: { after: number; onData: (chunk: Buffer) => void; via?: 'kernel' | 'relay' };
}

export interface PipelineResult {
  ok: boolean;
  stages: StageResult[];
  /** One line saying which stage failed and why, or null. */
  failure: string | null;
}

const STDERR_TAIL = 8 * 1024;
const running = new Set<ChildProcess>();

/** Stop every child still running (on SIGINT/SIGTERM of this process). */
export function killAll(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const child of running) child.kill(signal);
}

/** Count a child among those killAll stops, until it exits (pipeline stages, and ssh). */
export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', () => running.delete(child));
}

export function stageFailed(r: StageResult, okCodes: number[] = []): boolean {
  if (r.spawnError) return true;
  if (r.signal) return true;
  return r.code !== 0 && !okCodes.includes(r.code ?? -1);
}

/** Pure: the line that explains a failed pipeline; the stage that failed first on its own wins over the ones killed by a broken pipe. */
export function describeFailure(results: StageResult[], stages: Stage[]): string | null {
  const failed = results.filter((r, i) => stageFailed(r, stages[i]?.okCodes));
  if (!failed.length) return null;
  // Node connects stages with socket pairs: a dead consumer shows up as a reset, not EPIPE.
  const genuine = failed.find((r) => r.signal !== 'SIGPIPE' && !/broken pipe|EPIPE|connection reset by peer/i.test(r.stderr)) ?? failed[0]!;
  if (genuine.spawnError) return `${genuine.name} could not start: ${genuine.spawnError}`;
  const why = genuine.signal ? `killed by ${genuine.signal}` : `exit ${genuine.code}`;
  const detail = lastMeaningfulLine(genuine.stderr);
  return `${genuine.name} failed (${why})${detail ? `: ${detail}` : ''}`;
}

function lastMeaningfulLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  // pg_dump and psql put the cause on the line starting with "error:"/"ERROR:"/"FATAL:".
  const cause = lines.find((l) => /\b(error|fatal|ERROR|FATAL)\b:/.test(l));
  return (cause ?? lines[lines.length - 1] ?? '').slice(0, 500);
}

/** A pass-through stream that shows each chunk to `look`, and fails once it says no (the relay used without perl). */
function relayTo(look: (chunk: Buffer) => boolean): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (look(chunk)) done(null, chunk);
      else done(new Error('the observer failed'));
    },
  });
}

const notFound = (command: string | undefined) => `${command} not found on PATH`;

export async function runPipeline(spec: PipelineSpec): Promise<PipelineResult> {
  const { stages } = spec;
  const results: StageResult[] = stages.map((s) => ({ name: s.name, code: null, signal: null, stderr: '' }));
  const exits: Promise<void>[] = [];
  const children: ChildProcess[] = [];
  let prevOut: Readable | null = null;
  let tapDone: Promise<void> | null = null;
  let sideDone: Promise<void> | null = null;

  const observe = spec.observe;
  // An observer that throws must fail the run with its own message (not a crash, nor a broken
  // pipe blamed on the stage): its copy of the stream is closed, which stops the stage.
  let observerError: Error | null = null;
  /** Shows a chunk to the observer; false once it has thrown. */
  const look = (chunk: Buffer): boolean => {
    if (observerError) return false;
    try {
      observe!.onData(chunk);
      return true;
    } catch (err) {
      observerError = err instanceof Error ? err : new Error(String(err));
      return false;
    }
  };
  const perl = observe && observe.via !== 'relay' ? findOnPath('perl', (stages[observe.after]?.env ?? process.env).PATH) : null;
  const tap = spec.tap ?? (observe && !perl ? { after: observe.after, stream: relayTo(look) } : undefined);

  for (let i = 0; i < stages.length; i++) {
    const stage = stages[i]!;
    const last = i === stages.length - 1;
    const tapHere = tap && tap.after === i - 1;
    const teed = observe && perl && observe.after === i ? perl : null;
    let stdin: 'pipe' | 'ignore' | number | Readable;
    if (i === 0) stdin = spec.stdin ?? 'ignore';
    else if (tapHere) stdin = 'pipe';
    else stdin = prevOut ?? 'ignore';
    let stdout: 'pipe' | 'ignore' | number;
    if (!last) stdout = 'pipe';
    else if (typeof spec.stdout === 'number') stdout = spec.stdout;
    else stdout = spec.stdout === 'ignore' ? 'ignore' : 'pipe';

    const argv = teed ? teeArgv(teed, stage.argv) : stage.argv;
    const child: ChildProcess = spawn(argv[0]!, argv.slice(1), {
      stdio: (teed ? [stdin, stdout, 'pipe', 'pipe'] : [stdin, stdout, 'pipe']) as StdioOptions,
      env: stage.env ?? process.env,
      cwd: stage.cwd,
    });
    if (teed) {
      const side = child.stdio[3] as Readable;
      side.on('data', (chunk: Buffer) => {
        if (!look(chunk)) side.destroy();
      });
      // Ends when tee-stdout.pl closes fd 3, or fails with it; the stage's status says why.
      sideDone = new Promise<void>((resolve) => {
        side.once('close', () => resolve());
        side.once('error', () => resolve());
      });
    }
    track(child);
    children.push(child);
    const result = results[i]!;
    let tail = '';
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-STDERR_TAIL);
      if (stage.onStderrLine) {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) stage.onStderrLine(line);
      }
    });
    exits.push(
      new Promise<void>((resolve) => {
        child.once('error', (err) => {
          result.spawnError = (err as NodeJS.ErrnoException).code === 'ENOENT' ? notFound(stage.argv[0]) : err.message;
          resolve();
        });
        child.once('close', (code, signal) => {
          if (partial && stage.onStderrLine) stage.onStderrLine(partial);
          result.code = code;
          result.signal = signal;
          result.stderr = redact(tail);
          const cannot = teed && code === 127 ? TEE_CANNOT_RUN.exec(tail) : null;
          if (cannot) result.spawnError = /No such file/i.test(cannot[1]!) ? notFound(stage.argv[0]) : cannot[1]!;
          resolve();
        });
      }),
    );
    // The previous stage's stdout now belongs to this child; our copy must close or the
    // producer would never see a broken pipe when this stage dies.
    if (prevOut && !tapHere && i > 0) prevOut.destroy();
    if (tapHere && prevOut) {
      const from = prevOut;
      tapDone = streamPipeline(from, tap.stream, child.stdin!).then(
        () => undefined,
        // A consumer that died closes the pipe; its exit status explains the failure.
        () => void from.destroy(),
      );
    }
    prevOut = child.stdout ?? null;
  }
  if (prevOut && typeof spec.stdout === 'object') {
    const out = prevOut;
    const dest = spec.stdout;
    const done = tap && tap.after === stages.length - 1
      ? streamPipeline(out, tap.stream, dest)
      : streamPipeline(out, dest);
    tapDone = done.then(() => undefined, () => void out.destroy());
  }
  await Promise.all(exits);
  if (tapDone) await tapDone;
  if (sideDone) await sideDone;
  const failure = observerError
    ? `reading the output of ${stages[observe!.after]!.name} failed: ${(observerError as Error).message}`
    : describeFailure(results, stages);
  return { ok: failure === null, stages: results, failure };
}
