// libpq connections and PostgreSQL command lines: argv tables (direct and compose mode), URLs
// taken apart into libpq variables, the password in the tools' environment, tool and server versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseTarget } from '../../../lib/config/resolve.ts';
import { dumpArgv, openConnection, parseDatabaseUrl, parseToolMajor, pgArgv, serverMajor } from '../../../lib/db/pg.ts';

const compose = { file: '/srv/app/docker-compose.production.yml', projectDirectory: null };
const composeDb: DatabaseTarget = { mode: 'compose', service: 'postgres', compose };

test('pgArgv: direct mode', () => {
  const direct: DatabaseTarget = { mode: 'direct', url: 'postgres://u:secret@h/d' };
  assert.deepEqual(pgArgv(direct, 'pg_dump', []), ['pg_dump', '-w']);
  assert.deepEqual(pgArgv(direct, 'psql', ['-c', 'select 1'], 'postgres'), ['psql', '-w', '--dbname', 'postgres', '-c', 'select 1']);
  assert.deepEqual(pgArgv(direct, 'psql', ['-f', '-'], 'scratch', 'owner'), ['psql', '-w', '--username', 'owner', '--dbname', 'scratch', '-f', '-']);
  // The URL (and its password) never reaches argv.
  assert.ok(!pgArgv(direct, 'pg_dump', []).join(' ').includes('secret'));
});

test('pgArgv: compose mode uses the container POSTGRES_USER / POSTGRES_DB', () => {
  const argv = pgArgv(composeDb, 'pg_dump', ['--schema-only']);
  assert.deepEqual(argv.slice(0, 8), ['docker', 'compose', '-f', compose.file, 'exec', '-T', 'postgres', 'sh']);
  assert.equal(argv[8], '-c');
  assert.match(argv[9]!, /-U "\$\{user:-\$POSTGRES_USER\}" --dbname "\$\{db:-\$POSTGRES_DB\}"/);
  assert.deepEqual(argv.slice(10), ['sh', '', '', 'pg_dump', '--schema-only']);
  assert.deepEqual(pgArgv(composeDb, 'psql', [], 'scratch').slice(10, 14), ['sh', 'scratch', '', 'psql']);
  assert.deepEqual(pgArgv(composeDb, 'psql', [], 'scratch', 'owner').slice(10, 14), ['sh', 'scratch', 'owner', 'psql']);
});

test("dumpArgv: direct mode buffers pg_dump's output through stdbuf when it is installed; compose mode never", () => {
  const direct: DatabaseTarget = { mode: 'direct', url: null };
  const cases: [DatabaseTarget, string | undefined, string | null, string[]][] = [
    [direct, undefined, '/usr/bin/stdbuf', ['/usr/bin/stdbuf', '--output=1M', 'pg_dump', '-w']],
    [direct, 'live', '/usr/bin/stdbuf', ['/usr/bin/stdbuf', '--output=1M', 'pg_dump', '-w', '--dbname', 'live']],
    [direct, undefined, null, ['pg_dump', '-w']],
    [composeDb, undefined, '/usr/bin/stdbuf', pgArgv(composeDb, 'pg_dump', [])],
    [composeDb, 'live', null, pgArgv(composeDb, 'pg_dump', [], 'live')],
  ];
  for (const [target, database, stdbuf, want] of cases) assert.deepEqual(dumpArgv(target, database, stdbuf), want, `${target.mode} ${database} ${stdbuf}`);
});

const urls: [string, Record<string, string>, string | null][] = [
  ['postgres://app:pw@db.example:6543/shop', { PGHOST: 'db.example', PGPORT: '6543', PGUSER: 'app', PGDATABASE: 'shop' }, 'pw'],
  ['postgresql://app@localhost/shop?sslmode=require', { PGHOST: 'localhost', PGUSER: 'app', PGDATABASE: 'shop', PGSSLMODE: 'require' }, null],
  ['postgres://a%40b:p%3Aw%2F@[::1]:5432/d%20b', { PGHOST: '::1', PGPORT: '5432', PGUSER: 'a@b', PGDATABASE: 'd b' }, 'p:w/'],
  ['postgres:///shop?host=/var/run/postgresql', { PGDATABASE: 'shop', PGHOST: '/var/run/postgresql' }, null],
];

for (const [url, env, password] of urls) {
  test(`parseDatabaseUrl ${url}`, () => assert.deepEqual(parseDatabaseUrl(url), { env, password }));
}

test('parseDatabaseUrl refuses what it cannot honour', () => {
  assert.throws(() => parseDatabaseUrl('mysql://x@y/z'), /must start with postgres/);
  assert.throws(() => parseDatabaseUrl('not a url'), /not a valid URL/);
  assert.throws(() => parseDatabaseUrl('postgres://h/d?frobnicate=1'), /parameter "frobnicate" is not supported/);
});

test('openConnection: the password goes to the tools as PGPASSWORD, the URL to nobody', () => {
  const conn = openConnection({ mode: 'direct', url: 'postgres://app:p%3As@db/shop' }, { DATABASE_URL: 'postgres://app:p%3As@db/shop', PATH: '/bin' });
  assert.deepEqual(conn.env, { PATH: '/bin', PGHOST: 'db', PGUSER: 'app', PGDATABASE: 'shop', PGPASSWORD: 'p:s' });
});

test('parseDatabaseUrl: a bad percent-escape is bad usage, not a crash, and does not repeat the part', () => {
  for (const url of ['postgres://app:50%@db/shop', 'postgres://a%zz@db/shop', 'postgres://app@db/sh%E0op']) {
    assert.throws(() => parseDatabaseUrl(url), (err: Error) => err.name === 'UsageError' && /bad percent-escape/.test(err.message) && !err.message.includes('50%'));
  }
});

test('versions', () => {
  assert.equal(parseToolMajor('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)'), 15);
  assert.equal(parseToolMajor('pg_dump (PostgreSQL) 9.6.24'), 9);
  assert.equal(parseToolMajor('pg_dump (PostgreSQL) 17beta2'), 17);
  assert.equal(parseToolMajor('15.20'), 15);
  assert.equal(serverMajor('150020'), 15);
  assert.equal(serverMajor('90624'), 9);
  assert.equal(serverMajor('x'), null);
});
