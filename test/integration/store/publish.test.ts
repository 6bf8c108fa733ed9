// Publication on a real folder: link(2) never replaces an existing backup and moves to the next
// sequence number; temporary files of dead runs are swept, a live run's stay; and the names
// this reasons about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { freeSeq, openTemp, publish, sweepStaleTemps, tempOwner } from '../../../lib/store/publish.ts';
import { ls, tempDir } from '../../helpers/cli.ts';

test('publish never replaces an existing backup and picks the next sequence number', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'backup_2026_01_01T00_00_00.sql.zst'), 'older');
  const t = await openTemp(dir, 'backup_2026_01_01T00_00_00.sql.zst');
  fs.writeSync(t.fd, 'newer');
  const name = (seq: number) => `backup_2026_01_01T00_00_00${seq > 1 ? `-${seq}` : ''}.sql.zst`;
  const p = await publish(t, dir, name, 1);
  assert.equal(path.basename(p), 'backup_2026_01_01T00_00_00-2.sql.zst');
  assert.equal(fs.readFileSync(path.join(dir, 'backup_2026_01_01T00_00_00.sql.zst'), 'utf8'), 'older');
  assert.equal(fs.readFileSync(p, 'utf8'), 'newer');
  assert.deepEqual(ls(dir), ['backup_2026_01_01T00_00_00-2.sql.zst', 'backup_2026_01_01T00_00_00.sql.zst']);
  assert.equal((fs.statSync(p).mode & 0o777).toString(8), '600');
});

test('stale temporary files of dead runs are swept; live ones stay', async () => {
  const dir = tempDir();
  const dead = 2 ** 22 + 12345; // above pid_max defaults: no such process
  fs.writeFileSync(path.join(dir, `.backup_2026_01_01T00_00_00.sql.zst.partial-${dead}-abc`), 'x');
  fs.writeFileSync(path.join(dir, `.backup_2026_01_01T00_00_01.sql.zst.partial-${process.pid}-abc`), 'x');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
  assert.deepEqual(await sweepStaleTemps(dir), [`.backup_2026_01_01T00_00_00.sql.zst.partial-${dead}-abc`]);
  assert.equal(ls(dir).length, 2);
});

test('tempOwner reads the pid from a temporary name; freeSeq skips names taken, temporaries included', () => {
  assert.equal(tempOwner('.x.partial-42-zz'), 42);
  assert.equal(tempOwner('backup.sql'), null);
  assert.equal(freeSeq(new Set(['a1', '.a2.partial-1-x']), (s) => [`a${s}`]), 3);
});
