// age recipients as the config writes them: which are accepted (and as what), which are refused and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRecipient } from '../../../lib/core/recipients.ts';

const AGE = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const ED = 'AAAAC3NzaC1lZDI1NTE5AAAAILpqDwsPb1T9tpyfYWzLC7PHHecMNUapNcxBRzaluFnU';
const RSA = 'AAAAB3NzaC1yc2EAAAADAQABAAABAQChdoCq81Efg5v4yyFTyYEn';

const cases: [string, string, string | RegExp][] = [
  ['an X25519 key', AGE, AGE],
  ['surrounding blanks', `  ${AGE}\n`, AGE],
  ['an ed25519 key with a comment', `ssh-ed25519 ${ED} me@laptop`, `ssh-ed25519 ${ED}`],
  ['an rsa key', `ssh-rsa ${RSA}`, `ssh-rsa ${RSA}`],
  ['an age identity', 'AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGP', /private key/],
  ['an OpenSSH private key', '-----BEGIN OPENSSH PRIVATE KEY-----', /private key/],
  ['a truncated age key', AGE.slice(0, -3), /not an age public key/],
  ['an age key with a letter outside bech32', AGE.slice(0, -1) + 'b', /not an age public key/],
  ['a post-quantum key', 'age1pq1' + 'q'.repeat(60), /post-quantum age keys need age 1\.3/],
  ['an ed25519 type with an rsa blob', `ssh-ed25519 ${RSA}`, /not a valid ssh-ed25519 public key/],
  ['an ssh key without its blob', 'ssh-ed25519', /not a valid ssh-ed25519 public key/],
  ['an ecdsa key (age does not take it)', 'ecdsa-sha2-nistp256 AAAAE2VjZHNh', /is not an age recipient/],
  ['a word', 'team', /is not an age recipient/],
];

for (const [label, input, expected] of cases) {
  test(`checkRecipient: ${label}`, () => {
    const r = checkRecipient(input);
    if (typeof expected === 'string') assert.deepEqual(r, { ok: true, recipient: expected });
    else {
      assert.equal(r.ok, false);
      assert.match((r as { problem: string }).problem, expected);
    }
  });
}
