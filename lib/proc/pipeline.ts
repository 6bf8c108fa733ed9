// The one way this tool starts processes. A chain of them (dump | compress > file,
// decompress | load, ssh cat > file, or a single command) runs the way a shell pipeline with
// `pipefail` would, but with every stage's exit status and stderr kept apart, so the failure
// reported is the stage that really failed, not the ones killed by the broken pipe after it.
// Data moves between processes by file descriptor; Node touches it only where asked: a Readable
// feeding the first stage, a Writable taking the last one's output, or a tap that sees one
// stage's output on its way to the next (with backpressure, so memory stays flat whatever the size).
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { PassThrough, Transform, Writable, type Readable } from 'node:stream';
import { FailedError, NO_SPACE_TEXT, NoSpaceError } from '../cli/errors.ts';
import { redact } from '../cli/output.ts';
import { stopRequested, track } from './signals.ts';

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
  /** `inherit`: the stage writes to this process's stderr directly (a remote run's live output). */
  stderr?: 'inherit';
}

export interface StageResult {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines of stderr, secrets masked. */
  stderr: string;
  /** Set when the process could not be started: why, and the system's code (ENOENT: not on PATH). */
  spawnError?: string;
  spawnCode?: string;
}

export interface PipelineSpec {
  stages: Stage[];
  /** What the first stage reads: a descriptor, a Node stream, nothing, or this process's stdin. */
  stdin?: number | Readable | 'ignore' | 'inherit';
  /** Where the last stage writes: a descriptor, a Node stream, nowhere, or this process's stdout. */
  stdout: number | Writable | 'ignore' | 'inherit';
  /**
   * Node sees stage `after`'s output on its way to the next stage (or to `stdout`). `look` must not
   * keep the chunks; if it throws, the run fails with its message and the stream is cut there.
   */
  tap?: { after: number; look: (chunk: Buffer) => void };
  /** Stops every stage (SIGTERM) when aborted; the result then says `aborted`. */
  signal?: AbortSignal;
}

export interface PipelineFailure {
  /** The stage that failed first on its own. */
  stage: string;
  why: 'spawn' | 'exit' | 'signal' | 'observer';
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The stage's own words (its error line), or the observer's message. */
  detail: string;
  /** The stage said its disk is full. */
  noSpace: boolean;
  /** One line: `zstd failed (exit 1): …`. */
  message: string;
  cause?: Error;
}

export interface PipelineResult {
  ok: boolean;
  stages: StageResult[];
  failure: PipelineFailure | null;
  /** The run was stopped through `signal`. */
  aborted: boolean;
}

const STDERR_TAIL = 8 * 1024;

export function stageFailed(r: StageResult, okCodes: number[] = []): boolean {
  if (r.spawnError) return true;
  if (r.signal) return true;
  return r.code !== 0 && !okCodes.includes(r.code ?? -1);
}

/** Pure: the line of a tool's stderr worth showing (pg_dump and psql put the cause after "error:"/"FATAL:"). */
export function firstError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.find((l) => /\b(error|fatal|ERROR|FATAL)\b:?/.test(l)) ?? lines[lines.length - 1] ?? '').slice(0, 500);
}

/** Pure: which stage failed and why; the one that failed on its own wins over those killed by a broken pipe. */
export function describeFailure(results: StageResult[], stages: Stage[]): PipelineFailure | null {
  const failed = results.filter((r, i) => stageFailed(r, stages[i]?.okCodes));
  if (!failed.length) return null;
  // Node connects stages with socket pairs: a dead consumer shows up as a reset, not EPIPE.
  const genuine = failed.find((r) => r.signal !== 'SIGPIPE' && !/broken pipe|EPIPE|connection reset by peer/i.test(r.stderr)) ?? failed[0]!;
  const noSpace = failed.some((r) => NO_SPACE_TEXT.test(r.stderr));
  if (genuine.spawnError) {
    return { stage: genuine.name, why: 'spawn', code: null, signal: null, detail: genuine.spawnError, noSpace: false, message: `${genuine.name} could not start: ${genuine.spawnError}` };
  }
  const detail = firstError(genuine.stderr);
  const why = genuine.signal ? `killed by ${genuine.signal}` : `exit ${genuine.code}`;
  return {
    stage: genuine.name,
    why: genuine.signal ? 'signal' : 'exit',
    code: genuine.code,
    signal: genuine.signal,
    detail,
    noSpace,
    message: `${genuine.name} failed (${why})${detail ? `: ${detail}` : ''}`,
  };
}

export async function runPipeline(spec: PipelineSpec): Promise<PipelineResult> {
  const { stages } = spec;
  const results: StageResult[] = stages.map((s) => ({ name: s.name, code: null, signal: null, stderr: '' }));
  const exits: Promise<void>[] = [];
  const children: ChildProcess[] = [];
  const flows: Promise<void>[] = [];
  let prevOut: Readable | null = null;

  // An observer that throws must fail the run with its own message, not a crash, nor a broken
  // pipe blamed on a stage: its stream is cut, which stops the stages around it.
  let observerError: Error | null = null;
  const tap = spec.tap;
  const tapStream = tap
    ? new Transform({
        transform(chunk: Buffer, _enc, done) {
          try {
            tap.look(chunk);
            done(null, chunk);
          } catch (err) {
            observerError = err instanceof Error ? err : new Error(String(err));
            done(observerError);
          }
        },
      })
    : null;
  /** Move `from` into `to` through Node; a consumer that died closes the pipe, its status explains why. */
  const flow = (from: Readable, to: Writable, through: Transform | null) => {
    const done = through ? streamPipeline(from, through, to) : streamPipeline(from, to);
    flows.push(done.then(() => undefined, () => void from.destroy()));
  };

  let aborted = false;
  const onAbort = () => {
    aborted = true;
    for (const c of children) c.kill('SIGTERM');
  };
  spec.signal?.addEventListener('abort', onAbort, { once: true });

  for (let i = 0; i < stages.length; i++) {
    const stage = stages[i]!;
    const last = i === stages.length - 1;
    const fromNode = i === 0 ? typeof spec.stdin === 'object' : tap?.after === i - 1;
    let stdin: 'pipe' | 'ignore' | 'inherit' | number | Readable;
    if (fromNode) stdin = 'pipe';
    else if (i === 0) stdin = (spec.stdin as number | 'ignore' | 'inherit' | undefined) ?? 'ignore';
    else stdin = prevOut ?? 'ignore';
    let stdout: 'pipe' | 'ignore' | 'inherit' | number;
    if (!last || tap?.after === i) stdout = 'pipe';
    else if (typeof spec.stdout === 'object') stdout = 'pipe';
    else stdout = spec.stdout;

    const child: ChildProcess = spawn(stage.argv[0]!, stage.argv.slice(1), {
      stdio: [stdin, stdout, stage.stderr === 'inherit' ? 'inherit' : 'pipe'] as StdioOptions,
      env: stage.env ?? process.env,
      cwd: stage.cwd,
    });
    track(child);
    children.push(child);
    const result = results[i]!;
    let tail = '';
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
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
          result.spawnCode = (err as NodeJS.ErrnoException).code;
          result.spawnError = result.spawnCode === 'ENOENT' ? `${stage.argv[0]} not found on PATH` : err.message;
          resolve();
        });
        child.once('close', (code, signal) => {
          if (partial && stage.onStderrLine) stage.onStderrLine(partial);
          result.code = code;
          result.signal = signal;
          result.stderr = redact(tail);
          resolve();
        });
      }),
    );
    // The previous stage's stdout now belongs to this child; our copy must close or the producer
    // would never see a broken pipe when this stage dies.
    if (prevOut && !fromNode) prevOut.destroy();
    if (fromNode && child.stdin) {
      if (i === 0) flow(spec.stdin as Readable, child.stdin, null);
      else if (prevOut) flow(prevOut, child.stdin, tapStream);
    }
    prevOut = child.stdout ?? null;
  }
  if (prevOut) {
    const tapLast = tap?.after === stages.length - 1;
    if (typeof spec.stdout === 'object') flow(prevOut, spec.stdout, tapLast ? tapStream : null);
    else if (tapLast) {
      const out = spec.stdout;
      const sink = out === 'inherit' ? process.stdout : out === 'ignore' ? devNull() : fs.createWriteStream('', { fd: out, autoClose: false });
      flow(prevOut, sink, tapStream);
    }
  }
  await Promise.all(exits);
  await Promise.all(flows);
  spec.signal?.removeEventListener('abort', onAbort);
  let failure: PipelineFailure | null;
  if (observerError) {
    const err = observerError as Error;
    const from = stages[tap!.after]!.name;
    failure = { stage: from, why: 'observer', code: null, signal: null, detail: err.message, noSpace: false, message: `reading the output of ${from} failed: ${err.message}`, cause: err };
  } else if (aborted) {
    failure = null;
  } else if (stopRequested() && results.some((r, i) => stageFailed(r, stages[i]?.okCodes))) {
    // Killed because this run is stopping: not a failure of the stage's own.
    failure = { stage: 'run', why: 'signal', code: null, signal: 'SIGTERM', detail: 'stopped', noSpace: false, message: 'stopped by a signal' };
  } else {
    failure = describeFailure(results, stages);
  }
  return { ok: failure === null && !aborted, stages: results, failure, aborted };
}

function devNull(): Writable {
  return new Writable({ write: (_chunk, _enc, done) => done() });
}

/**
 * The error a failed pipeline becomes: `<label> failed: <stage's reason>`, a full disk as a
 * NoSpaceError (naming `dir` when the caller knows which filesystem filled up).
 */
export function pipelineError(label: string, f: PipelineFailure, dir?: string): FailedError {
  if (f.noSpace) return new NoSpaceError(`${label} failed: no space left${dir ? ` on ${dir}` : ''} (the disk is full): ${f.message}`, { cause: f.cause, what: label });
  return new FailedError(`${label} failed: ${f.message}`, { cause: f.cause, what: label });
}

export interface HeldOutput {
  /** Give this to runPipeline as `stdout` (or write to it): its chunks reach `readable`, with backpressure. */
  sink: Writable;
  /** What a consumer reads (an upload, a file). */
  readable: PassThrough;
  /** After the run: end the readable (it succeeded), or fail it with `err`. */
  close(err?: Error): void;
}

/**
 * Output whose end is held back until the caller has seen the whole run succeed. A pipeline's
 * stdout ends as soon as its last stage closes it, which a stage that failed halfway does too: a
 * reader that treats the end as "complete" (an upload, which then publishes) must not see it
 * before the run's statuses are known.
 */
export function heldOutput(highWaterMark = 1 << 20): HeldOutput {
  const readable = new PassThrough({ highWaterMark });
  // Its reader learns of a failure from its own reads (an errored stream throws on the next one); a
  // reader that has not started yet must not turn the failure into an uncaught exception.
  readable.on('error', () => undefined);
  const sink = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, done) {
      if (readable.destroyed) return done(new Error('the reader stopped'));
      if (readable.write(chunk)) return done();
      const settle = (err?: Error) => {
        readable.off('drain', onDrain);
        readable.off('close', onClose);
        done(err);
      };
      const onDrain = () => settle();
      const onClose = () => settle(new Error('the reader stopped'));
      readable.once('drain', onDrain);
      readable.once('close', onClose);
    },
  });
  return {
    sink,
    readable,
    close(err) {
      if (readable.destroyed) return;
      if (err) readable.destroy(err);
      else readable.end();
    },
  };
}
