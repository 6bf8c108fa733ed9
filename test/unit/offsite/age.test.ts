// The age stages' command lines and what a failure of age says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageAdvice, decryptStage, encryptStage } from '../../../lib/offsite/age.ts';

test('encryptStage: one -r per recipient (an ssh key is one argument), -a for text', () => {
  assert.deepEqual(encryptStage(['age1abc', 'ssh-ed25519 AAAA']).argv, ['age', '-e', '-r', 'age1abc', '-r', 'ssh-ed25519 AAAA']);
  assert.deepEqual(encryptStage(['age1abc'], true).argv, ['age', '-e', '-r', 'age1abc', '-a']);
});

test('decryptStage: the identity by path, never its content', () => {
  assert.deepEqual(decryptStage('/keys/key.txt').argv, ['age', '-d', '-i', '/keys/key.txt']);
});

test('ageAdvice: a missing tool, and the wrong identity, said plainly', () => {
  assert.equal(ageAdvice('', true), 'age is not installed here (apt-get install age)');
  assert.match(ageAdvice('age: error: no identity matched any of the recipients', false), /the identity is not one of the recipients this copy was encrypted to$/);
  assert.equal(ageAdvice('age: error: something else', false), 'age: error: something else');
});
