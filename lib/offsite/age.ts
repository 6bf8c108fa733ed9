// Encryption of offsite copies with the `age` command-line tool, as a pipeline stage: the server
// holds only public keys (recipients), so it cannot read its own copies; whoever holds an identity
// decrypts them with plain `age -d -i key.txt`, without this project. The CLI is used rather than
// a JavaScript implementation because it is several times faster, and it is what a person in a
// hurry will have. An identity's path may appear in argv; its content never does.
import fs from 'node:fs';
import { FailedError, UsageError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import { capture } from '../proc/capture.ts';
import { firstError, type Stage } from '../proc/pipeline.ts';

/** Pure: the stage that encrypts to every recipient; `armor` for text (manifests). */
export function encryptStage(recipients: readonly string[], armor = false): Stage {
  return { name: 'age', argv: ['age', '-e', ...recipients.flatMap((r) => ['-r', r]), ...(armor ? ['-a'] : [])] };
}

/** Pure: the stage that decrypts with an identity file (age's own, or an OpenSSH private key). */
export function decryptStage(identityFile: string): Stage {
  return { name: 'age -d', argv: ['age', '-d', '-i', identityFile] };
}

/** Pure: what to do about a failure of age itself, from its own words. */
export function ageAdvice(detail: string, notFound: boolean): string {
  if (notFound) return 'age is not installed here (apt-get install age)';
  if (/no identity matched/i.test(detail)) return `${detail}: the identity is not one of the recipients this copy was encrypted to`;
  return detail;
}

/**
 * The identity given with --identity: it must be a readable file. Its content is read by age
 * only. A file others may read is said (it is the key to every copy).
 */
export function checkIdentityFile(file: string | undefined, what: string): string {
  if (file === undefined || file === '') throw new UsageError(`${what} needs the age identity: add --identity <file> (age-keygen's key file, or an OpenSSH private key)`);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new UsageError(`--identity ${file}: no such file`);
  }
  if (!st.isFile()) throw new UsageError(`--identity ${file}: not a regular file`);
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new UsageError(`--identity ${file}: cannot be read by this user`);
  }
  if (st.mode & 0o077) log.warn(`the identity ${file} can be read by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  return file;
}

/** A small text (a manifest) encrypted, armored: the text age -d reads back. */
export async function encryptText(text: string, recipients: readonly string[]): Promise<string> {
  const c = await capture(encryptStage(recipients, true).argv, { input: text, maxBytes: 64 << 20 });
  if (c.code !== 0) throw new FailedError(`age failed: ${ageAdvice(firstError(c.stderr), c.notFound)}`);
  return c.stdout;
}

/** A small encrypted object (a manifest) decrypted. */
export async function decryptText(data: Buffer, identityFile: string, what: string): Promise<string> {
  const c = await capture(decryptStage(identityFile).argv, { input: data, maxBytes: 64 << 20 });
  if (c.code !== 0) throw new FailedError(`cannot decrypt ${what}: ${ageAdvice(firstError(c.stderr), c.notFound)}`);
  return c.stdout;
}
