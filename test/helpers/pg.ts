// Real PostgreSQL for tests: uniquely named databases on the local server, dropped after.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
export const PG_ENV = { PGHOST: PG.host, PGPORT: String(PG.port), PGUSER: PG.user };

export function urlFor(db: string, password?: string): string {
  return `postgres://${PG.user}${password ? `:${encodeURIComponent(password)}` : ''}@${PG.host}:${PG.port}/${db}`;
}

export function sql(db: string, text: string, user = PG.user): string {
  return execFileSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', text], {
    env: { ...process.env, ...PG_ENV, PGUSER: user },
    encoding: 'utf8',
  }).trim();
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${crypto.randomBytes(4).toString('hex')}`;
}

export interface TempDb {
  name: string;
  url: string;
  drop(): void;
}

export function createDb(prefix = 'cbt'): TempDb {
  const name = uniqueName(prefix);
  sql('postgres', `CREATE DATABASE "${name}"`);
  return {
    name,
    url: urlFor(name),
    drop() {
      // Also any helper databases a failed restore could have left (it must not, and tests check).
      const all = sql('postgres', `SELECT datname FROM pg_database WHERE datname LIKE '${name}%'`).split('\n').filter(Boolean);
      for (const d of all) sql('postgres', `DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`);
    },
  };
}

export function databasesLike(prefix: string): string[] {
  return sql('postgres', `SELECT datname FROM pg_database WHERE datname LIKE '${prefix}%' ORDER BY 1`).split('\n').filter(Boolean);
}

/** A canonical text of a database's schema and data, for before/after comparisons. */
export function dumpText(db: string): string {
  const out = execFileSync('pg_dump', ['--no-owner', '--restrict-key=compare', '-d', db], { env: { ...process.env, ...PG_ENV }, encoding: 'utf8', maxBuffer: 1 << 28 });
  return out.replace(/^-- Dumped (from|by) .*$/gm, '');
}

/** A database with the awkward things a real app has (made by `user`, who then owns it all). */
export function seedRichDb(db: string, user = PG.user): void {
  sql(db, `
    CREATE SCHEMA shop;
    CREATE TYPE shop.status AS ENUM ('new', 'paid', 'shipped');
    CREATE TABLE shop.orders (id bigserial PRIMARY KEY, status shop.status NOT NULL, meta jsonb, note text, created timestamptz DEFAULT '2024-01-01');
    CREATE TABLE public."Weird ""Name""" (k text PRIMARY KEY, v bytea);
    CREATE SEQUENCE public.counter START 42;
    SELECT setval('public.counter', 77);
    INSERT INTO shop.orders (status, meta, note)
      SELECT (ARRAY['new','paid','shipped']::shop.status[])[1 + g % 3], jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'ü')), 'línea ' || g || E'\\n tab\\t"quote"'
      FROM generate_series(1, 500) g;
    INSERT INTO public."Weird ""Name""" VALUES ('emoji 🎉', '\\x00ff10'), ('日本語', NULL);
    CREATE VIEW shop.paid AS SELECT id, meta FROM shop.orders WHERE status = 'paid';
    SELECT lo_from_bytea(0, 'large object contents');
  `, user);
}
