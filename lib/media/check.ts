// Reading a whole media archive through tar's listing, in constant memory, to judge every entry
// before a restore touches anything (and for verify, prune and the drill).
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { startProgress } from '../cli/progress.ts';
import type { Codec } from '../core/naming.ts';
import { runPipeline } from '../proc/pipeline.ts';
import { ListingScanner, type ArchiveCheck } from './listing.ts';
import { listingStages } from './tar.ts';
import { openSource, type SourceRead } from '../store/source.ts';

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

/** Reads a whole archive once and judges every entry; never holds the listing in memory. */
export async function checkArchive(
  read: SourceRead,
  codec: Codec,
  opts: { progressLabel?: string; onLine?: (line: string) => void } = {},
): Promise<ArchiveCheck> {
  const scanner = new ListingScanner();
  // tar's first complaint says what is wrong ("Skipping to next header"); its last only that it failed.
  let tarSaid: string | null = null;
  const stages = listingStages(codec).map((s) =>
    s.name === 'tar' ? { ...s, onStderrLine: (l: string) => void (tarSaid ??= /^tar: (?!Exiting with failure)/.test(l) ? l : null) } : s,
  );
  const progress = opts.progressLabel ? startProgress(opts.progressLabel, read.position) : null;
  try {
    const result = await runPipeline({
      stages,
      stdin: read.stream,
      stdout: lineSink((l) => {
        scanner.line(l);
        opts.onLine?.(l);
      }),
    });
    const f = result.failure;
    const failedStage = f ? (f.stage === 'tar' ? 'tar' : 'decompress') : null;
    const why = f && f.why === 'exit' ? `exit ${f.code}` : f?.signal ? `killed by ${f.signal}` : null;
    const failure = f && failedStage === 'tar' && tarSaid && why ? `tar failed (${why}): ${tarSaid}` : (f?.message ?? null);
    const fingerprint = await read.done.catch(() => null);
    return {
      ok: result.ok && scanner.unsafe === null,
      failure,
      failedStage,
      unsafe: scanner.unsafe,
      entries: scanner.entries,
      files: scanner.files,
      directories: scanner.directories,
      bytes: scanner.bytes,
      setIds: scanner.setIds,
      read: fingerprint,
    };
  } finally {
    progress?.stop();
  }
}

/** checkArchive of a file given by path (verify, prune): opened once, read once. */
export async function checkArchiveFile(file: string, codec: Codec, opts: Parameters<typeof checkArchive>[2] = {}): Promise<ArchiveCheck> {
  const src = openSource(file);
  try {
    return await checkArchive(src.read(), codec, opts);
  } finally {
    src.close();
  }
}
