// ssh for real: what a real sh and bash make of the quoting, then round trips through the system
// ssh client and a real sshd on loopback (test/helpers/sshd.ts): output, exit codes, awkward
// arguments and paths, every way a connection fails, runSsh, and the remote script command.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SshTarget } from '../../../lib/config/resolve.ts';
import { remoteDirWord, remoteScriptCommand, shellQuote, sshArgv, SSH_LOST } from '../../../lib/remote/ssh.ts';
import { REMOTE_DIR_WORDS } from '../../fixtures/remote-dir-words.ts';
import { ROOT } from '../../helpers/cli.ts';
import { freePort, startSshd } from '../../helpers/sshd.ts';
import type { TestSshd } from '../../helpers/sshd.ts';

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
  for (const shell of ['sh', 'bash']) {
    test(`round-trips every awkward string through a real ${shell} -c`, () => {
      const out = execFileSync(shell, ['-c', `printf '%s\\0' ${AWKWARD.map(shellQuote).join(' ')}`]);
      assert.deepEqual(out, nulJoined(AWKWARD));
    });
  }
});

describe('remoteDirWord', () => {
  for (const [dir, word, expanded] of REMOTE_DIR_WORDS) {
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
    // runSsh writes to this process's own stdout and stderr (a terminal, or cron's log) and a stop
    // signal ends the whole process, so it runs in a small harness process with both going to files.
    const HARNESS = `
import fs from 'node:fs';
import { runSsh } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'lib/remote/ssh.ts')).href)};
import { installStopHandlers } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'lib/proc/signals.ts')).href)};
const [target, command, resultFile] = JSON.parse(process.argv[2]);
installStopHandlers((level, message) => process.stderr.write(level + ': ' + message + '\\n'));
// A stop exits 200 ms after the signal; the harness reports its result first, then ends on its own.
process.exit = (code) => void (process.exitCode = code ?? process.exitCode);
let result;
try {
  result = { code: await runSsh(target, command) };
} catch (err) {
  result = { name: err.constructor.name, message: err.message };
}
fs.writeFileSync(resultFile, JSON.stringify(result));
`;

    /** Run runSsh in the harness with stdout and stderr going to files, as they would to a terminal or log. */
    function runToFiles(t: SshTarget, command: string[], onSpawn?: (pid: number) => void): Promise<{ result: { code?: number; name?: string; message?: string }; out: string; err: string }> {
      const dir = fs.mkdtempSync(path.join(scratch, 'run-'));
      const harness = path.join(dir, 'harness.mjs');
      fs.writeFileSync(harness, HARNESS);
      const [outPath, errPath, resultPath] = ['run.out', 'run.err', 'result.json'].map((n) => path.join(dir, n)) as [string, string, string];
      const outFd = fs.openSync(outPath, 'w');
      const errFd = fs.openSync(errPath, 'w');
      const child = spawn(process.execPath, ['--import', 'compose-backup-loader', harness, JSON.stringify([t, command, resultPath])], { cwd: ROOT, stdio: ['ignore', outFd, errFd] });
      fs.closeSync(outFd);
      fs.closeSync(errFd);
      onSpawn?.(child.pid!);
      return new Promise((resolve, reject) => {
        child.on('error', reject);
        child.on('close', () => {
          const err = fs.readFileSync(errPath, 'utf8');
          if (!fs.existsSync(resultPath)) return reject(new Error(`the harness gave no result: ${err}`));
          resolve({ result: JSON.parse(fs.readFileSync(resultPath, 'utf8')), out: fs.readFileSync(outPath, 'utf8'), err });
        });
      });
    }

    test('resolves with the remote exit code and streams the output', async () => {
      const r = await runToFiles(target, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual(r.result, { code: 3 });
      assert.equal(r.out, 'out\n');
      assert.equal(r.err, 'err\n');
    });

    test('SIGTERM to this process stops a running ssh too, which reads as stopped, not as a lost connection', async () => {
      const started = Date.now();
      let pid = 0;
      const running = runToFiles(target, ['sleep', '27'], (p) => (pid = p));
      // Wait until the remote sleep runs, so the signal hits an established session (where ssh
      // catches SIGTERM and exits 255, which must not read as a lost connection).
      const processes = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n');
      for (let i = 0; i < 100 && !processes().some((a) => a.trim() === 'sleep 27'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(processes().some((a) => a.trim() === 'sleep 27'), 'the remote command never started');
      process.kill(pid, 'SIGTERM');
      const r = await running;
      assert.equal(r.result.name, 'FailedError', JSON.stringify(r.result));
      assert.match(r.result.message!, /was stopped by/);
      assert.match(r.err, /interrupted by SIGTERM; stopping and removing work in progress/);
      assert.ok(Date.now() - started < 15_000, 'ssh was not stopped');
      assert.ok(!processes().some((a) => a.startsWith('ssh ') && a.endsWith('sleep 27')), 'the local ssh still runs');
    });

    test('a failed connection is a FailedError that says what to check', async () => {
      const port = await freePort();
      const r = await runToFiles({ ...target, port }, ['true']);
      assert.equal(r.result.name, 'FailedError', JSON.stringify(r.result));
      assert.match(r.result.message!, /exit 255/);
      assert.ok(r.result.message!.includes(`-p ${port}`), r.result.message);
      assert.match(r.err, /Connection refused/);
    });
  });

  describe('remoteScriptCommand end to end', () => {
    /** A remote checkout: the repo's node_modules, lib (its loader), package.json and .npmrc, and a probe script that reports what it got. */
    function checkout(name: string): string {
      const dir = path.join(scratch, name);
      fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
      const repo = ROOT;
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
