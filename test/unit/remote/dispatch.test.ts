// What an environment with an ssh target forwards to its host, checks here before anything
// connects, and asks to confirm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../../lib/cli/errors.ts';
import { checkRemoteArgs, forwardedArgs, remoteConfirmation } from '../../../lib/remote/dispatch.ts';

const NAME = 'backup_2024_01_15T14_30_00.sql.zst';
const MEDIA = 'media_backup_2024_01_15T14_30_00.tar.zst';

test('forwardedArgs: as given, without --config and --env, with --yes once confirmed here', () => {
  const table: [string[], boolean, string[]][] = [
    [['--env', 'production'], false, []],
    [['--env=production', '--json'], false, ['--json']],
    [['--config', '/home/me/backup.config.yaml', 'x', '--env', 'production'], false, ['x']],
    [['--config=/x.yaml', NAME, '--env', 'production'], true, [NAME, '--yes']],
    [[NAME, '--yes', '--env', 'production'], true, [NAME, '--yes']],
    [['--dry-run', '--keep', '3'], false, ['--dry-run', '--keep', '3']],
    // After `--` everything is an argument, even what looks like a flag.
    [['--env', 'p', '--', '--config', 'y'], false, ['--', '--config', 'y']],
  ];
  for (const [raw, confirmed, expected] of table) {
    assert.deepEqual(forwardedArgs(raw, { confirmed }), expected, JSON.stringify(raw));
  }
});

test('checkRemoteArgs: bad names are refused here (exit 2), remote paths are left to the host', () => {
  const refused: [Parameters<typeof checkRemoteArgs>[0], string][] = [
    ['restore-db', '../../etc/passwd'],
    ['restore-db', MEDIA],
    ['restore-db', ''],
    ['restore-db', 'backup_2024_02_30T00_00_00.sql.zst'],
    ['restore-media', NAME],
    ['restore-media', 'media_backup_x.tar.zst\0'],
    ['verify', 'notes.txt'],
  ];
  for (const [op, arg] of refused) {
    assert.throws(() => checkRemoteArgs(op, [arg]), UsageError, `${op} ${JSON.stringify(arg)}`);
  }
  for (const [op, arg] of [
    ['restore-db', NAME],
    ['restore-db', `/srv/app/backups/postgres/production_${NAME}`],
    ['restore-media', MEDIA],
    ['verify', MEDIA],
    ['backup-db', 'anything'],
  ] as const) {
    assert.doesNotThrow(() => checkRemoteArgs(op, [arg]), `${op} ${arg}`);
  }
  assert.doesNotThrow(() => checkRemoteArgs('verify', []));
});

test('remoteConfirmation: restores name the host and environment, the word is the environment', () => {
  const s = { envName: 'production', ssh: { target: 'deploy@203.0.113.7' } };
  assert.deepEqual(remoteConfirmation('restore-db', [NAME], s), {
    action: `This replaces the database on deploy@203.0.113.7 (production) with ${NAME}`,
    expected: 'production',
  });
  assert.match(remoteConfirmation('restore-media', [`/x/${MEDIA}`], s)!.action, new RegExp(`the media folder on deploy@203\\.0\\.113\\.7 \\(production\\) with ${MEDIA}$`));
  for (const op of ['backup-db', 'backup-full', 'list-backups', 'prune', 'verify', 'scheduled-backup'] as const) {
    assert.equal(remoteConfirmation(op, [], s), null, op);
  }
});
