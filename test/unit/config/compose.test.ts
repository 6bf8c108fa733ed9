// docker compose command lines as argv tables, and the services a compose file declares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { checkComposeServices, composeExec, composeRun, composeServices } from '../../../lib/config/compose.ts';
import { parseConfig } from '../../../lib/config/load.ts';
import { resolveSettings } from '../../../lib/config/resolve.ts';
import { tempDir } from '../../helpers/cli.ts';

const compose = { file: '/srv/app/docker-compose.production.yml', projectDirectory: null };

test('compose exec and run always pass -T', () => {
  assert.deepEqual(composeExec(compose, 'postgres', ['pg_dump']), ['docker', 'compose', '-f', compose.file, 'exec', '-T', 'postgres', 'pg_dump']);
  assert.deepEqual(composeExec({ file: 'a.yml', projectDirectory: '/srv/app' }, 'django', ['ls']), ['docker', 'compose', '-f', 'a.yml', '--project-directory', '/srv/app', 'exec', '-T', 'django', 'ls']);
  assert.deepEqual(composeRun(compose, 'django', ['sh']), ['docker', 'compose', '-f', compose.file, 'run', '--rm', '--no-deps', '-T', 'django', 'sh']);
});

test('compose services are read from the compose file; a missing one lists those it has', () => {
  assert.deepEqual(composeServices('services:\n  postgres: {image: x}\n  django: {}\n'), ['postgres', 'django']);
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'dc.yml'), 'services:\n  db: {}\n  web: {}\n');
  const s = resolveSettings({
    config: parseConfig('environments:\n  local:\n    compose: { file: dc.yml }\n    database: { mode: compose }\n', 'x'),
    configPath: path.join(dir, 'backup.config.yaml'), envName: 'local', env: {}, cwd: dir,
  });
  assert.throws(() => checkComposeServices(s), /database service "postgres" is not in .*dc\.yml; it has: db, web/);
});
