// How `npx zx scripts/<op>.ts` (and `npm test`) run TypeScript: the project's `.npmrc` puts
// `--import compose-backup-loader` in the options of every node that npm starts, and this is it.
// Node 22.18+ and 24 strip the types themselves (the project's code uses only erasable syntax,
// which tsconfig's erasableSyntaxOnly enforces), so nothing is registered and stack traces name
// the source lines as they are. Node 20, which cannot, gets tsx, the ecosystem's loader, with
// source maps. One file, so scripts, tests and benchmarks always run through the same toolchain.
import module from 'node:module';

if (process.features.typescript) {
  // Node's own compile cache keeps the stripped and compiled modules between runs: without it,
  // every run pays ~0.15 s to start the type stripper before the first line of the script.
  module.enableCompileCache?.();
} else {
  const { register } = await import('tsx/esm/api');
  register();
}
