// Resolving one environment: the built-in defaults, variables over the file, paths relative to
// the file, ${VAR} expansion, every problem at once; pure (text, variables and cwd come in).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../lib/config/load.ts';
import { expandVars, resolveSettings } from '../../../lib/config/resolve.ts';

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
  assert.deepEqual(s.media, { mode: 'host', path: '/work/media', exclude: [], configured: false });
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
  assert.equal(s1.media.configured, true, 'media.path names the folder');
  const s2 = resolve(y, { BACKUP_DIR: 'x', MEDIA_DIR: '/srv/media', BACKUP_COMPRESSION: 'zstd', DATABASE_URL: 'postgres://u@h/d', HEALTHCHECKS_URL: 'https://hc/abc' });
  assert.equal(s2.backupDir, '/work/x');
  assert.equal(s2.media.path, '/srv/media');
  assert.equal(s2.media.configured, true, 'so does MEDIA_DIR');
  assert.equal(s2.compression, 'zstd');
  assert.deepEqual(s2.database, { mode: 'direct', url: 'postgres://u@h/d' });
  assert.equal(s2.healthchecks.url, 'https://hc/abc');
});

test('bad YAML and unknown environments are usage errors with a way out', () => {
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

test('on the target host (COMPOSE_BACKUP_ON_HOST=1) the ssh section is ignored, unset variables and all', () => {
  const config = parseConfig(
    'environments:\n  production:\n    ssh: { target: "${SSH_APP_USER_AND_IP}", projectDir: "~/app" }\n    backupDir: ./bk\n',
    '/srv/app/backup.config.yaml',
  );
  const resolve = (env: NodeJS.ProcessEnv) =>
    resolveSettings({ config, configPath: '/srv/app/backup.config.yaml', envName: 'production', env, cwd: '/srv/app' });
  assert.throws(() => resolve({}), /SSH_APP_USER_AND_IP is not set/);
  assert.equal(resolve({ SSH_APP_USER_AND_IP: 'deploy@h' }).ssh?.target, 'deploy@h');
  const onHost = resolve({ COMPOSE_BACKUP_ON_HOST: '1' });
  assert.equal(onHost.ssh, null);
  assert.equal(onHost.backupDir, '/srv/app/bk');
  assert.equal(resolve({ COMPOSE_BACKUP_ON_HOST: '0', SSH_APP_USER_AND_IP: 'deploy@h' }).ssh?.target, 'deploy@h');
});

test('config: restore.databaseSafetyCopy is keep by default, dump on request, anything else refused', () => {
  const resolve = (y: string | null) =>
    resolveSettings({ config: y === null ? null : parseConfig(y, 'c.yaml'), configPath: y === null ? null : '/c.yaml', envName: 'local', env: {}, cwd: '/w' });
  assert.deepEqual(resolve(null).restore, { databaseSafetyCopy: 'keep' });
  assert.deepEqual(resolve('environments:\n  local: {}\n').restore, { databaseSafetyCopy: 'keep' });
  assert.deepEqual(resolve('environments:\n  local:\n    restore: { databaseSafetyCopy: dump }\n').restore, { databaseSafetyCopy: 'dump' });
  assert.throws(() => resolve('environments:\n  local:\n    restore: { databaseSafetyCopy: drop }\n'), /environments\.local\.restore\.databaseSafetyCopy: /);
  assert.throws(() => resolve('environments:\n  local:\n    restore: { safetyCopy: keep }\n'), /environments\.local\.restore: .*safetyCopy/);
});
