// The Prometheus textfile written from a real backup tree: atomically, readable by node_exporter,
// only when configured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../../lib/config/load.ts';
import { writePrometheusTextfile } from '../../../lib/monitor/collect.ts';
import { tempDir, writeConfig } from '../../helpers/cli.ts';

test('writePrometheusTextfile: atomic, readable by node_exporter, only when configured; a missing folder is one clear error', async () => {
  const dir = tempDir('cbt-prom-');
  const bk = path.join(dir, 'backups');
  fs.mkdirSync(path.join(bk, 'postgres'), { recursive: true });
  fs.writeFileSync(path.join(bk, 'postgres', 'backup_2026_01_01T02_00_00.sql.gz'), 'x'.repeat(123));
  fs.writeFileSync(path.join(bk, 'postgres', 'notes.txt'), 'not a backup');
  const now = new Date('2026-01-02T00:00:00Z');
  const settingsFor = (extra: string) =>
    loadConfig(writeConfig(dir, `environments:\n  local:\n    backupDir: backups\n${extra}`), {}, dir).settings('local');
  assert.equal(await writePrometheusTextfile(settingsFor(''), now), null);
  const written = await writePrometheusTextfile(settingsFor('    prometheusTextfile: backup.prom\n'), now);
  assert.equal(written, path.join(dir, 'backup.prom'));
  const text = fs.readFileSync(written!, 'utf8');
  assert.match(text, /^backup_last_size_bytes\{kind="database"\} 123$/m);
  assert.match(text, /^backup_count\{kind="database"\} 1$/m);
  assert.equal(fs.statSync(written!).mode & 0o777, 0o644);
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('partial')), [], 'no temporary file left');
  await assert.rejects(writePrometheusTextfile(settingsFor('    prometheusTextfile: missing/backup.prom\n'), now), /cannot write the Prometheus textfile .*missing\/backup\.prom: ENOENT/);
});
