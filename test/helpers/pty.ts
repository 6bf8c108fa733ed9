// Runs a command at a pseudo-terminal, as a person at a terminal would (Node has no pty of its
// own; Python's standard pty module provides one), so a test can wait for a prompt, do something
// meanwhile (replace the backup being restored), then answer it.
import { spawn } from 'node:child_process';

const DRIVER = `
import os, pty, select, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = sys.stdout.buffer
while True:
    ready, _, _ = select.select([fd, 0], [], [])
    if fd in ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out.write(data)
        out.flush()
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            os.write(fd, data)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) & 0xff)
`;

export interface PtyRun {
  /** Resolves with everything printed so far once `text` has appeared. */
  waitFor(text: string | RegExp): Promise<string>;
  /** Type a line at the terminal. */
  type(line: string): void;
  done: Promise<{ code: number | null; output: string }>;
}

export function runAtTerminal(argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): PtyRun {
  const child = spawn('python3', ['-c', DRIVER, ...argv], { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  const waiters: { test: string | RegExp; resolve: (s: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (typeof w.test === 'string' ? output.includes(w.test) : w.test.test(output)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(output);
      }
    }
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    output += d;
    check();
  });
  const done = new Promise<{ code: number | null; output: string }>((resolve) => child.on('close', (code) => resolve({ code, output })));
  return {
    waitFor: (test) =>
      new Promise<string>((resolve, reject) => {
        waiters.push({ test, resolve });
        check();
        void done.then(() => reject(new Error(`the command ended before printing ${String(test)}:\n${output}`)));
      }),
    type: (line) => child.stdin.write(`${line}\n`),
    done,
  };
}
