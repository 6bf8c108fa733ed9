import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DumpGuard, identName } from '../../../lib/db/dump-guard.ts';

/** A dump's text through the guard, in chunks of `size` bytes (1: every boundary is a chunk boundary). */
function judge(text: string, size = 1 << 16) {
  const g = new DumpGuard();
  const buf = Buffer.from(text, 'utf8');
  for (let i = 0; i < buf.length; i += size) g.push(buf.subarray(i, i + size));
  return g.finish();
}

// What pg_dump 15/17 writes, trimmed: header, \restrict, SET lines, a function with a BEGIN ATOMIC body,
// a dollar-quoted body holding ';' and a backslash, a table whose name holds ';', COPY data with
// backslashes and a line that looks like a meta-command, large objects between BEGIN and COMMIT.
const GENUINE = `--
-- PostgreSQL database dump
--

\\restrict GNdaCKCpL62SL8iIyVam2hQX4W0UgYmHtCXu03E7RFnB0gBZmjo9qN27lmGjD2c

-- Dumped from database version 15.19
SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
CREATE FUNCTION public.f1(a integer) RETURNS integer
    LANGUAGE sql
    BEGIN ATOMIC
 SELECT (f1.a + 1);
 SELECT CASE WHEN (f1.a > 0) THEN 1 ELSE 2 END AS "case";
END;
ALTER FUNCTION public.f1(a integer) OWNER TO app;
CREATE FUNCTION public.f2() RETURNS text
    LANGUAGE plpgsql
    AS $_$ BEGIN RETURN 'x;y\\!'; END $_$;
CREATE TABLE public."We;ird" (id integer NOT NULL, t text);
ALTER TABLE public."We;ird" OWNER TO "Mixed Role";
COMMENT ON TABLE public."We;ird" IS 'with ; and \\ and $$ and -- not a comment';
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
/* a /* nested */ comment ; \\! still a comment */
SELECT pg_catalog.lo_create('19491');
COPY public."We;ird" (id, t) FROM stdin;
1	back\\\\slash \\\\! not a command
2	line\\n\\\\.\\nbreak
\\.
SELECT pg_catalog.setval('public.s', 42, true);
BEGIN;
SELECT pg_catalog.lo_open('19491', 131072);
SELECT pg_catalog.lowrite(0, '\\x68656c6c6f');
SELECT pg_catalog.lo_close(0);
COMMIT;
E'';
--
-- PostgreSQL database dump complete
--

\\unrestrict GNdaCKCpL62SL8iIyVam2hQX4W0UgYmHtCXu03E7RFnB0gBZmjo9qN27lmGjD2c
`.replace("E'';\n", '');

test('DumpGuard: what pg_dump writes passes, in any chunking', () => {
  for (const size of [1, 2, 3, 7, 64, 1 << 16]) {
    const v = judge(GENUINE, size);
    assert.equal(v.refused, null, `chunks of ${size}`);
    assert.deepEqual(v.owners, ['Mixed Role', 'app']);
    assert.deepEqual(v.extensions, ['pg_trgm']);
  }
});

/** GENUINE with `insert` placed before the line that starts with `before`. */
function planted(insert: string, before = 'SET check_function_bodies'): string {
  assert.ok(GENUINE.includes(`\n${before}`));
  return GENUINE.replace(`\n${before}`, `\n${insert}\n${before}`);
}

test('DumpGuard: meta-commands, server-side COPY and session changes are refused with their line', () => {
  const line = GENUINE.split('\n').findIndex((l) => l.startsWith('SET check_function_bodies')) + 1;
  const cases: [string, RegExp][] = [
    ['\\! id > /tmp/pwned', /psql meta-command "\\!"/],
    ['\\o |id', /psql meta-command "\\o"/],
    ["\\copy x from program 'id'", /psql meta-command "\\copy"/],
    ['\\set x `id`', /psql meta-command "\\set"/],
    ['\\i /etc/passwd', /psql meta-command "\\i"/],
    ['\\connect other', /psql meta-command "\\connect"/],
    ['\\gexec', /psql meta-command "\\gexec"/],
    ['\\restrict abc \\! id', /more than its key/],
    ['SELECT 1; \\! id', /a query pg_dump never runs/],
    ["COPY (SELECT 1) TO PROGRAM 'id';", /only writes COPY … FROM stdin/],
    ["COPY public.t FROM PROGRAM 'id';", /only writes COPY … FROM stdin/],
    ["COPY public.t TO '/tmp/x';", /only writes COPY … FROM stdin/],
    ["COPY public.t FROM '/etc/passwd';", /only writes COPY … FROM stdin/],
    ['SET ROLE postgres;', /changes who the session is/],
    ['SET SESSION AUTHORIZATION postgres;', /changes who the session is/],
    ['RESET ROLE;', /a RESET statement/],
    ['SET standard_conforming_strings = off;', /standard_conforming_strings = on/],
    ["SET standard_conforming_strings = 'off';", /standard_conforming_strings = on/],
    ['DO $$ BEGIN PERFORM 1; END $$;', /a DO statement/],
    ["CALL p();", /a CALL statement/],
    ["LOAD 'evil';", /a LOAD statement/],
    ['CREATE ROLE x SUPERUSER;', /changes the whole server/],
    ['ALTER SYSTEM SET x = 1;', /changes the whole server/],
    ['CREATE LANGUAGE plpython3u;', /changes the whole server/],
    ['SELECT evil();', /a query pg_dump never runs/],
    ["SELECT pg_catalog.set_config('role', 'postgres', false) || evil();", /never runs|changes/],
  ];
  for (const [insert, why] of cases) {
    const v = judge(planted(insert), 5);
    assert.match(v.refused ?? '', why, insert);
    assert.equal(v.line, line, insert);
    assert.match(v.refused!, new RegExp(`^line ${line}: `));
  }
});

test('DumpGuard: a command hidden where psql would still run it is found', () => {
  // Text after the COPY line runs after the data: nothing may follow it.
  const afterCopy = GENUINE.replace('COPY public."We;ird" (id, t) FROM stdin;', 'COPY public."We;ird" (id, t) FROM stdin; \\! id');
  assert.match(judge(afterCopy).refused ?? '', /text after COPY/);
  // E'' strings take backslash escapes: this string ends before the backslash-command, as psql reads it.
  assert.match(judge(planted("SELECT pg_catalog.set_config(E'x''\\' ', 'y', false) \\! id;")).refused ?? '', /"\\!"/);
  // A \. that is not alone on its line does not end COPY data; a later line that is, does.
  const data = GENUINE.replace('2\tline', '2\t\\. x\n3\tline');
  assert.equal(judge(data).refused, null);
  // After the data ends, commands are seen again.
  assert.match(judge(GENUINE.replace('\\.\nSELECT pg_catalog.setval', '\\.\n\\! id\nSELECT pg_catalog.setval'), 3).refused ?? '', /"\\!"/);
  // A meta-command at the very end of the file.
  assert.match(judge(`${GENUINE}\\! id`).refused ?? '', /"\\!"/);
});

test('DumpGuard: what only looks hostile inside quotes, comments and bodies passes', () => {
  const cases = [
    "COMMENT ON TABLE public.t IS 'COPY x TO PROGRAM ''id''; \\! id';",
    'CREATE FUNCTION public.g() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE $$COPY (SELECT 1) TO PROGRAM $$ || quote_literal($q$id$q$); END $f$;',
    '-- \\! id in a comment',
    '/* DO $$ x $$; \\! id */',
    'CREATE TABLE public."\\! id" (x integer);',
  ];
  for (const insert of cases) assert.equal(judge(planted(insert), 4).refused, null, insert);
});

test('identName: written identifiers as names', () => {
  assert.equal(identName('App'), 'app');
  assert.equal(identName('"Mixed ""Role"""'), 'Mixed "Role"');
});
