// Loading a dump into an existing, empty database, in one transaction that stops at the first
// error: either all of the dump is in, or nothing is. Shared by restore-db and the restore drill.
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { FailedError } from '../cli/errors.ts';
import { decompressArgv } from '../core/codec.ts';
import type { Codec } from '../core/naming.ts';
import { runPipeline } from '../proc/pipeline.ts';
import { DumpScanner, FOOTER, parseDumpHeader, type DumpHeader, type DumpInfo } from './dump-scanner.ts';
import { parseToolMajor, pgArgv, type PgConnection } from './pg.ts';
import { preflight, type ServerFacts } from './server.ts';

/** Decompress just the start of a backup to read its header; stops the decompressor early. */
export async function readDumpHeader(file: string, codec: Codec): Promise<DumpHeader> {
  let text = '';
  const enough = new AbortController();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8');
      if (text.length > 16384 || /^-- Dumped by pg_dump version/m.test(text)) enough.abort();
      done();
    },
  });
  const fd = fs.openSync(file, 'r');
  try {
    await runPipeline({ stdin: fd, stages: [{ name: codec, argv: decompressArgv(codec) }], stdout: sink, signal: enough.signal });
  } finally {
    fs.closeSync(fd);
  }
  return parseDumpHeader(text);
}

/** Before any change: the file is a plain dump, the server is reachable and not older than the dump. */
export async function checkLoadable(conn: PgConnection, file: string, codec: Codec): Promise<ServerFacts> {
  const header = await readDumpHeader(file, codec);
  if (!header.isPlainDump) throw new FailedError(`${file} does not decompress to a PostgreSQL plain-format dump`);
  const facts = await preflight(conn, 'postgres');
  const dumpMajor = header.pgDumpVersion ? parseToolMajor(header.pgDumpVersion) : null;
  if (dumpMajor !== null && dumpMajor > facts.serverMajor) {
    throw new FailedError(
      `this dump was made by pg_dump ${dumpMajor}, newer than the server (${facts.serverMajor}); restore it on PostgreSQL ${dumpMajor} or later`,
    );
  }
  return facts;
}

export interface LoadResult {
  /** Why the load failed (a stage's error, or a dump cut short), else null. */
  failure: string | null;
  /** What the dump held, scanned as it was loaded; null when not scanned. */
  info: DumpInfo | null;
}

/**
 * Load a backup into an existing (empty) database in one transaction that stops at the first
 * error: either all of the dump is in, or nothing is. Shared by restore and the restore drill.
 * `scan: false` spares reading a copy of the dump, for a file whose checksum matched a manifest:
 * its footer and rows were checked when it was written.
 */
export async function loadDump(conn: PgConnection, file: string, codec: Codec, database: string, opts: { scan?: boolean } = {}): Promise<LoadResult> {
  const scanner = opts.scan === false ? null : new DumpScanner();
  const input = fs.openSync(file, 'r');
  try {
    const res = await runPipeline({
      stdin: input,
      stages: [
        { name: `${codec} -d`, argv: decompressArgv(codec) },
        {
          name: 'psql',
          argv: pgArgv(conn.target, 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction'], database),
          env: conn.env,
        },
      ],
      stdout: 'ignore',
      tap: scanner ? { after: 0, look: (chunk) => scanner.push(chunk) } : undefined,
    });
    const info = scanner?.finish() ?? null;
    if (res.failure) return { failure: res.failure.message, info };
    if (info && !info.complete) return { failure: `the dump ends without "${FOOTER}" (truncated?)`, info };
    return { failure: null, info };
  } finally {
    fs.closeSync(input);
  }
}
