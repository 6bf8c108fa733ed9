// The flags parser: the common flags, unknown ones refused, positionals counted; the script's own arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags, scriptArgs } from '../../../lib/cli/flags.ts';

test('flags: common ones, unknown ones refused, positionals counted', () => {
  const spec = { name: 'restore-db' as const, summary: '', usage: '<file>', positionals: { min: 1, max: 1 } };
  const p = parseFlags(spec, ['x.sql.gz', '--env', 'production', '--yes']);
  assert.equal(p.flags.env, 'production');
  assert.equal(p.flags.yes, true);
  assert.deepEqual(p.args, ['x.sql.gz']);
  assert.throws(() => parseFlags(spec, []), /missing argument/);
  assert.throws(() => parseFlags(spec, ['a', 'b']), /unexpected argument "b"/);
  assert.throws(() => parseFlags(spec, ['a', '--frob']), /unknown flag --frob/);
  assert.equal(parseFlags(spec, ['--help']).help, true);
  assert.equal(parseFlags(spec, ['a']).flags.env, 'local');
  assert.deepEqual(scriptArgs(['/usr/bin/node', '/x/node_modules/.bin/zx', 'scripts/a.ts', '--yes']), ['--yes']);
  assert.deepEqual(scriptArgs(['/usr/bin/node', '/x/scripts/a.ts', 'f']), ['f']);
});
