import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findOnPath } from '../../../lib/proc/which.ts';

test('findOnPath: the first absolute PATH entry that holds it, as execvp finds it', () => {
  const present = new Set(['/usr/bin/stdbuf', '/opt/bin/stdbuf', '/usr/local/bin/tar', './stdbuf']);
  const has = (f: string) => present.has(f);
  const cases: [string, string | undefined, string | null][] = [
    ['stdbuf', '/usr/local/bin:/usr/bin:/opt/bin', '/usr/bin/stdbuf'],
    ['stdbuf', '/opt/bin:/usr/bin', '/opt/bin/stdbuf'],
    ['stdbuf', '/usr/local/bin', null],
    // Empty and relative entries (the current folder) are skipped.
    ['stdbuf', ':.:/usr/bin', '/usr/bin/stdbuf'],
    ['stdbuf', '', null],
    ['stdbuf', undefined, null],
    // A name with a slash is looked at as it is.
    ['/usr/local/bin/tar', '/usr/bin', '/usr/local/bin/tar'],
    ['/usr/bin/tar', '/usr/bin', null],
  ];
  for (const [name, pathVar, want] of cases) assert.equal(findOnPath(name, pathVar, has), want, `${name} on ${pathVar}`);
});
