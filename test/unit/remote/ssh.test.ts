// ssh command lines as tables: quoting for the remote shell, option paths, the ssh argv, the
// remote script command, the project folder word. (What a real shell and a real sshd make of
// them is in test/integration/remote/ssh.test.ts.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../../lib/cli/errors.ts';
import type { SshTarget } from '../../../lib/config/resolve.ts';
import { REMOTE_DIR_WORDS } from '../../fixtures/remote-dir-words.ts';
import { remoteDirWord, remoteScriptCommand, shellQuote, sshArgv, sshOptionPath } from '../../../lib/remote/ssh.ts';

describe('shellQuote', () => {
  const table: [string, string][] = [
    ['', "''"],
    ['abc', "'abc'"],
    ['two words', "'two words'"],
    ["it's", "'it'\\''s'"],
    ["'", "''\\'''"],
    ['$(id)', "'$(id)'"],
    ['a\nb', "'a\nb'"],
  ];
  for (const [input, expected] of table) {
    test(`quotes ${JSON.stringify(input)}`, () => assert.equal(shellQuote(input), expected));
  }

});

describe('sshOptionPath', () => {
  const table: [string, string][] = [
    ['/home/u/.ssh/known_hosts', '/home/u/.ssh/known_hosts'],
    ['~/.ssh/known_hosts', '~/.ssh/known_hosts'],
    ['/srv/with space/kh', '"/srv/with space/kh"'],
    ['/srv/100%/kh', '/srv/100%%/kh'],
    ['/srv/"q"\\/kh', '"/srv/\\"q\\"\\\\/kh"'],
    ['/srv/#x', '"/srv/#x"'],
  ];
  for (const [input, expected] of table) {
    test(`escapes ${JSON.stringify(input)}`, () => assert.equal(sshOptionPath(input), expected));
  }
});

const full: SshTarget = {
  target: 'deploy@203.0.113.7',
  port: 2222,
  identityFile: '/keys/id_ed25519',
  knownHostsFile: '/keys/known hosts',
  connectTimeout: 10,
  projectDir: '~/app',
  remoteEnv: 'production',
};

const bare: SshTarget = {
  target: 'app.example.org',
  port: null,
  identityFile: null,
  knownHostsFile: null,
  connectTimeout: 5,
  projectDir: '/srv/app',
  remoteEnv: 'staging',
};
const COMMON = ['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes'];
const ALIVE = ['-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3'];

describe('sshArgv', () => {
  const table: [string, SshTarget, string[], Parameters<typeof sshArgv>[2], string[]][] = [
    [
      'every option',
      full,
      ['sh', '-c', 'echo $HOME'],
      undefined,
      [
        'ssh', ...COMMON, '-o', 'ConnectTimeout=10', ...ALIVE,
        '-o', 'UserKnownHostsFile="/keys/known hosts"',
        '-p', '2222',
        '-i', '/keys/id_ed25519', '-o', 'IdentitiesOnly=yes',
        '-T', '--', 'deploy@203.0.113.7', "'sh' '-c' 'echo $HOME'",
      ],
    ],
    [
      'only a target',
      bare,
      ['true'],
      undefined,
      ['ssh', ...COMMON, '-o', 'ConnectTimeout=5', ...ALIVE, '-T', '--', 'app.example.org', "'true'"],
    ],
    [
      'a terminal for a confirmation',
      bare,
      ['npx', 'zx', "it's"],
      { tty: true },
      ['ssh', ...COMMON, '-o', 'ConnectTimeout=5', ...ALIVE, '-t', '--', 'app.example.org', "'npx' 'zx' 'it'\\''s'"],
    ],
    [
      'sessions sharing one connection (an offsite push), its socket in a private folder',
      bare,
      ['true'],
      { shareConnection: '/tmp/cb-ssh-x1 y' },
      [
        'ssh', ...COMMON, '-o', 'ConnectTimeout=5', ...ALIVE,
        '-o', 'ControlMaster=auto', '-o', 'ControlPath="/tmp/cb-ssh-x1 y/%C"', '-o', 'ControlPersist=5',
        '-T', '--', 'app.example.org', "'true'",
      ],
    ],
  ];
  for (const [name, target, command, opts, expected] of table) {
    test(name, () => assert.deepEqual(sshArgv(target, command, opts), expected));
  }

  test('refuses an identity file whose path holds %, which ssh would expand', () => {
    assert.throws(() => sshArgv({ ...bare, identityFile: '/keys/100%' }, ['true']), UsageError);
  });
});

describe('remoteScriptCommand', () => {
  const table: [string, SshTarget, string, string[], string][] = [
    [
      'home-relative folder',
      full,
      'backup-db',
      ['--yes'],
      "cd -- ~/'app' || exit 2; COMPOSE_BACKUP_ON_HOST=1 exec 'npx' 'zx' 'scripts/backup-db.ts' '--env' 'production' '--yes'",
    ],
    [
      'absolute folder, awkward argument',
      bare,
      'restore-db',
      ["it's here.sql.zst"],
      "cd -- '/srv/app' || exit 2; COMPOSE_BACKUP_ON_HOST=1 exec 'npx' 'zx' 'scripts/restore-db.ts' '--env' 'staging' 'it'\\''s here.sql.zst'",
    ],
  ];
  for (const [name, target, script, args, expected] of table) {
    test(name, () => assert.deepEqual(remoteScriptCommand(target, script, args), ['sh', '-c', expected]));
  }

  test('refuses a script name that is not a plain name', () => {
    assert.throws(() => remoteScriptCommand(bare, '../evil', []));
  });
});

describe('remoteDirWord', () => {
  for (const [dir, word] of REMOTE_DIR_WORDS) {
    test(`${JSON.stringify(dir)} becomes ${word}`, () => assert.equal(remoteDirWord(dir), word));
  }
});
