// Reading a whole media archive through tar's listing, in constant memory, to judge every entry
// before a restore touches anything (and for verify, prune and the drill).
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { startProgress } from '../cli/progress.ts';
import type { Codec } from '../core/naming.ts';
import { runPipeline } from '../proc/pipeline.ts';
import { ListingScanner, type ArchiveCheck } from './listing.ts';
import { listingStages } from './tar.ts';

/** A Writable that splits its input into lines and hands each to `onLine`; nothing accumulates but one partial line. */
export function lineSink(onLine: (line: string) => void): Writable {
  let partial = '';
  const decoder = new StringDecoder('utf8');
  return new Writable({
    decodeStrings: true,
    write(chunk: Buffer, _enc, done) {
      const lines = (partial + decoder.write(chunk)).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) onLine(l);
      done();
    },
    final(done) {
      partial += decoder.end();
      if (partial) onLine(partial);
      partial = '';
      done();
    },
  });
}

/**
 * How far the processes sharing `fd` (opened here, passed as a child's stdin) have read, from
 * /proc/self/fdinfo: the offset is shared, so this is the archive bytes consumed so far. Only
 * for progress display; 0 where /proc is not available.
 */
export function readPosition(fd: number, total = Infinity): number {
  try {
    const m = /^pos:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? Math.min(Number(m[1]), total) : 0;
  } catch {
    return 0;
  }
}

/** Reads the whole archive and judges every entry; never holds the listing in memory. */
export async function checkArchive(
  file: string,
  codec: Codec,
  opts: { progressLabel?: string; onLine?: (line: string) => void } = {},
): Promise<ArchiveCheck> {
  const scanner = new ListingScanner();
  // tar's first complaint says what is wrong ("Skipping to next header"); its last only that it failed.
  let tarSaid: string | null = null;
  const stages = listingStages(codec).map((s) =>
    s.name === 'tar' ? { ...s, onStderrLine: (l: string) => void (tarSaid ??= /^tar: (?!Exiting with failure)/.test(l) ? l : null) } : s,
  );
  const fd = fs.openSync(file, 'r');
  const progress = opts.progressLabel ? startProgress(opts.progressLabel, () => readPosition(fd)) : null;
  try {
    const result = await runPipeline({
      stages,
      stdin: fd,
      stdout: lineSink((l) => {
        scanner.line(l);
        opts.onLine?.(l);
      }),
    });
    const f = result.failure;
    const failedStage = f ? (f.stage === 'tar' ? 'tar' : 'decompress') : null;
    const why = f && f.why === 'exit' ? `exit ${f.code}` : f?.signal ? `killed by ${f.signal}` : null;
    const failure = f && failedStage === 'tar' && tarSaid && why ? `tar failed (${why}): ${tarSaid}` : (f?.message ?? null);
    return {
      ok: result.ok && scanner.unsafe === null,
      failure,
      failedStage,
      unsafe: scanner.unsafe,
      entries: scanner.entries,
      files: scanner.files,
      directories: scanner.directories,
      bytes: scanner.bytes,
    };
  } finally {
    progress?.stop();
    fs.closeSync(fd);
  }
}

