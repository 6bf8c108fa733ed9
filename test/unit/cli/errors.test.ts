// The one wording of a failure: `<what> failed: <why>`, never said twice. Each half of a backup
// set words its errors "<half> backup failed: …" where it throws them (this replaced the
// halfFailure prefixing of the old lib/media), and a full disk is said as such.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failure, isNoSpace, FailedError, NoSpaceError } from '../../../lib/cli/errors.ts';

test('failure: a message already naming the step is kept; any other gets the step in front', () => {
  assert.equal(failure('database backup', new FailedError('database backup failed: pg_dump failed', { what: 'database backup' })).message, 'database backup failed: pg_dump failed');
  assert.equal(failure('database backup', new FailedError('cannot reach the database: refused')).message, 'database backup failed: cannot reach the database: refused');
});

test('failure: a full disk is said as such, with the folder; one already said for the step keeps the tool\'s own words', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const wrapped = failure('media backup', enospc, '/bk/media');
  assert.ok(wrapped instanceof NoSpaceError && isNoSpace(wrapped));
  assert.equal(wrapped.message, 'media backup failed: no space left on /bk/media (the disk is full)');
  assert.equal(wrapped.cause, enospc);
  const said = new NoSpaceError('database backup failed: no space left (the disk is full): zstd failed (exit 1): zstd: error 70 : Write error : No space left on device', { what: 'database backup' });
  assert.equal(failure('database backup', said, '/bk/postgres'), said);
});
