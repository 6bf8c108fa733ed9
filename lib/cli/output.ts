// Messages for people go to stderr, one line each; results go to stdout (see the contract).
// Every line passes through redact() so a secret registered once (a database password,
// a Healthchecks URL) can never reach a terminal, a log file or a ping body.

const secrets = new Set<string>();

/** Remember a secret so that every later message masks it. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 3) {
    secrets.add(secret);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) secrets.add(encoded);
  }
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

type Sink = (line: string) => void;
const sinks: Sink[] = [];

/** Extra destinations for every message (the scheduled run's backup.log and ping body). */
export function addSink(sink: Sink): () => void {
  sinks.push(sink);
  return () => {
    const i = sinks.indexOf(sink);
    if (i >= 0) sinks.splice(i, 1);
  };
}

let echo = true;

/** Stop (or resume) writing messages to stderr; sinks still get them (the scheduled run's --quiet). */
export function setConsoleEcho(on: boolean): void {
  echo = on;
}

function emit(prefix: string, message: string): void {
  const line = redact(`${prefix}${message}`).replace(/\r?\n/g, ' | ');
  if (echo) process.stderr.write(line + '\n');
  for (const sink of sinks) sink(line);
}

export const log = {
  info: (message: string) => emit('', message),
  success: (message: string) => emit('ok: ', message),
  warn: (message: string) => emit('warning: ', message),
  error: (message: string) => emit('error: ', message),
};

/** Print a result on stdout (paths of new backups, JSON). */
export function result(text: string): void {
  process.stdout.write(redact(text) + '\n');
}
