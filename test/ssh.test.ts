// lib/ssh.ts: table tests of the command lines, then real round trips through the system ssh
// client and a real sshd on loopback (test/helpers/sshd.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { SshTarget } from '../lib/config.ts';
import { FailedError, UsageError } from '../lib/errors.ts';
import { remoteDirWord, remoteScriptCommand, runSsh, shellQuote, sshArgv, sshOptionPath, SSH_LOST } from '../lib/ssh.ts';
import { freePort, startSshd, type TestSshd } from './helpers/sshd.ts';
import { killAll } from '../lib/pipeline.ts';

const AWKWARD = [
  'plain',
  'two words',
  '  leading and trailing  ',
  "it's",
  "'",
  "''",
  '"double"',
  '$(id)',
  '`id`',
  '${HOME}',
  '$HOME',
  'line1\nline2',
  'ends with newline\n',
  'tab\there',
  'ünïcødé ✓ 🚀',
  '',
  '*',
  '~',
  '~/x',
  '-n',
  '--',
  'a;b|c&d>e<f',
  'back\\slash\\',
  '!event',
  '#comment',
  'FOO=bar',
  'if',
];

/** What `printf '%s\0' args...` prints. */
const nulJoined = (args: string[]) => Buffer.from(args.map((a) => `${a}\0`).join(''));

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

  for (const shell of ['sh', 'bash']) {
    test(`round-trips every awkward string through a real ${shell} -c`, () => {
      const out = execFileSync(shell, ['-c', `printf '%s\\0' ${AWKWARD.map(shellQuote).join(' ')}`]);
      assert.deepEqual(out, nulJoined(AWKWARD));
    });
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
  const table: [string, SshTarget, string[], { tty?: boolean } | undefined, string[]][] = [
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
  const table: [string, string, string][] = [
    // dir, word, what a shell with HOME=/h makes of it
    ['~', '~', '/h'],
    ['~/', '~/', '/h/'],
    ['~/app', "~/'app'", '/h/app'],
    ["~/my app/it's", "~/'my app/it'\\''s'", "/h/my app/it's"],
    ['~root/app', "~root/'app'", '/root/app'],
    ['/srv/~/x', "'/srv/~/x'", '/srv/~/x'],
    ['~not a user/x', "'~not a user/x'", '~not a user/x'],
    ['app', "'app'", 'app'],
    ['$(id)', "'$(id)'", '$(id)'],
  ];
  for (const [dir, word, expanded] of table) {
    test(`${JSON.stringify(dir)} expands on the remote side only`, () => {
      assert.equal(remoteDirWord(dir), word);
      const out = execFileSync('sh', ['-c', `printf '%s' ${word}`], { env: { ...process.env, HOME: '/h' }, encoding: 'utf8' });
      assert.equal(out, expanded);
    });
  }
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  ms: number;
}

/** Run an argv with stdin closed (nobody could answer a prompt); kill it if it outlives `limitMs`. */
function run(argv: string[], opts: { limitMs?: number; onStdout?: (text: string) => void } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      opts.onStdout?.(b.toString('utf8'));
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.limitMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err, ms: Date.now() - started });
    });
  });
}

describe('over a real ssh connection', () => {
  let sshd: TestSshd;
  let target: SshTarget;
  let scratch: string;

  before(async () => {
    sshd = await startSshd();
    target = {
      target: sshd.target,
      port: sshd.port,
      identityFile: sshd.identityFile,
      knownHostsFile: sshd.knownHostsFile,
      connectTimeout: 5,
      projectDir: '/',
      remoteEnv: 'test',
    };
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-backup-ssh-test-'));
  });
  after(async () => {
    await sshd?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('separates stdout and stderr and forwards the remote exit code', async () => {
    const r = await run(sshArgv(target, ['sh', '-c', 'echo out; echo err >&2; exit 7']));
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout.toString(), 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('streams output while the remote command still runs', async () => {
    let firstSeenAt = 0;
    const r = await run(sshArgv(target, ['sh', '-c', 'echo first; sleep 1.5; echo second']), {
      onStdout: (text) => {
        if (!firstSeenAt && text.includes('first')) firstSeenAt = Date.now();
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'first\nsecond\n');
    assert.ok(firstSeenAt > 0);
    const endedAt = Date.now();
    assert.ok(endedAt - firstSeenAt >= 1000, `"first" arrived only ${endedAt - firstSeenAt} ms before the end`);
  });

  test('delivers awkward arguments byte for byte', async () => {
    const r = await run(sshArgv(target, ['printf', '%s\\0', ...AWKWARD]));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout, nulJoined(AWKWARD));
  });

  test('known_hosts and key paths with blanks, quotes and % work', async () => {
    const dir = path.join(scratch, `odd dir "q" it's 100% #1`);
    fs.mkdirSync(dir);
    const knownHostsFile = path.join(dir, 'known hosts');
    fs.copyFileSync(sshd.knownHostsFile, knownHostsFile);
    const identityDir = path.join(scratch, `key dir "q" it's #1`);
    fs.mkdirSync(identityDir);
    const identityFile = path.join(identityDir, 'id key');
    fs.copyFileSync(sshd.identityFile, identityFile);
    fs.chmodSync(identityFile, 0o600);
    const r = await run(sshArgv({ ...target, knownHostsFile, identityFile }, ['echo', 'ok']));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'ok\n');
  });

  test('an unknown host key fails with 255 without prompting', async () => {
    const knownHostsFile = path.join(scratch, 'empty_known_hosts');
    fs.writeFileSync(knownHostsFile, '');
    const r = await run(sshArgv({ ...target, knownHostsFile }, ['echo', 'should not run']), { limitMs: 15_000 });
    assert.equal(r.signal, null, 'ssh hung and was killed');
    assert.equal(r.code, SSH_LOST);
    assert.equal(r.stdout.length, 0);
    assert.match(r.stderr, /Host key verification failed/);
  });

  test('a key the server does not know fails with 255', async () => {
    const identityFile = path.join(scratch, 'stranger');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', identityFile], { stdio: 'ignore' });
    const r = await run(sshArgv({ ...target, identityFile }, ['echo', 'should not run']), { limitMs: 15_000 });
    assert.equal(r.code, SSH_LOST);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
  });

  test('a closed port fails with 255 at once', async () => {
    const port = await freePort();
    const r = await run(sshArgv({ ...target, port, connectTimeout: 3 }, ['true']), { limitMs: 15_000 });
    assert.equal(r.code, SSH_LOST);
    assert.match(r.stderr, /Connection refused/);
    assert.ok(r.ms < 3000, `took ${r.ms} ms`);
  });

  test('a server that never answers fails with 255 after connectTimeout', async () => {
    // Accepts the TCP connection, then says nothing: ssh waits for the banner until ConnectTimeout.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const r = await run(sshArgv({ ...target, port, connectTimeout: 2 }, ['true']), { limitMs: 15_000 });
      assert.equal(r.signal, null, 'ssh hung and was killed');
      assert.equal(r.code, SSH_LOST);
      assert.match(r.stderr, /timed out/);
      assert.ok(r.ms >= 1500 && r.ms < 6000, `took ${r.ms} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a connection killed mid-command makes ssh exit 255 quickly', async () => {
    let killedAt = 0;
    const r = await run(sshArgv(target, ['sh', '-c', 'echo started; exec sleep 30']), {
      limitMs: 15_000,
      onStdout: (text) => {
        if (!killedAt && text.includes('started')) {
          killedAt = Date.now();
          void sshd.killConnections();
        }
      },
    });
    assert.ok(killedAt > 0, `the remote command never started: ${r.stderr}`);
    assert.equal(r.signal, null, 'ssh hung and was killed');
    assert.equal(r.code, SSH_LOST, r.stderr);
    const ms = Date.now() - killedAt;
    assert.ok(ms < 5000, `ssh noticed after ${ms} ms`);
  });

  describe('runSsh', () => {
    /** Run with stdout and stderr going to files, as they would to a terminal or log. */
    async function runToFiles(t: SshTarget, command: string[]): Promise<{ result: number | Error; out: string; err: string }> {
      const outPath = path.join(scratch, 'run.out');
      const errPath = path.join(scratch, 'run.err');
      const outFd = fs.openSync(outPath, 'w');
      const errFd = fs.openSync(errPath, 'w');
      try {
        const result = await runSsh(t, command, { stdio: ['ignore', outFd, errFd] }).catch((e: Error) => e);
        return { result, out: fs.readFileSync(outPath, 'utf8'), err: fs.readFileSync(errPath, 'utf8') };
      } finally {
        fs.closeSync(outFd);
        fs.closeSync(errFd);
      }
    }

    test('resolves with the remote exit code and streams the output', async () => {
      const r = await runToFiles(target, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.equal(r.result, 3);
      assert.equal(r.out, 'out\n');
      assert.equal(r.err, 'err\n');
    });

    test('killAll (what SIGTERM of this process calls) stops a running ssh too', async () => {
      const started = Date.now();
      const running = runSsh(target, ['sleep', '27'], { stdio: ['ignore', 'ignore', 'ignore'] }).catch((e: Error) => e);
      // Wait until the remote sleep runs, so the kill hits an established session (where ssh
      // catches SIGTERM and exits 255, which must not read as a lost connection).
      const processes = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n');
      for (let i = 0; i < 100 && !processes().some((a) => a.trim() === 'sleep 27'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(processes().some((a) => a.trim() === 'sleep 27'), 'the remote command never started');
      killAll('SIGTERM');
      const r = await running;
      assert.ok(r instanceof FailedError, String(r));
      assert.match(r.message, /was stopped by/);
      assert.ok(Date.now() - started < 15_000, 'ssh was not stopped');
      assert.ok(!processes().some((a) => a.startsWith('ssh ') && a.endsWith('sleep 27')), 'the local ssh still runs');
    });

    test('a failed connection is a FailedError that says what to check', async () => {
      const port = await freePort();
      const r = await runToFiles({ ...target, port }, ['true']);
      assert.ok(r.result instanceof FailedError, String(r.result));
      assert.match(r.result.message, /exit 255/);
      assert.ok(r.result.message.includes(`-p ${port}`), r.result.message);
      assert.match(r.err, /Connection refused/);
    });
  });

  describe('remoteScriptCommand end to end', () => {
    /** A remote checkout: the repo's node_modules, lib (its loader), package.json and .npmrc, and a probe script that reports what it got. */
    function checkout(name: string): string {
      const dir = path.join(scratch, name);
      fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
      const repo = path.resolve(import.meta.dirname, '..');
      fs.symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'));
      fs.symlinkSync(path.join(repo, 'lib'), path.join(dir, 'lib'));
      fs.copyFileSync(path.join(repo, 'package.json'), path.join(dir, 'package.json'));
      fs.copyFileSync(path.join(repo, '.npmrc'), path.join(dir, '.npmrc'));
      fs.writeFileSync(
        path.join(dir, 'scripts', 'probe.ts'),
        [
          "const fields: string[] = [process.cwd(), process.env.COMPOSE_BACKUP_ON_HOST ?? '(unset)', ...process.argv.slice(2)];",
          "process.stdout.write(fields.map((f) => `${f}\\0`).join(''));",
          'process.exitCode = 5;',
          '',
        ].join('\n'),
      );
      return dir;
    }

    test('runs npx zx scripts/<name>.ts in the project folder with the remote env and arguments', async () => {
      const projectDir = checkout(`project "q" it's $(id)`);
      const args = ['--yes', "it's a file.sql.zst", '$(id)', 'line1\nline2', ''];
      const t = { ...target, projectDir, remoteEnv: 'production' };
      const r = await run(sshArgv(t, remoteScriptCommand(t, 'probe', args)), { limitMs: 60_000 });
      assert.equal(r.code, 5, r.stderr);
      // zx leaves its own argv in place: [node, zx, script, ...arguments].
      assert.deepEqual(r.stdout, nulJoined([projectDir, '1', 'scripts/probe.ts', '--env', 'production', ...args]));
    });

    test('a missing project folder exits 2 before anything runs', async () => {
      const t = { ...target, projectDir: path.join(scratch, 'no such folder') };
      const r = await run(sshArgv(t, remoteScriptCommand(t, 'probe', [])));
      assert.equal(r.code, 2);
      assert.match(r.stderr, /no such folder/);
    });
  });
});
