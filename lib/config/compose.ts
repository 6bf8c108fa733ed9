// Docker Compose invocation. Command lines are plain string[] so they are table-tested and
// never pass through a shell on this side.
import fs from 'node:fs';
import type { ComposeRef, Settings } from './resolve.ts';
import { UsageError } from '../cli/errors.ts';
import { yaml } from './yaml.ts';

export function composeBase(ref: ComposeRef): string[] {
  return ['docker', 'compose', '-f', ref.file, ...(ref.projectDirectory ? ['--project-directory', ref.projectDirectory] : [])];
}

/** A command in the running service. `-T` is not optional: a pseudo-TTY would mangle binary streams. */
export function composeExec(ref: ComposeRef, service: string, inner: string[]): string[] {
  return [...composeBase(ref), 'exec', '-T', service, ...inner];
}

/** A command in a one-off container of the service (how the seed restores media). */
export function composeRun(ref: ComposeRef, service: string, inner: string[]): string[] {
  return [...composeBase(ref), 'run', '--rm', '--no-deps', '-T', service, ...inner];
}

/** Pure: the service names a compose document defines. */
export function composeServices(text: string): string[] {
  const doc = yaml().parse(text) as { services?: Record<string, unknown> } | null;
  return Object.keys(doc?.services ?? {});
}

/** Fail early, before any work, when a configured service is not in its compose file. */
export function checkComposeServices(settings: Settings): void {
  const wanted: { file: string; service: string; what: string }[] = [];
  if (settings.database.mode === 'compose') {
    wanted.push({ file: settings.database.compose.file, service: settings.database.service, what: 'database' });
  }
  if (settings.media.mode === 'compose') {
    wanted.push({ file: settings.media.compose.file, service: settings.media.service, what: 'media' });
  }
  const cache = new Map<string, string[]>();
  for (const w of wanted) {
    let services = cache.get(w.file);
    if (!services) {
      let text: string;
      try {
        text = fs.readFileSync(w.file, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read compose file ${w.file}: ${(err as Error).message}`, { cause: err });
      }
      try {
        services = composeServices(text);
      } catch (err) {
        throw new UsageError(`compose file ${w.file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      cache.set(w.file, services);
    }
    if (!services.includes(w.service)) {
      throw new UsageError(
        `${w.what} service "${w.service}" is not in ${w.file}; it has: ${services.join(', ') || '(no services)'}`,
      );
    }
  }
}
