// The compressors' command lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressArgv, decompressArgv, testArgv } from '../../../lib/core/codec.ts';

test('codecs', () => {
  assert.deepEqual(compressArgv('zstd', null), ['zstd', '-q', '-T0', '-3', '-c']);
  assert.deepEqual(compressArgv('gzip', null), ['gzip', '-c', '-6']);
  assert.deepEqual(compressArgv('gzip', 12), ['gzip', '-c', '-9']);
  assert.deepEqual(decompressArgv('gzip'), ['gzip', '-d', '-c']);
  assert.deepEqual(testArgv('zstd'), ['zstd', '-q', '-t']);
});
