// The conformance suite against a folder target (a NAS or USB mount), and what only a folder has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { OffsiteTarget } from '../../../lib/config/resolve.ts';
import { tempDir } from '../../helpers/cli.ts';
import { ageKeys, flipByte } from '../../helpers/offsite.ts';
import { conformance } from './conformance.ts';

const root = tempDir('cbt-offsite-path-');
const keys = ageKeys();
const target = (retention: OffsiteTarget['retention'] = { database: {}, media: {} }): OffsiteTarget => ({
  kind: 'path',
  name: 'path',
  path: root,
  encryption: 'age',
  recipients: [keys.recipient],
  retention,
});

conformance('path', () => ({
  target,
  keys,
  stored: (env, key) => fs.readFileSync(path.join(root, env, key)),
  tamper: (env, key) => flipByte(path.join(root, env, key)),
}));

test('path: copies and folders are private to this user (0600 / 0700)', () => {
  const files = fs.readdirSync(path.join(root, 'push', 'postgres'));
  assert.ok(files.length >= 3);
  for (const f of files) assert.equal(fs.statSync(path.join(root, 'push', 'postgres', f)).mode & 0o777, 0o600, f);
  assert.equal(fs.statSync(path.join(root, 'push', 'postgres')).mode & 0o777, 0o700);
});
