// Human formats: sizes, ages, durations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanAge, humanBytes, humanDuration, plural } from '../../../lib/core/format.ts';

test('human formats', () => {
  assert.equal(humanBytes(512), '512 B');
  assert.equal(humanBytes(1536), '1.5 KiB');
  assert.equal(humanBytes(300 * 1024 * 1024), '300 MiB');
  assert.equal(humanAge(new Date(0), new Date(90061000)), '1d 1h');
  assert.equal(humanAge(new Date(0), new Date(42000)), '42s');
  assert.equal(humanDuration(65000), '1:05');
  assert.equal(humanDuration(3723000), '1:02:03');
  assert.equal(plural(1, 'file'), '1 file');
  assert.equal(plural(0, 'file'), '0 files');
  assert.equal(plural(2, 'entry', 'entries'), '2 entries');
  assert.equal(plural(1, 'entry', 'entries'), '1 entry');
});
