// A backup argument: a bare name from the backup folder or a path whose own name is a backup
// name; anything else refused (exit 2) before anything is touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interpretBackupArg } from '../../../lib/cli/backup-arg.ts';
import { UsageError } from '../../../lib/cli/errors.ts';

const args: [string, string, string | RegExp][] = [
  ['backup_2024_01_15T14_30_00.sql.gz', 'ok', '/bk/postgres/backup_2024_01_15T14_30_00.sql.gz'],
  ['/elsewhere/backup_2024_01_15T14_30_00.sql.zst', 'ok', '/elsewhere/backup_2024_01_15T14_30_00.sql.zst'],
  ['production_backup_2024_01_15T14_30_00.sql.gz', 'ok', '/bk/postgres/production_backup_2024_01_15T14_30_00.sql.gz'],
  ['../../etc/passwd', 'usage', /not a backup name/],
  ['..', 'usage', /not a backup name/],
  ['backup_2024_01_15T14_30_00.sql.gz\0x', 'usage', /NUL/],
  ['media_backup_2024_01_15T14_30_00.tar.gz', 'usage', /is a media backup/],
  ['', 'usage', /no backup given/],
  ['backup.sql.gz', 'usage', /not a backup name/],
];
for (const [arg, kind, expected] of args) {
  test(`backup argument ${JSON.stringify(arg)}`, () => {
    if (kind === 'ok') return assert.equal(interpretBackupArg(arg, '/bk', 'database').path, expected);
    assert.throws(() => interpretBackupArg(arg, '/bk', 'database'), (e: Error) => e instanceof UsageError && (expected as RegExp).test(e.message));
  });
}
