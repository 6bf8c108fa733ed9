// backup-db refuses at the door, leaving nothing, when the disk is too full (the free space
// injected with COMPOSE_BACKUP_FREE_BYTES), and runs when there is exactly enough.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { resolveSettings } from '../../lib/config/resolve.ts';
import { roomNeeded } from '../../lib/core/room.ts';
import { FREE_BYTES_VARIABLE } from '../../lib/store/disk.ts';
import { createDb, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, ls, writeConfig } from '../helpers/cli.ts';

const MiB = 1024 * 1024;
/** The margin every environment gets unless its config says otherwise. */
const DEFAULT_MARGIN = resolveSettings({ config: null, configPath: null, envName: 'local', env: {}, cwd: '/' }).diskMargin;

const dbs: TempDb[] = [];
after(() => dbs.forEach((d) => d.drop()));

test('backup-db with too little free space: exit 1 with the free and needed bytes, nothing created', async () => {
  const d = createDb('cbt_disk');
  dbs.push(d);
  const env = (free: number | null, bk: string) => ({ DATABASE_URL: d.url, BACKUP_DIR: bk, [FREE_BYTES_VARIABLE]: free === null ? undefined : String(free) });

  // A first backup: the estimate is the database's size / 3, plus the margin; 1000 bytes is not enough.
  const fresh = path.join(tempDir(), 'backups');
  const r1 = await runScript('backup-db', [], { env: env(1000, fresh) });
  assert.equal(r1.code, 1, r1.stderr);
  assert.equal(r1.stdout, '');
  assert.match(r1.stderr, new RegExp(`^error: not enough free space in ${fresh}/postgres: 1000 B \\(1000 bytes\\) free, \\S+ \\S+ \\(\\d+ bytes\\) needed \\(database size / 3 [^)]*\\); nothing was written\\. .*prune`, 'm'));
  assert.equal(r1.stderr.split('\n').filter((l) => l.startsWith('error:')).length, 1, r1.stderr);
  assert.equal(fs.existsSync(fresh), false, 'not even the folder was made');

  // With an earlier backup of 200 MiB, that is the estimate: one byte short refuses, exactly enough runs.
  const bk = tempDir();
  fs.mkdirSync(path.join(bk, 'postgres'));
  const previous = path.join(bk, 'postgres', 'backup_2020_01_01T00_00_00.sql.zst');
  fs.closeSync(fs.openSync(previous, 'w'));
  fs.truncateSync(previous, 200 * MiB); // sparse: takes no real space
  const needed = roomNeeded(200 * MiB, DEFAULT_MARGIN);
  const r2 = await runScript('backup-db', [], { env: env(needed - 1, bk) });
  assert.equal(r2.code, 1, r2.stderr);
  assert.ok(r2.stderr.includes(`(${needed - 1} bytes) free, 284 MiB (${needed} bytes) needed (last backup 200 MiB + 10% + 64 MiB margin)`), r2.stderr);
  assert.deepEqual(ls(path.join(bk, 'postgres')), ['backup_2020_01_01T00_00_00.sql.zst'], 'no new file, no temporary file');

  // (The fake previous backup would trip the shrink gate, which is not what this test is about.)
  const config = writeConfig(tempDir(), 'environments:\n  local:\n    verify: { onShrink: warn }\n');
  const r3 = await runScript('backup-db', ['--config', config], { env: env(needed, bk) });
  assert.equal(r3.code, 0, r3.stderr);
  assert.ok(fs.existsSync(r3.stdout.trim()));
});
