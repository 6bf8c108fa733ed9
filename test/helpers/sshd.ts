// A real OpenSSH server on loopback for one test file: its own host key, an authorized client
// key, a high port, and a known_hosts line for it. Nothing outside its temp folder is touched
// except /run/sshd, the privilege-separation folder sshd insists on.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const SSHD = '/usr/sbin/sshd';
const PRIVSEP_DIR = '/run/sshd';

export interface TestSshd {
  port: number;
  user: string;
  host: '127.0.0.1';
  identityFile: string;
  knownHostsFile: string;
  /** user@127.0.0.1 */
  target: string;
  /** sshd's own log (-e), for failure messages. */
  logs(): string;
  stop(): Promise<void>;
  /** Kill the per-connection sshd processes (not the listener) and what they run: a lost connection. */
  killConnections(): Promise<void>;
}

export function sshdAvailable(): boolean {
  return fs.existsSync(SSHD);
}

export async function startSshd(): Promise<TestSshd> {
  if (!sshdAvailable()) {
    throw new Error(`${SSHD} not found: the SSH tests need a real OpenSSH server; run: apt-get install -y openssh-server`);
  }
  // sshd refuses to start without it, and a container without a running sshd has none.
  try {
    fs.mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new Error(`cannot create ${PRIVSEP_DIR}, which sshd needs: ${(err as Error).message}; run the tests as root`);
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-backup-sshd-'));
  const keygen = (file: string, comment: string) =>
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { stdio: 'ignore' });
  const hostKey = path.join(dir, 'host_ed25519');
  const identityFile = path.join(dir, 'client_ed25519');
  keygen(hostKey, 'compose-backup-test-host');
  keygen(identityFile, 'compose-backup-test-client');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  fs.copyFileSync(`${identityFile}.pub`, authorizedKeys);

  const user = os.userInfo().username;
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = path.join(dir, 'sshd_config');
    fs.writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // The temp folder's owner and modes are not what sshd expects of a home.
        'StrictModes no',
        // The tests run as root in CI; a key is still required.
        'PermitRootLogin prohibit-password',
        'PrintMotd no',
        'PrintLastLog no',
        'X11Forwarding no',
        'AllowTcpForwarding no',
        'LogLevel VERBOSE',
        // bash run by sshd sources ~/.bashrc when SHLVL says it is the first shell; this makes it
        // the second, so the sessions do not depend on (or wait for) the machine user's shell setup
        // (a `pyenv rehash` there blocks for a minute on a lock left by a killed session).
        'SetEnv SHLVL=1',
        '',
      ].join('\n'),
    );
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      log = (log + chunk).slice(-64 * 1024);
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (await listening(port, exited)) {
      const knownHostsFile = path.join(dir, 'known_hosts');
      const hostPub = fs.readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
      fs.writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostPub}\n`);
      // A test that forgets stop() must not leave a server behind.
      const onExit = () => {
        child.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
      };
      process.once('exit', onExit);
      child.unref();
      (child.stderr as net.Socket).unref();
      return {
        port,
        user,
        host: '127.0.0.1',
        identityFile,
        knownHostsFile,
        target: `${user}@127.0.0.1`,
        logs: () => log,
        killConnections: async () => killDescendants(child.pid!),
        stop: async () => {
          process.off('exit', onExit);
          child.ref();
          killDescendants(child.pid!);
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            await exited;
          }
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    lastError = log.trim();
    child.kill('SIGKILL');
    await exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error(`sshd did not start after 5 attempts; its last log:\n${lastError}`);
}

/** A port nothing listens on right now (another process may still take it: callers retry). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** True once the port accepts connections; false if the server exits first or after 10 s. */
async function listening(port: number, exited: Promise<void>): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 10_000;
  while (!gone && Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return !gone;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...; comm may itself hold spaces and parentheses.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    out.push({ pid: Number(name), ppid, comm: stat.slice(open + 1, close) });
  }
  return out;
}

/**
 * SIGKILL every process under the listener. The sshd ones go first, so that none of them can
 * still report the remote command's exit status: the client must see the link drop.
 */
function killDescendants(root: number): void {
  const all = processes();
  const found: Proc[] = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const p of all) {
      if (p.ppid === parent) {
        found.push(p);
        queue.push(p.pid);
      }
    }
  }
  const ordered = [...found.filter((p) => p.comm === 'sshd'), ...found.filter((p) => p.comm !== 'sshd')];
  for (const p of ordered) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
