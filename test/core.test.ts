// Pure and near-pure pieces of the foundation: the dump scanner, pipeline failures, atomic
// publication, backup arguments, the flags parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DumpScanner, unquoteQualified, totalRows } from '../lib/dump-inspector.ts';
import { describeFailure, runPipeline } from '../lib/pipeline.ts';
import { openTemp, publish, sweepStaleTemps, tempOwner, freeSeq } from '../lib/atomic.ts';
import { interpretBackupArg } from '../lib/backup-arg.ts';
import { parseFlags, scriptArgs } from '../lib/cli.ts';
import { UsageError } from '../lib/errors.ts';
import { tempDir, ls } from './helpers/cli.ts';
import { helperDbName, parseDumpHeader } from '../lib/db.ts';
import { humanAge, humanBytes, humanDuration } from '../lib/catalog.ts';

const DUMP = `--
-- PostgreSQL database dump
--

-- Dumped from database version 15.20 (Debian)
-- Dumped by pg_dump version 15.20 (Debian)

--
-- Name: orders; Type: TABLE; Schema: shop; Owner: app
--

CREATE TABLE shop.orders (id int);

--
-- Name: Weird "Name"; Type: TABLE; Schema: public; Owner: app
--

--
-- Name: paid; Type: VIEW; Schema: shop; Owner: app
--

COPY shop.orders (id) FROM stdin;
1
2
3
\\.


COPY public."Weird ""Name""" (k, v) FROM stdin;
a\\nb	\\\\x00
\\.


--
-- PostgreSQL database dump complete
--

\\unrestrict abc

`;

test('scanner reads versions, table of contents, rows and the footer, whatever the chunking', () => {
  for (const size of [1, 3, 7, 64, 100000]) {
    const s = new DumpScanner();
    const buf = Buffer.from(DUMP);
    for (let i = 0; i < buf.length; i += size) s.push(buf.subarray(i, i + size));
    const info = s.finish();
    assert.equal(info.complete, true, `chunk ${size}`);
    assert.equal(info.serverVersion, '15.20');
    assert.equal(info.pgDumpVersion, '15.20');
    assert.deepEqual(info.rows, { 'shop.orders': 3, 'public.Weird "Name"': 1 });
    assert.deepEqual(info.toc, { TABLE: 2, VIEW: 1 });
    assert.equal(info.bytes, buf.length);
    assert.equal(totalRows(info), 4);
  }
});

test('scanner: a dump without its footer, or cut inside COPY, is incomplete', () => {
  const cut = DUMP.slice(0, DUMP.indexOf('-- PostgreSQL database dump complete'));
  const a = new DumpScanner();
  a.push(Buffer.from(cut));
  assert.equal(a.finish().complete, false);
  const b = new DumpScanner();
  b.push(Buffer.from(DUMP.slice(0, DUMP.indexOf('3\n'))));
  assert.equal(b.finish().complete, false);
  const c = new DumpScanner();
  assert.equal(c.finish().complete, false);
  // The seed's dumps (older pg_dump) have no \unrestrict line.
  const d = new DumpScanner();
  d.push(Buffer.from('--\n-- PostgreSQL database dump complete\n--\n\n'));
  assert.equal(d.finish().complete, true);
});

test('unquoteQualified', () => {
  assert.equal(unquoteQualified('public.t'), 'public.t');
  assert.equal(unquoteQualified('"My Schema"."a.b"'), 'My Schema.a.b');
  assert.equal(unquoteQualified('public."x""y"'), 'public.x"y');
});

test('parseDumpHeader', () => {
  assert.deepEqual(parseDumpHeader(DUMP), { isPlainDump: true, pgDumpVersion: '15.20', serverVersion: '15.20' });
  assert.equal(parseDumpHeader('PGDMP\u0001binary').isPlainDump, false);
});

test('describeFailure names the stage that failed on its own, not the one killed by the broken pipe', () => {
  const stages = [{ name: 'pg_dump', argv: [] }, { name: 'zstd', argv: [] }];
  assert.equal(describeFailure([{ name: 'pg_dump', code: null, signal: 'SIGPIPE', stderr: '' }, { name: 'zstd', code: 1, signal: null, stderr: 'zstd: error 70 : Write error : No space left on device\n' }], stages),
    'zstd failed (exit 1): zstd: error 70 : Write error : No space left on device');
  assert.equal(describeFailure([{ name: 'pg_dump', code: 1, signal: null, stderr: 'pg_dump: error: connection failed\nmore\n' }, { name: 'zstd', code: 0, signal: null, stderr: '' }], stages),
    'pg_dump failed (exit 1): pg_dump: error: connection failed');
  assert.equal(describeFailure([{ name: 'pg_dump', code: null, signal: 'SIGKILL', stderr: '' }, { name: 'zstd', code: 0, signal: null, stderr: '' }], stages), 'pg_dump failed (killed by SIGKILL)');
  assert.equal(describeFailure([{ name: 'tar', code: 1, signal: null, stderr: 'file changed' }], [{ name: 'tar', argv: [], okCodes: [1] }]), null);
});

test('runPipeline streams between processes and reports each stage', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const fd = fs.openSync(out, 'w');
  const ok = await runPipeline({ stages: [{ name: 'seq', argv: ['seq', '1', '100000'] }, { name: 'gzip', argv: ['gzip', '-c'] }], stdout: fd });
  fs.closeSync(fd);
  assert.equal(ok.ok, true);
  assert.ok(fs.statSync(out).size > 1000);
  const fd2 = fs.openSync(out, 'w');
  const bad = await runPipeline({ stages: [{ name: 'seq', argv: ['seq', '1', '10000000'] }, { name: 'head', argv: ['sh', '-c', 'head -c 10 >/dev/null; echo boom >&2; exit 3'] }], stdout: fd2 });
  fs.closeSync(fd2);
  assert.equal(bad.ok, false);
  assert.equal(bad.failure, 'head failed (exit 3): boom');
  const missing = await runPipeline({ stages: [{ name: 'nope', argv: ['definitely-not-a-command-xyz'] }], stdout: 'ignore' });
  assert.equal(missing.failure, 'nope could not start: definitely-not-a-command-xyz not found on PATH');
});

test('publish never replaces an existing backup and picks the next sequence number', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'backup_2026_01_01T00_00_00.sql.zst'), 'older');
  const t = await openTemp(dir, 'backup_2026_01_01T00_00_00.sql.zst');
  fs.writeSync(t.fd, 'newer');
  const name = (seq: number) => `backup_2026_01_01T00_00_00${seq > 1 ? `-${seq}` : ''}.sql.zst`;
  const p = await publish(t, dir, name, 1);
  assert.equal(path.basename(p), 'backup_2026_01_01T00_00_00-2.sql.zst');
  assert.equal(fs.readFileSync(path.join(dir, 'backup_2026_01_01T00_00_00.sql.zst'), 'utf8'), 'older');
  assert.equal(fs.readFileSync(p, 'utf8'), 'newer');
  assert.deepEqual(ls(dir), ['backup_2026_01_01T00_00_00-2.sql.zst', 'backup_2026_01_01T00_00_00.sql.zst']);
  assert.equal((fs.statSync(p).mode & 0o777).toString(8), '600');
});

test('stale temporary files of dead runs are swept; live ones stay', async () => {
  const dir = tempDir();
  const dead = 2 ** 22 + 12345; // above pid_max defaults: no such process
  fs.writeFileSync(path.join(dir, `.backup_2026_01_01T00_00_00.sql.zst.partial-${dead}-abc`), 'x');
  fs.writeFileSync(path.join(dir, `.backup_2026_01_01T00_00_01.sql.zst.partial-${process.pid}-abc`), 'x');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
  assert.deepEqual(await sweepStaleTemps(dir), [`.backup_2026_01_01T00_00_00.sql.zst.partial-${dead}-abc`]);
  assert.equal(ls(dir).length, 2);
  assert.equal(tempOwner('.x.partial-42-zz'), 42);
  assert.equal(tempOwner('backup.sql'), null);
  assert.equal(freeSeq(new Set(['a1', '.a2.partial-1-x']), (s) => [`a${s}`]), 3);
});

const args: [string, string, string | RegExp][] = [
  ['backup_2024_01_15T14_30_00.sql.gz', 'ok', '/bk/postgres/backup_2024_01_15T14_30_00.sql.gz'],
  ['/elsewhere/backup_2024_01_15T14_30_00.sql.zst', 'ok', '/elsewhere/backup_2024_01_15T14_30_00.sql.zst'],
  ['production_backup_2024_01_15T14_30_00.sql.gz', 'ok', '/bk/postgres/production_backup_2024_01_15T14_30_00.sql.gz'],
  ['../../etc/passwd', 'usage', /not a backup name/],
  ['..', 'usage', /not a backup name/],
  ['backup_2024_01_15T14_30_00.sql.gz\0x', 'usage', /NUL/],
  ['media_backup_2024_01_15T14_30_00.tar.gz', 'usage', /is a media backup/],
  ['', 'usage', /no backup given/],
  ['backup.sql.gz', 'usage', /not a backup name/],
];
for (const [arg, kind, expected] of args) {
  test(`backup argument ${JSON.stringify(arg)}`, () => {
    if (kind === 'ok') return assert.equal(interpretBackupArg(arg, '/bk', 'database').path, expected);
    assert.throws(() => interpretBackupArg(arg, '/bk', 'database'), (e: Error) => e instanceof UsageError && (expected as RegExp).test(e.message));
  });
}

test('flags: common ones, unknown ones refused, positionals counted', () => {
  const spec = { name: 'restore-db' as const, summary: '', usage: '<file>', positionals: { min: 1, max: 1 } };
  const p = parseFlags(spec, ['x.sql.gz', '--env', 'production', '--yes']);
  assert.equal(p.flags.env, 'production');
  assert.equal(p.flags.yes, true);
  assert.deepEqual(p.args, ['x.sql.gz']);
  assert.throws(() => parseFlags(spec, []), /missing argument/);
  assert.throws(() => parseFlags(spec, ['a', 'b']), /unexpected argument "b"/);
  assert.throws(() => parseFlags(spec, ['a', '--frob']), /unknown flag --frob/);
  assert.equal(parseFlags(spec, ['--help']).help, true);
  assert.equal(parseFlags(spec, ['a']).flags.env, 'local');
  assert.deepEqual(scriptArgs(['/usr/bin/node', '/x/node_modules/.bin/zx', 'scripts/a.ts', '--yes']), ['--yes']);
  assert.deepEqual(scriptArgs(['/usr/bin/node', '/x/scripts/a.ts', 'f']), ['f']);
});

test('helper database names stay within 63 bytes', () => {
  assert.equal(helperDbName('shop', 'restoring', 123), 'shop__restoring_123');
  assert.ok(Buffer.byteLength(helperDbName('x'.repeat(63), 'replaced', 99999)) <= 63);
});

test('human formats', () => {
  assert.equal(humanBytes(512), '512 B');
  assert.equal(humanBytes(1536), '1.5 KiB');
  assert.equal(humanBytes(300 * 1024 * 1024), '300 MiB');
  assert.equal(humanAge(new Date(0), new Date(90061000)), '1d 1h');
  assert.equal(humanAge(new Date(0), new Date(42000)), '42s');
  assert.equal(humanDuration(65000), '1:05');
  assert.equal(humanDuration(3723000), '1:02:03');
});
