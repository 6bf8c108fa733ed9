// The yaml package, loaded the first time a text is parsed: a run on the built-in defaults (no
// config file, no compose file) never needs it, and loading it is ~50 ms of start-up on Node 20
// (docs/benchmarks.md). Its Node build is CommonJS, so a synchronous require loads the same copy
// an import would, and the parsers that use it stay synchronous.
import { createRequire } from 'node:module';

type Yaml = typeof import('yaml');

let loaded: Yaml | undefined;

export function yaml(): Yaml {
  return (loaded ??= createRequire(import.meta.url)('yaml') as Yaml);
}
