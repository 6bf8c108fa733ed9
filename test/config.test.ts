import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig, resolveSettings, expandVars, loadConfigFile } from '../lib/config.ts';
import { UsageError } from '../lib/errors.ts';
import { composeServices, checkComposeServices } from '../lib/compose.ts';
import { ROOT, tempDir } from './helpers/cli.ts';

const resolve = (yamlText: string | null, env: NodeJS.ProcessEnv = {}, envName = 'local') =>
  resolveSettings({
    config: yamlText === null ? null : parseConfig(yamlText, '/etc/app/backup.config.yaml'),
    configPath: yamlText === null ? null : '/etc/app/backup.config.yaml',
    envName,
    env,
    cwd: '/work',
  });

test('built-in defaults: direct database, host media ./media, ./backups, zstd, seed retention', () => {
  const s = resolve(null);
  assert.deepEqual(s.database, { mode: 'direct', url: null });
  assert.deepEqual(s.media, { mode: 'host', path: '/work/media', exclude: [] });
  assert.equal(s.backupDir, '/work/backups');
  assert.equal(s.compression, 'zstd');
  assert.deepEqual(s.retention.media, { keepWithin: '30d' });
  assert.deepEqual(s.retention.database, {});
  assert.equal(s.ssh, null);
});

test('environment variables override the file; file paths are relative to the file', () => {
  const y = `environments:\n  local:\n    backupDir: ./bk\n    compression: gzip\n    media: { mode: host, path: m }\n`;
  const s1 = resolve(y);
  assert.equal(s1.backupDir, '/etc/app/bk');
  assert.equal(s1.compression, 'gzip');
  assert.equal(s1.media.path, '/etc/app/m');
  const s2 = resolve(y, { BACKUP_DIR: 'x', MEDIA_DIR: '/srv/media', BACKUP_COMPRESSION: 'zstd', DATABASE_URL: 'postgres://u@h/d', HEALTHCHECKS_URL: 'https://hc/abc' });
  assert.equal(s2.backupDir, '/work/x');
  assert.equal(s2.media.path, '/srv/media');
  assert.equal(s2.compression, 'zstd');
  assert.deepEqual(s2.database, { mode: 'direct', url: 'postgres://u@h/d' });
  assert.equal(s2.healthchecks.url, 'https://hc/abc');
});

test('invalid config reports every problem at once as path: message', () => {
  const y = `environments:\n  local:\n    compression: lz4\n    database: { mode: compose, servce: x }\n    retention: { media: { keepDaily: 0, keepWithin: soon } }\n  Bad_Name: {}\n`;
  assert.throws(() => parseConfig(y, 'c.yaml'), (err: Error) => {
    assert.ok(err instanceof UsageError);
    for (const part of ['environments.local.compression', 'environments.local.database', 'environments.local.retention.media.keepDaily', 'environments.local.retention.media.keepWithin', 'environments.Bad_Name']) {
      assert.match(err.message, new RegExp(part.replace(/\./g, '\\.')), part);
    }
    return true;
  });
});

test('bad YAML and unknown environments are usage errors with a way out', () => {
  assert.throws(() => parseConfig('environments: [', 'c.yaml'), /invalid YAML/);
  assert.throws(() => resolve('environments:\n  local: {}\n', {}, 'production'), /no environment "production".*it has: local/);
  assert.throws(() => resolve(null, {}, 'production'), /needs a config file/);
  assert.throws(() => resolve(null, { BACKUP_COMPRESSION: 'xz' }), /BACKUP_COMPRESSION: must be zstd or gzip/);
});

test('${VAR} expansion, only for the chosen environment, missing ones named by path', () => {
  const y = `environments:\n  local: {}\n  production:\n    ssh: { target: '\${SSH_APP_USER_AND_IP}', projectDir: '~/app' }\n    compose: { file: docker-compose.production.yml }\n    database: { mode: compose }\n`;
  assert.equal(resolve(y).envName, 'local');
  assert.throws(() => resolve(y, {}, 'production'), /environments\.production\.ssh\.target: environment variable SSH_APP_USER_AND_IP is not set/);
  const s = resolve(y, { SSH_APP_USER_AND_IP: 'deploy@203.0.113.7' }, 'production');
  assert.equal(s.ssh?.target, 'deploy@203.0.113.7');
  assert.equal(s.ssh?.remoteEnv, 'production');
  assert.deepEqual(s.database, { mode: 'compose', service: 'postgres', compose: { file: '/etc/app/docker-compose.production.yml', projectDirectory: null } });
  const problems: string[] = [];
  assert.equal(expandVars('a-${X:-dflt}-${Y}', { Y: 'y' }, 'p', problems), 'a-dflt-y');
  assert.deepEqual(problems, []);
});

test('compose mode needs a compose file', () => {
  assert.throws(() => resolve('environments:\n  local:\n    media: { mode: compose, path: /app/media }\n'), /compose\.file: required when media mode is compose/);
});

test('the example config is valid and describes the seed setup', () => {
  const text = fs.readFileSync(path.join(ROOT, 'backup.config.example.yaml'), 'utf8');
  const cfg = parseConfig(text, 'backup.config.example.yaml');
  assert.ok(cfg.environments.local && cfg.environments.production);
  const prod = resolveSettings({ config: cfg, configPath: path.join(ROOT, 'backup.config.example.yaml'), envName: 'production', env: { SSH_MARTINA_USER_AND_IP: 'u@h' }, cwd: ROOT });
  assert.equal(prod.database.mode, 'compose');
  assert.equal(prod.media.mode, 'compose');
  assert.match(prod.media.path, /^\/app\/.+\/media$/);
  assert.equal(path.basename(prod.database.mode === 'compose' ? prod.database.compose.file : ''), 'docker-compose.production.yml');
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

test('loadConfigFile: default path optional, explicit path required', () => {
  const dir = tempDir();
  assert.deepEqual(loadConfigFile(undefined, dir), { config: null, configPath: null });
  assert.throws(() => loadConfigFile('nope.yaml', dir), /cannot read config/);
});
