// Reading the config: YAML and schema problems reported at once as path: message, the example
// file valid, and loadConfig's one reading (the file optional by default, required when named;
// this machine's backup tree for downloads and restores).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../../lib/cli/errors.ts';
import { loadConfig, parseConfig } from '../../../lib/config/load.ts';
import { resolveSettings } from '../../../lib/config/resolve.ts';
import { ROOT, tempDir } from '../../helpers/cli.ts';

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

test('bad YAML is a usage error', () => {
  assert.throws(() => parseConfig('environments: [', 'c.yaml'), /invalid YAML/);
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

test('loadConfig: default path optional, explicit path required', () => {
  const dir = tempDir();
  const none = loadConfig(undefined, {}, dir);
  assert.deepEqual([none.path, none.file], [null, null]);
  assert.equal(none.settings('local').backupDir, path.join(dir, 'backups'));
  assert.throws(() => loadConfig('nope.yaml', {}, dir), /cannot read config/);
});

test('Config.localBackupDir: where list-backups and restore-db look by default', () => {
  const dir = tempDir();
  const cwd = path.join(dir, 'cwd');
  const withLocal = path.join(dir, 'with-local.yaml');
  fs.writeFileSync(withLocal, 'environments:\n  local: { backupDir: ./bk }\n  production: { backupDir: /srv/bk, ssh: { target: h, projectDir: app } }\n');
  const withoutLocal = path.join(dir, 'without-local.yaml');
  fs.writeFileSync(withoutLocal, 'environments:\n  production: { backupDir: /srv/bk, ssh: { target: h, projectDir: app } }\n');
  assert.equal(loadConfig(withLocal, {}, cwd).localBackupDir(), path.join(dir, 'bk'));
  assert.equal(loadConfig(withLocal, { BACKUP_DIR: 'over' }, cwd).localBackupDir(), path.join(cwd, 'over'));
  assert.equal(loadConfig(withoutLocal, {}, cwd).localBackupDir(), path.join(cwd, 'backups'));
  assert.equal(loadConfig(withoutLocal, { BACKUP_DIR: '/b' }, cwd).localBackupDir(), '/b');
  assert.equal(loadConfig(undefined, {}, cwd).localBackupDir(), path.join(cwd, 'backups'));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the README\'s offsite example is a valid config: its three targets resolve', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /### Targets\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the example is there');
  const s = resolveSettings({ config: parseConfig(block!, 'README.md'), configPath: '/srv/app/backup.config.yaml', envName: 'production', env: {}, cwd: '/srv/app' });
  assert.deepEqual(Object.keys(s.offsite), ['b2', 'box', 'usb']);
  assert.deepEqual(Object.values(s.offsite).map((t) => [t().kind, t().encryption, t().recipients.length]), [['s3', 'age', 2], ['ssh', 'age', 1], ['path', 'none', 0]]);
});
