// How `npx zx scripts/<op>.ts` (and `npm test`, and the benchmarks) run TypeScript: the project's
// `.npmrc` puts `--import compose-backup-loader` in the options of every node that npm starts, and
// this is it. Node 22.18+ and 24 strip the types themselves (the code uses only erasable syntax,
// which tsconfig's erasableSyntaxOnly enforces), so nothing is registered there. Node 20 cannot:
// it gets hooks.mjs, which strips them with amaro, the same stripper those Nodes ship. Either
// way a stack trace names the source's own lines and columns. One file, so scripts, tests and
// benchmarks always run through the same toolchain.
import module from 'node:module';

if (process.features.typescript) {
  // Node's own compile cache keeps the stripped and compiled modules between runs: without it,
  // every run pays ~0.15 s to start the type stripper before the first line of the script.
  module.enableCompileCache?.();
} else {
  module.register('./hooks.mjs', import.meta.url);
}
