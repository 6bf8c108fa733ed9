// Lets Node 20 run the project's TypeScript: `.npmrc` puts `--import compose-backup-loader` in
// the options of every node that npm starts, so `npx zx scripts/<op>.ts` works from a fresh clone.
// Node 20 has no type stripping and runs module hooks on a separate thread; see hooks.mjs.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
