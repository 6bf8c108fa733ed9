// SQL text built by the tool: identifiers and literals quoted, and rowCountSql against the real
// PostgreSQL (one query counting every listed table, whatever its name).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { openConnection } from '../../../lib/db/pg.ts';
import { psql } from '../../../lib/db/server.ts';
import { quoteIdent, quoteLiteral, rowCountSql } from '../../../lib/db/sql.ts';
import { createDb, sql, PG_ENV, type TempDb } from '../../helpers/pg.ts';

const dbs: TempDb[] = [];
after(() => dbs.forEach((d) => d.drop()));

test('rowCountSql: counts every listed table in one query, whatever its name; absent tables are absent', async () => {
  const d = createDb('cbt_rows');
  dbs.push(d);
  sql(d.name, `
    CREATE SCHEMA "we.ird";
    CREATE TABLE "we.ird"."Tab ""le""" (x int); INSERT INTO "we.ird"."Tab ""le""" SELECT generate_series(1, 7);
    CREATE TABLE public.plain (x int);
    CREATE TABLE public.other (x int); INSERT INTO public.other VALUES (1);
  `);
  const conn = openConnection({ mode: 'direct', url: null }, { ...process.env, ...PG_ENV });
  const out = await psql(conn, rowCountSql(['we.ird.Tab "le"', 'public.plain', 'public.gone']), d.name);
  assert.deepEqual(JSON.parse(out), { 'we.ird.Tab "le"': 7, 'public.plain': 0 });
});

test('SQL quoting', () => {
  assert.equal(quoteIdent('we"ird'), '"we""ird"');
  assert.equal(quoteLiteral("it's"), "'it''s'");
});
