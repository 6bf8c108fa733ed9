// Reading a dump before it is trusted, and loading it. Shared by restore-db, the restore drill and
// verify. The check reads the whole file once (lib/store/source: by position, hashed) through the
// decompressor and three readers: the header, the scanner (footer, table of contents, rows) and the
// guard (only what pg_dump writes, lib/db/dump-guard). The load reads it again, the guard in the
// stream before psql sees a byte, into an existing, empty database in one transaction that stops
// at the first error, as the least privileged role that can restore it; then the bytes loaded must
// be the bytes checked.
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { FailedError } from '../cli/errors.ts';
import { decompressArgv } from '../core/codec.ts';
import type { Codec } from '../core/naming.ts';
import { runPipeline } from '../proc/pipeline.ts';
import { crashPoint } from '../proc/fault.ts';
import { judgeManifest } from '../core/verdicts.ts';
import type { Manifest } from '../store/manifest.ts';
import type { BackupSource } from '../store/source.ts';
import type { Fingerprint } from '../store/writer.ts';
import { DumpGuard, type GuardVerdict } from './dump-guard.ts';
import { DumpScanner, FOOTER, parseDumpHeader, type DumpHeader, type DumpInfo } from './dump-scanner.ts';
import { parseToolMajor, pgArgv, type PgConnection } from './pg.ts';
import { preflight, psql, type ServerFacts } from './server.ts';
import { quoteLiteral } from './sql.ts';

export interface DumpPass {
  /** Why the file could not be read to its end (the decompressor failed), else null. */
  failure: string | null;
  info: DumpInfo;
  header: DumpHeader;
  guard: GuardVerdict;
}

const HEAD_BYTES = 16384;

/** Decompress a whole dump and read it as it goes by; only the first 16 KiB (the header) are kept. */
export async function readDump(input: Readable | number, codec: Codec, stageName = `${codec} -d`): Promise<DumpPass> {
  const scanner = new DumpScanner();
  const guard = new DumpGuard();
  let head = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (head.length < HEAD_BYTES) head += chunk.toString('utf8', 0, Math.min(chunk.length, HEAD_BYTES));
      scanner.push(chunk);
      guard.push(chunk);
      done();
    },
  });
  const res = await runPipeline({ stdin: input, stages: [{ name: stageName, argv: decompressArgv(codec) }], stdout: sink });
  return { failure: res.failure?.message ?? null, info: scanner.finish(), header: parseDumpHeader(head), guard: guard.finish() };
}

export interface CheckedDump extends DumpPass {
  /** What was read: size and sha256 of the compressed file's bytes. */
  read: Fingerprint | null;
}

/** The check before a restore or a drill: one read of the opened file, recorded in the source. */
export async function checkDump(src: BackupSource, codec: Codec): Promise<CheckedDump> {
  const r = src.read();
  const pass = await readDump(r.stream, codec);
  const read = await r.done.catch(() => null);
  if (read && !pass.failure) src.check(read);
  return { ...pass, read };
}

/** Pure: why a checked dump must not be loaded (or null), as the end of "refusing to restore X: …". */
export function refusal(pass: DumpPass): string | null {
  if (pass.guard.refused) return `it holds what pg_dump never writes (${pass.guard.refused}); it was not made by this tool, or was tampered with`;
  if (pass.failure) return `it is damaged: ${pass.failure}`;
  if (!pass.header.isPlainDump) return 'it does not decompress to a PostgreSQL plain-format dump';
  if (!pass.info.complete) return `it ends without "${FOOTER}" (truncated?)`;
  return null;
}

/** Pure: a dump made by a newer pg_dump major than the server cannot be loaded. */
export function versionRefusal(header: DumpHeader, facts: Pick<ServerFacts, 'serverMajor'>): string | null {
  const dumpMajor = header.pgDumpVersion ? parseToolMajor(header.pgDumpVersion) : null;
  if (dumpMajor === null || dumpMajor <= facts.serverMajor) return null;
  return `this dump was made by pg_dump ${dumpMajor}, newer than the server (${facts.serverMajor}); restore it on PostgreSQL ${dumpMajor} or later`;
}

/** The checks a restore and a drill make before anything is loaded; throws with the reason. */
export async function checkForLoad(
  conn: PgConnection,
  src: BackupSource,
  name: string,
  codec: Codec,
  manifest: Manifest | null,
  server: Promise<{ serverVersionNum: string; serverVersion: string }>,
): Promise<DumpPass> {
  const refuse = (why: string) => new FailedError(`refusing to restore ${name}, nothing was changed: ${why}`);
  // The server's version and the file are independent questions: side by side.
  const [facts, pass] = await Promise.all([preflight(conn, server), checkDump(src, codec)]);
  if (manifest && pass.read) {
    const { problems } = judgeManifest({ kind: 'database', codec, size: pass.read.size, sha256: pass.read.sha256 }, manifest);
    if (problems.length) throw refuse(problems.join('; '));
  }
  const why = refusal(pass) ?? versionRefusal(pass.header, facts);
  if (why) throw refuse(why);
  return pass;
}

export interface LoadRole {
  /** The role the load connects as, or null for the configured connection's own. */
  user: string | null;
  /** One line saying why (shown when it is not the least privileged choice, or when it is a reduction). */
  why: string;
}

interface RoleFacts {
  me: string;
  meSuper: boolean;
  owner: string | null;
  ownerSuper: boolean;
  /** Of the dump's owners, those the owner is not a member of. */
  foreign: string[];
  /** Of the dump's extensions, those only a superuser may create. */
  untrusted: string[];
}

/** Pure: who should load the dump into a database owned by `facts.owner`. */
export function chooseLoadRole(facts: RoleFacts): LoadRole {
  if (!facts.meSuper) return { user: null, why: `loading as "${facts.me}" (not a superuser)` };
  const superuser = (because: string): LoadRole => ({
    user: null,
    why: `loading as "${facts.me}", a superuser, because ${because}; what the file holds was checked against what pg_dump writes`,
  });
  if (!facts.owner) return superuser('the database has no owner to load as');
  if (facts.ownerSuper) return superuser(`the database's owner "${facts.owner}" is a superuser itself`);
  if (facts.untrusted.length) return superuser(`the dump creates extensions only a superuser may create (${facts.untrusted.join(', ')})`);
  if (facts.foreign.length) return superuser(`the dump gives objects to roles "${facts.owner}" is not a member of (${facts.foreign.join(', ')})`);
  return { user: facts.owner, why: `loading as "${facts.owner}", the database's owner, without superuser privileges` };
}

/**
 * The least privileged role that can load the dump into `database` (owned by the live database's
 * owner): that owner, unless it is a superuser, or the dump needs one (untrusted extensions, objects
 * of roles the owner is not a member of). A superuser session is what would let a `COPY … PROGRAM`
 * hidden in a function body reach the server's shell; the owner can only restore its own objects.
 * The owner is tried for real (it may not be allowed to log in): if it cannot connect, the
 * configured role loads, and the line says so.
 */
export async function loadRoleFor(conn: PgConnection, database: string, guard: GuardVerdict): Promise<LoadRole> {
  const arr = (xs: string[]) => `ARRAY[${xs.map(quoteLiteral).join(', ') || "''"}]::text[]`;
  const sql =
    `WITH o AS (SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ${quoteLiteral(database)}) ` +
    `SELECT json_build_object('me', current_user, 'meSuper', (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), ` +
    `'owner', (SELECT owner FROM o), 'ownerSuper', coalesce((SELECT rolsuper FROM pg_roles, o WHERE rolname = o.owner), false), ` +
    `'foreign', coalesce((SELECT json_agg(r) FROM unnest(${arr(guard.owners)}) r, o WHERE r <> '' AND (NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) OR NOT pg_has_role(o.owner, r, 'MEMBER'))), '[]'), ` +
    `'untrusted', coalesce((SELECT json_agg(DISTINCT v.name) FROM pg_available_extension_versions v WHERE v.name = ANY(${arr(guard.extensions)}) AND v.superuser AND NOT v.trusted), '[]'))`;
  const facts = JSON.parse(await psql(conn, sql, 'postgres')) as RoleFacts;
  const role = chooseLoadRole(facts);
  if (role.user) {
    try {
      await psql(conn, 'SELECT 1', database, role.user);
    } catch (err) {
      return { user: null, why: `loading as "${facts.me}", a superuser, because its owner "${role.user}" cannot connect here (${(err as Error).message})` };
    }
  }
  return role;
}

export interface LoadResult {
  /** Why the load failed (a stage's error, the guard, a dump cut short), else null. */
  failure: string | null;
  /** What the dump held, scanned as it was loaded. */
  info: DumpInfo;
}

/**
 * Load a checked backup into an existing (empty) database in one transaction that stops at the
 * first error: either all of the dump is in, or nothing is. The guard sits in the stream: a line
 * it refuses never reaches psql. At the end the bytes read must be the bytes checked
 * (`src.verifySame`), or the load counts as failed (its transaction is already committed into the
 * scratch database, which the caller drops; nothing live has changed).
 */
export async function loadDump(conn: PgConnection, src: BackupSource, codec: Codec, database: string, role: LoadRole): Promise<LoadResult> {
  const scanner = new DumpScanner();
  const guard = new DumpGuard();
  const r = src.read();
  let first = true;
  const res = await runPipeline({
    stdin: r.stream,
    stages: [
      { name: `${codec} -d`, argv: decompressArgv(codec) },
      {
        name: 'psql',
        // psql lexes strings by the server's standard_conforming_strings; it is set before the file.
        argv: pgArgv(conn.target, 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-c', 'SET standard_conforming_strings = on', '-f', '-'], database, role.user ?? undefined),
        env: conn.env,
      },
    ],
    stdout: 'ignore',
    tap: {
      after: 0,
      look: (chunk) => {
        if (first) {
          first = false;
          crashPoint('restore-db:loading');
        }
        guard.push(chunk);
        if (guard.refused) throw new Error(`the file changed after it was checked: ${guard.finish().refused}`);
        scanner.push(chunk);
      },
    },
  });
  const info = scanner.finish();
  if (res.failure) return { failure: res.failure.message, info };
  if (!info.complete) return { failure: `the dump ends without "${FOOTER}" (truncated?)`, info };
  try {
    src.verifySame(await r.done, 'nothing live was changed');
  } catch (err) {
    if (err instanceof FailedError) return { failure: err.message, info };
    throw err;
  }
  return { failure: null, info };
}
