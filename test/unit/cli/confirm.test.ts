// Confirmations: on a terminal (a stand-in stream pair), the word typed; without one, only --yes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { confirm, requireConfirmable } from '../../../lib/cli/confirm.ts';
import { DeclinedError } from '../../../lib/cli/errors.ts';
import { remoteConfirmation } from '../../../lib/remote/dispatch.ts';

const NAME = 'backup_2024_01_15T14_30_00.sql.zst';

test('the remote confirmation on a terminal wants the environment name typed', async () => {
  const question = remoteConfirmation('restore-db', [NAME], { envName: 'production', ssh: { target: 'h' } })!;
  const terminal = (answer: string) => {
    const input = Object.assign(new PassThrough(), { isTTY: true });
    const output = Object.assign(new PassThrough(), { isTTY: true });
    let shown = '';
    output.on('data', (b: Buffer) => (shown += b.toString()));
    setImmediate(() => input.write(`${answer}\n`));
    return { input, output, shown: () => shown };
  };
  const yes = terminal('production');
  await confirm({ ...question, yes: false, input: yes.input, output: yes.output });
  assert.match(yes.shown(), /This replaces the database on h \(production\).*\nType production to continue: /s);
  const no = terminal('y');
  await assert.rejects(confirm({ ...question, yes: false, input: no.input, output: no.output }), DeclinedError);
});

test('requireConfirmable: only "no --yes and no terminal" fails, at once, with exit 3', () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  const pipe = new PassThrough();
  for (const [yes, input, fails] of [[true, pipe, false], [true, tty, false], [false, tty, false], [false, pipe, true]] as const) {
    const call = () => requireConfirmable({ action: 'Replacing x', yes, input });
    if (fails) assert.throws(call, (e: unknown) => e instanceof DeclinedError && e.exitCode === 3 && /Replacing x: confirmation needed and no terminal is attached; add --yes/.test(e.message));
    else assert.doesNotThrow(call);
  }
});
