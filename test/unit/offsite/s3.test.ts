// The S3 kind's pure parts: one line per failure that says what to do, and the part size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeS3Error, partSizeFor } from '../../../lib/offsite/s3.ts';

const T = { name: 'b2', bucket: 'my-backups', endpoint: 'https://s3.example', creds: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY' };

const cases: [string, Parameters<typeof describeS3Error>[0], RegExp][] = [
  ['an unknown key id', { name: 'InvalidAccessKeyId', status: 403 }, /^the storage refused the credentials \(InvalidAccessKeyId\); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY$/],
  ['a wrong secret', { name: 'SignatureDoesNotMatch', status: 403 }, /refused the credentials \(SignatureDoesNotMatch\)/],
  ['an expired token', { name: 'ExpiredToken', status: 400 }, /refused the credentials \(ExpiredToken\)/],
  ['a missing permission', { name: 'AccessDenied', status: 403 }, /^access denied \(AccessDenied\): the credentials .* lack a permission on bucket "my-backups"$/],
  ['a bare 403', { status: 403 }, /^access denied \(403\)/],
  ['a missing bucket', { name: 'NoSuchBucket', status: 404 }, /^bucket "my-backups" does not exist at https:\/\/s3\.example; create it, or fix offsite\.b2\.bucket$/],
  ['no credentials at all', { name: 'CredentialsProviderError', message: 'Could not load credentials from any providers' }, /^no credentials: set AWS_ACCESS_KEY_ID/],
  ['a refused connection', { name: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9' }, /^cannot reach https:\/\/s3\.example \(ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:9\)$/],
  ['an unknown host', { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND s3.example' }, /^cannot reach https:\/\/s3\.example \(ENOTFOUND/],
  ['a timeout', { name: 'TimeoutError', message: 'Connection timed out after 10000 ms' }, /^cannot reach .* \(TimeoutError: Connection timed out/],
  ['anything else', { name: 'SlowDown', status: 503, message: 'Please reduce your request rate.' }, /^SlowDown \(HTTP 503\): Please reduce your request rate\.$/],
];
for (const [label, facts, expected] of cases) test(`describeS3Error: ${label}`, () => assert.match(describeS3Error(facts, T), expected));

test('partSizeFor: 8 MiB parts up to ~70 GiB; above, parts grow so that an upload stays under 10,000 of them', () => {
  assert.equal(partSizeFor(0), 8 << 20);
  assert.equal(partSizeFor(1 << 30), 8 << 20);
  const huge = 200 * 2 ** 30;
  assert.ok(partSizeFor(huge) > 8 << 20);
  assert.ok(Math.ceil(huge / partSizeFor(huge)) < 10_000);
});
