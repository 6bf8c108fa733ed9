// Small commands whose output fits in memory (versions, one-line queries, a remote listing), run
// through the same pipeline runner as everything else, with their stdout collected (bounded).
import { Readable, Writable } from 'node:stream';
import { runPipeline, type PipelineFailure, type Stage } from './pipeline.ts';

export interface Captured {
  /** Exit status; 127 when the command could not start, 128+n when killed by signal n. */
  code: number;
  stdout: string;
  /** The same bytes, as they came (binary output). */
  stdoutBytes: Buffer;
  /** The tail of stderr, secrets masked. */
  stderr: string;
  /** Why it failed, when it did (structured: stage, spawn/exit/signal, full disk). */
  failure: PipelineFailure | null;
  /** The command is not installed (not on PATH). */
  notFound: boolean;
}

export interface CaptureOptions extends Pick<Stage, 'env' | 'cwd' | 'okCodes'> {
  input?: string | Buffer;
  timeoutMs?: number;
  /** Output beyond this is a failure of its own (a command that was meant to say little). */
  maxBytes?: number;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };

export async function capture(argv: string[], opts: CaptureOptions = {}): Promise<Captured> {
  const max = opts.maxBytes ?? 64 << 20;
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > max) return done(new Error(`${argv[0]} printed more than ${max} bytes`));
      chunks.push(chunk);
      done();
    },
  });
  const signal = opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined;
  const res = await runPipeline({
    stages: [{ name: argv[0] ?? 'command', argv, env: opts.env, cwd: opts.cwd, okCodes: opts.okCodes }],
    stdin: opts.input === undefined ? 'ignore' : Readable.from([Buffer.from(opts.input)]),
    stdout: sink,
    signal,
  });
  const stage = res.stages[0]!;
  const code = stage.spawnError ? 127 : stage.signal ? 128 + (SIGNALS[stage.signal] ?? 1) : (stage.code ?? 1);
  const stdoutBytes = Buffer.concat(chunks);
  return { code, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: stage.stderr || stage.spawnError || '', failure: res.failure, notFound: stage.spawnCode === 'ENOENT' };
}
