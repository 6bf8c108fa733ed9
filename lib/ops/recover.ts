// Recovery on an empty or new server, from an offsite target: the newest set there (or the one
// made at or before a given time) is fetched into the backup tree (decrypted, checked against its
// manifests: lib/offsite/fetch), verified like any backup (lib/ops/verify), then restored with the
// usual confirmations and safety rules (lib/ops/restore: restore-db's and restore-media's own paths).
import { FailedError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { OffsiteTarget, Settings } from '../config/resolve.ts';
import type { RestoreResult } from '../db/restore.ts';
import type { MediaRestoreResult } from '../media/restore.ts';
import { humanBytes } from '../core/format.ts';
import { collectCopies, type RemoteCopy } from '../core/offsite-names.ts';
import { chooseRecoverySet } from '../core/offsite-plan.ts';
import { fetchCopy, type Fetched } from '../offsite/fetch.ts';
import { chainToFetch } from './offsite.ts';
import { readReceipts } from '../offsite/receipts.ts';
import { openStore } from '../offsite/store.ts';
import { restoreDatabaseFile, restoreMediaFile } from './restore.ts';
import { verifyBackup } from './verify.ts';

export interface RecoverOptions {
  settings: Settings;
  target: OffsiteTarget;
  identity: string | null;
  /** Restore the newest set made at or before this time; null: the newest. */
  at: Date | null;
  yes: boolean;
  now: () => Date;
}

export interface RecoverOutcome {
  target: string;
  where: string;
  database: { fetched: Fetched; restored: RestoreResult } | null;
  media: { fetched: Fetched; restored: MediaRestoreResult } | null;
}

/** Fetch one copy into the tree and check it as verify would; a copy that fails is refused before anything is restored. */
async function fetchChecked(opts: RecoverOptions, store: Awaited<ReturnType<typeof openStore>>, copy: RemoteCopy): Promise<Fetched> {
  const receipts = await readReceipts(opts.settings.backupDir, opts.target.name);
  log.info(`fetching ${copy.name} (${humanBytes(copy.size)}) from ${opts.target.name}`);
  const got = await fetchCopy({ store, copy, identity: opts.identity, backupDir: opts.settings.backupDir, name: copy.name, receipt: receipts.byName.get(copy.name) });
  const v = await verifyBackup(got.path, { requireManifest: copy.hasManifest });
  if (!v.ok) throw new FailedError(`${copy.name} from ${opts.target.name} fails verification (${v.problems.join('; ')}); nothing was restored`);
  log.info(`ok  ${copy.name}  (${v.checks.join(', ')})`);
  return got;
}

export async function recover(opts: RecoverOptions): Promise<RecoverOutcome> {
  const { settings, target } = opts;
  const store = await openStore(target, settings.envName);
  const { copies } = collectCopies(await store.list());
  const set = chooseRecoverySet(copies, opts.at, `${target.name} (${store.where})`);
  for (const note of set.notes) log.warn(note);
  log.info(`recovering ${settings.envName} from ${target.name}: ${[set.database?.name, set.media?.name].filter(Boolean).join(' and ')}`);
  // Both halves are fetched and verified before either is restored: a bad copy stops the recovery with nothing changed.
  const db = set.database ? await fetchChecked(opts, store, set.database) : null;
  // An incremental point comes with every archive of its chain, full first.
  let media: Fetched | null = null;
  for (const link of set.media ? chainToFetch(set.media, copies, `${target.name} (${store.where})`) : []) media = await fetchChecked(opts, store, link);
  const outcome: RecoverOutcome = { target: target.name, where: store.where, database: null, media: null };
  if (db && set.database) {
    const restored = await restoreDatabaseFile(settings, { path: db.path, name: db.name, codec: set.database.codec }, { yes: opts.yes, now: opts.now() });
    outcome.database = { fetched: db, restored };
  }
  if (media && set.media) {
    const restored = await restoreMediaFile(settings, { path: media.path, name: media.name, codec: set.media.codec }, { yes: opts.yes, now: opts.now() });
    outcome.media = { fetched: media, restored };
  }
  return outcome;
}
