// The dump scanner: versions, table of contents, rows per table and the completion footer, read
// from a plain dump in chunks of any size; the names it unquotes; the header of a dump file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DumpScanner, parseDumpHeader, totalRows, unquoteQualified } from '../../../lib/db/dump-scanner.ts';

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
