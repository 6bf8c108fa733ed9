// Push: every local backup not at the target yet goes there (a catch-up after an outage too),
// newest first, each with its manifest, encrypted on the way by an `age` stage, streamed: age
// reads the backup's file itself, this process sees only the ciphertext on its way to the target
// (hashed: the copy's checksum record there, and the receipt here), and no second copy is made on
// the local disk. The plaintext is not hashed again here (it costs a third of a push's time): a
// backup whose size is not its manifest's is refused, and its content against the manifest is what
// verify checks here and verify --offsite --deep checks at the target. Then the target's own
// retention is applied.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { FailedError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { OffsiteTarget, Settings } from '../config/resolve.ts';
import { humanBytes } from '../core/format.ts';
import { checksumText, collectCopies, copyKeys, type RemoteCopy, type StoredObject } from '../core/offsite-names.ts';
import { planPush, type PushDecision } from '../core/offsite-plan.ts';
import type { ReceiptBook } from '../core/receipts.ts';
import { crashPoint } from '../proc/fault.ts';
import { heldOutput, pipelineError, runPipeline } from '../proc/pipeline.ts';
import { listAll, type BackupFile } from '../store/catalog.ts';
import { parseManifestText } from '../store/manifest.ts';
import { encryptStage, encryptText } from './age.ts';
import { appendReceipt, readReceipts } from './receipts.ts';
import { pruneTarget, type TargetPruneOutcome } from './prune.ts';
import type { ObjectLock, OffsiteStore } from './store.ts';

export interface PushedCopy {
  name: string;
  kind: BackupFile['kind'];
  /** The copy's size at the target (ciphertext). */
  size: number;
  key: string;
  durationMs: number;
}

export interface PushOutcome {
  target: string;
  where: string;
  decisions: PushDecision[];
  pushed: PushedCopy[];
  /** Leftovers of interrupted pushes removed at the target. */
  swept: string[];
  /** The target's retention, when it was applied. */
  pruned: TargetPruneOutcome | null;
}

/** Pure: the Object Lock a copy pushed now gets, or null. */
export function lockFor(target: OffsiteTarget, now: Date): ObjectLock | null {
  if (target.kind !== 's3' || !target.immutableDays) return null;
  return { mode: target.immutableMode, until: new Date(now.getTime() + target.immutableDays * 86_400_000) };
}

/** A backup opened for reading: a regular file, not followed through a symbolic link. */
function openBackup(file: string): { fd: number; size: number } {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new FailedError(`${file} is not a regular file; not pushed`);
  }
  return { fd, size: st.size };
}

/** Stream one backup (and its manifest) to the target; returns the copy's size, or throws with nothing left under its name. */
export async function pushOne(store: OffsiteStore, file: BackupFile, settings: Pick<Settings, 'backupDir'>, now: Date): Promise<PushedCopy> {
  const { target } = store;
  const started = Date.now();
  const encrypted = target.encryption === 'age';
  const keys = copyKeys(file, encrypted);
  const lock = lockFor(target, now);
  const manifestText = file.manifestPath ? await fsp.readFile(file.manifestPath, 'utf8') : null;
  const manifest = manifestText === null ? null : parseManifestText(manifestText);
  if (manifestText !== null && !manifest) throw new FailedError(`${file.name} was not pushed: its manifest is damaged; run verify`);

  // The manifest goes first: a copy that has its name always has its manifest beside it.
  if (manifestText !== null) await store.writeSmall(keys.manifest, encrypted ? await encryptText(manifestText, target.recipients) : manifestText, lock);

  // age reads the backup itself, from a descriptor opened once (not through a symlink): the
  // bytes do not pass through this process on their way in, only the ciphertext does (hashed).
  const src = openBackup(file.path);
  if (manifest && src.size !== manifest.size) {
    fs.closeSync(src.fd);
    throw new FailedError(`${file.name} was not pushed: it is ${src.size} bytes, its manifest says ${manifest.size} (changed since it was written); run verify`);
  }
  const out = heldOutput();
  const cipher = crypto.createHash('sha256');
  let cipherSize = 0;
  const encrypting = runPipeline({
    stdin: src.fd,
    stages: [encrypted ? encryptStage(target.recipients) : { name: 'cat', argv: ['cat'] }],
    stdout: out.sink,
    tap: {
      after: 0,
      look: (chunk) => {
        cipher.update(chunk);
        cipherSize += chunk.length;
      },
    },
  }).then((res) => {
    // The upload sees the end only when every byte went through age: a stage that died halfway
    // fails the upload instead of completing it with a truncated copy.
    out.close(res.ok ? undefined : new FailedError(`encrypting ${file.name} failed: ${res.failure?.message ?? 'stopped'}`));
    return res;
  });
  const staging = store.stage(keys, out.readable, { sizeHint: file.size, lock }).catch((err: unknown) => {
    // The upload stopped reading: stop age too, or it would wait on a full pipe forever.
    out.readable.destroy(err as Error);
    throw err;
  });
  const [enc, staged] = await Promise.allSettled([encrypting, staging]);
  fs.closeSync(src.fd);
  // A failed upload says why itself: its own failure (a full disk there, a lost connection; age is
  // then stopped by the broken pipe, which is not its own failure), or age's, which reached it as
  // the body's error.
  if (staged.status === 'rejected') throw staged.reason;
  const copy = staged.value;
  if (enc.status === 'rejected' || !enc.value.ok) {
    await copy.discard();
    if (enc.status === 'fulfilled' && enc.value.failure) throw pipelineError(`encrypting ${file.name}`, enc.value.failure);
    throw new FailedError(`pushing ${file.name} failed: the backup was not read to its end`);
  }
  const sha256 = cipher.digest('hex');
  crashPoint('push-offsite:staged');
  await copy.commit(checksumText(sha256, keys.data));
  await appendReceipt(settings.backupDir, target.name, {
    event: 'pushed',
    name: file.name,
    key: keys.data,
    size: cipherSize,
    sha256,
    plainSize: manifest?.size ?? src.size,
    plainSha256: manifest?.sha256 ?? null,
    encrypted,
    at: now.toISOString(),
    retainUntil: lock ? lock.until.toISOString() : null,
  });
  return { name: file.name, kind: file.kind, size: cipherSize, key: keys.data, durationMs: Date.now() - started };
}

export interface TargetSurvey {
  objects: StoredObject[];
  copies: RemoteCopy[];
  receipts: ReceiptBook;
  /** What a push would do with each local backup. */
  decisions: PushDecision[];
}

/** What is at the target, and what a push would send. */
export async function surveyTarget(store: OffsiteStore, settings: Pick<Settings, 'backupDir'>, now: Date, exclude?: ReadonlyMap<string, string>): Promise<TargetSurvey> {
  const [local, objects, receipts] = await Promise.all([listAll(settings.backupDir), store.list(), readReceipts(settings.backupDir, store.target.name)]);
  const { copies } = collectCopies(objects);
  return { objects, copies, receipts, decisions: planPush({ local, remote: copies, receipts, retention: store.target.retention, now, exclude }) };
}

export interface PushOptions {
  /** Apply the target's retention after the push (the scheduled run skips it after a failed step). */
  prune: boolean;
  /** Backups not to push (names), with why. */
  exclude?: ReadonlyMap<string, string>;
  /** Called as each copy lands. */
  onPushed?: (c: PushedCopy) => void;
}

/** Push to one target (opened by the caller), then apply its retention. Stops at the first copy that fails. */
export async function pushToTarget(store: OffsiteStore, settings: Pick<Settings, 'backupDir'>, now: () => Date, opts: PushOptions): Promise<PushOutcome> {
  const { target } = store;
  const survey = await surveyTarget(store, settings, now(), opts.exclude);
  const swept = await store.sweep(now(), survey.objects).catch((err: Error) => {
    log.warn(`leftovers of interrupted pushes at ${store.where} were not swept: ${err.message}`);
    return [] as string[];
  });
  const { decisions } = survey;
  const outcome: PushOutcome = { target: target.name, where: store.where, decisions, pushed: [], swept, pruned: null };
  const todo = decisions.filter((d) => d.action === 'push');
  for (const d of todo) {
    log.info(`pushing ${d.file.name} (${humanBytes(d.file.size)}) to ${target.name}`);
    const copy = await pushOne(store, d.file, settings, now());
    outcome.pushed.push(copy);
    opts.onPushed?.(copy);
  }
  // Nothing pushed and nothing swept: the listing taken above is still what the target holds.
  const listed = outcome.pushed.length || swept.length ? undefined : survey.objects;
  if (opts.prune) outcome.pruned = await pruneTarget(store, settings, now(), { dryRun: false, listed });
  return outcome;
}
