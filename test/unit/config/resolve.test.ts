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

const AGE_KEY = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILpqDwsPb1T9tpyfYWzLC7PHHecMNUapNcxBRzaluFnU me@laptop';
const offsite = (targets: string) => `environments:\n  local:\n    retention: { database: { keepDaily: 7 } }\n    offsite:\n${targets}`;

test('offsite targets: each kind resolved, recipients checked, a path relative to the file, retention from the environment by default', () => {
  const s = resolve(
    offsite(
      `      nas: { kind: path, path: ./nas, recipients: ['${AGE_KEY}', '${SSH_KEY}'] }\n` +
        `      box: { kind: ssh, target: u1@box.example, path: backups, port: 23, recipients: ['${AGE_KEY}'], retention: { media: { keepLast: 2 } } }\n` +
        `      b2: { kind: s3, bucket: my-backups, prefix: /app/, endpoint: 'https://s3.example', recipients: ['${AGE_KEY}'], immutableDays: 30 }\n` +
        `      usb: { kind: path, path: /mnt/usb, encryption: none }\n`,
    ),
  );
  assert.deepEqual(Object.keys(s.offsite), ['nas', 'box', 'b2', 'usb']);
  const nas = s.offsite.nas!();
  assert.equal(nas.kind === 'path' && nas.path, '/etc/app/nas');
  assert.deepEqual(nas.recipients, [AGE_KEY, SSH_KEY.split(' ').slice(0, 2).join(' ')], 'an ssh key without its comment');
  assert.deepEqual(nas.retention, { database: { keepDaily: 7 }, media: { keepWithin: '30d' } });
  const box = s.offsite.box!();
  assert.equal(box.kind === 'ssh' && box.port, 23);
  assert.equal(box.kind === 'ssh' && box.identityFile, null);
  assert.deepEqual(box.retention, { database: { keepDaily: 7 }, media: { keepLast: 2 } });
  const b2 = s.offsite.b2!();
  assert.equal(b2.kind === 's3' && b2.prefix, 'app');
  assert.equal(b2.kind === 's3' && b2.region, 'us-east-1');
  assert.equal(b2.kind === 's3' && b2.immutableMode, 'compliance');
  assert.equal(s.offsite.usb!().encryption, 'none');
});

test('offsite targets: unencrypted only when asked; bad keys, private keys, half credentials and bad buckets refused, every problem at once', () => {
  const bad = offsite(
    `      a: { kind: path, path: /a }\n` +
      `      b: { kind: path, path: /b, encryption: none, recipients: ['${AGE_KEY}'] }\n` +
      `      c: { kind: path, path: /c, recipients: ['AGE-SECRET-KEY-1QQQ', 'age1short', 'ssh-ed25519 AAAAB3NzaC1yc2E='] }\n` +
      `      d: { kind: s3, bucket: B, accessKeyId: x, recipients: ['${AGE_KEY}'] }\n`,
  );
  const err = (() => {
    try {
      resolve(bad);
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  })();
  assert.match(err, /offsite\.a\.recipients: copies are encrypted with age: give at least one public key .* say encryption: none/);
  assert.match(err, /offsite\.b\.recipients: encryption is none; remove the recipients/);
  assert.match(err, /offsite\.c\.recipients\.0: this is a private key/);
  assert.match(err, /offsite\.c\.recipients\.1: .* is not an age public key/);
  assert.match(err, /offsite\.c\.recipients\.2: not a valid ssh-ed25519 public key/);
  assert.match(err, /offsite\.d: accessKeyId and secretAccessKey go together/);
  assert.match(err, /offsite\.d\.bucket: "B" is not an S3 bucket name/);
  assert.throws(() => resolve(offsite(`      x: { kind: path, path: /x, immutableDays: 3, recipients: ['${AGE_KEY}'] }\n`)), /Unrecognized key: "immutableDays"/);
  assert.throws(() => resolve(offsite(`      Bad_Name: { kind: path, path: /x, encryption: none }\n`)), /offsite target names are lower-case/);
  assert.throws(() => resolve(offsite(`      same: { kind: path, path: /work/backups/offsite, encryption: none }\n`)), /offsite\.same\.path: \/work\/backups\/offsite overlaps the backup folder \/work\/backups; an offsite copy belongs on another disk/);
});

test('offsite targets: unset variables (credentials a laptop lacks) fail only the target, when it is used', () => {
  const y = offsite(`      b2: { kind: s3, bucket: bk1, accessKeyId: '\${B2_ID}', secretAccessKey: '\${B2_KEY}', recipients: ['${AGE_KEY}'] }\n`);
  const s = resolve(y);
  assert.throws(() => s.offsite.b2!(), /offsite target "b2" cannot be used: .*offsite\.b2\.accessKeyId: environment variable B2_ID is not set/);
  const t = resolve(y, { B2_ID: 'id1', B2_KEY: 'secret1' }).offsite.b2!();
  assert.equal(t.kind === 's3' && t.secretAccessKey, 'secret1');
});
