// Where media commands run and what they are, as tables of argv: the archiving tar, the
// compose wrappers, and the in-place script's actions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MediaTarget } from '../../../lib/config/resolve.ts';
import { CREATE_SCRIPT, EXTRACT_FLAGS, mediaArgv, tarCreateArgv } from '../../../lib/media/tar.ts';
import { MEDIA_SCRIPT, scriptArgv } from '../../../lib/media/swap.ts';

const hostTarget = (p: string, exclude: string[] = []): MediaTarget => ({ mode: 'host', path: p, exclude, configured: true });
const composeTarget: MediaTarget = { mode: 'compose', service: 'django', path: '/app/app/media', exclude: [], compose: { file: '/srv/app/production.yml', projectDirectory: null }, configured: true };

test('command lines: tar create, where commands run, the script actions', () => {
  assert.deepEqual(tarCreateArgv('/srv/media', ['cache/*', '*.tmp']), [
    'sh', '-c', CREATE_SCRIPT, 'sh', '/srv/media', 'plain', '--format=posix', '--pax-option=delete=atime,delete=ctime',
    '-vv', '--quoting-style=c', '--full-time', '--numeric-owner',
    '--anchored', '--exclude=./.compose-backup-staging-*', '--exclude=./.compose-backup-old-*', '--exclude=./.compose-backup-swap-*', '--no-anchored',
    '--exclude=cache/*', '--exclude=*.tmp',
  ]);
  // Incremental mode: the script takes the snapshot on stdin; tar is told not to warn of new folders.
  assert.deepEqual(tarCreateArgv('/srv/media', [], true).slice(4, 14), [
    '/srv/media', 'incremental', '--format=posix', '--pax-option=delete=atime,delete=ctime',
    '-vv', '--quoting-style=c', '--full-time', '--numeric-owner', '--warning=no-new-dir', '--warning=no-rename-directory',
  ]);
  // On top of another incremental: the same without the walk for special files.
  assert.equal(tarCreateArgv('/srv/media', [], true, false)[5], 'incremental-changed');
  assert.ok(EXTRACT_FLAGS.includes('--listed-incremental=/dev/null'), 'extraction applies deletions and renames');
  assert.deepEqual(mediaArgv(hostTarget('/m'), 'exec', ['tar', '-c']), ['tar', '-c']);
  assert.deepEqual(mediaArgv(composeTarget, 'exec', ['tar', '-c']), ['docker', 'compose', '-f', '/srv/app/production.yml', 'exec', '-T', 'django', 'tar', '-c']);
  assert.deepEqual(mediaArgv(composeTarget, 'run', ['tar', '-c']), ['docker', 'compose', '-f', '/srv/app/production.yml', 'run', '--rm', '--no-deps', '-T', 'django', 'tar', '-c']);
  assert.deepEqual(scriptArgv(composeTarget, 'run', 'unpack', ['tok', ...EXTRACT_FLAGS]), [
    'docker', 'compose', '-f', '/srv/app/production.yml', 'run', '--rm', '--no-deps', '-T', 'django',
    'sh', '-c', MEDIA_SCRIPT, 'sh', 'unpack', '/app/app/media', 'tok', ...EXTRACT_FLAGS,
  ]);
  assert.deepEqual(scriptArgv(composeTarget, 'exec', 'survey').slice(4, 7), ['exec', '-T', 'django']);
  assert.deepEqual(scriptArgv(hostTarget('/m'), 'run', 'commit', ['tok', '1.-.-']), ['sh', '-c', MEDIA_SCRIPT, 'sh', 'commit', '/m', 'tok', '1.-.-']);
});
