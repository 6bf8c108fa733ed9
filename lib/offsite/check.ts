// verify --offsite: is what the target holds what was pushed? The cheap check downloads nothing:
// every copy is complete (data, checksum record, manifest), its size and recorded sha256 are the
// ones this machine's receipts hold, the sha256 is computed there where the kind can (ssh), and no
// copy the receipts say is there has gone. The deep check streams copies down through age and a
// decompression test: the ciphertext must hash to its record, the plaintext to its manifest.
import type { Settings } from '../config/resolve.ts';
import { collectCopies, type RemoteCopy } from '../core/offsite-names.ts';
import { copyIncomplete, receiptMismatch } from '../core/offsite-plan.ts';
import type { ReceiptBook } from '../core/receipts.ts';
import { cipherMismatch, fetchManifest, recordedSha256, streamCopy, testStage } from './fetch.ts';
import { readReceipts } from './receipts.ts';
import type { OffsiteStore } from './store.ts';
import { errorMessage } from '../cli/errors.ts';

export interface CopyCheck {
  name: string;
  kind: RemoteCopy['kind'];
  key: string;
  ok: boolean;
  problems: string[];
  checks: string[];
}

export interface TargetCheck {
  target: string;
  where: string;
  ok: boolean;
  copies: CopyCheck[];
  /** Copies the receipts say were pushed and not removed, which the target no longer has. */
  missing: string[];
}

/** The cheap check of one copy: no transfer. */
async function checkCheap(store: OffsiteStore, copy: RemoteCopy, receipts: ReceiptBook): Promise<CopyCheck> {
  const r: CopyCheck = { name: copy.name, kind: copy.kind, key: copy.key, ok: false, problems: [], checks: [] };
  const incomplete = copyIncomplete(copy);
  r.checks.push('complete');
  if (incomplete) r.problems.push(`incomplete: ${incomplete}`);
  const recorded = copy.hasChecksum ? await recordedSha256(store, copy).catch(() => null) : null;
  if (copy.hasChecksum && !recorded) r.problems.push('its checksum record is damaged');
  const receipt = receipts.byName.get(copy.name);
  const mismatch = receiptMismatch(copy, receipt, recorded);
  if (receipt) {
    r.checks.push('size and sha256 as pushed');
    if (mismatch) r.problems.push(`not the copy that was pushed: ${mismatch}`);
  } else r.checks.push('no receipt here (pushed from elsewhere): its own record only');
  const there = await store.hashThere(copy.key).catch((err: unknown) => {
    r.problems.push(`sha256 there failed: ${errorMessage(err)}`);
    return null;
  });
  if (there !== null) {
    r.checks.push('sha256 computed there');
    if (recorded && there !== recorded) r.problems.push('sha256 mismatch: the copy changed at the target since it was pushed');
  }
  return r;
}

/** The deep check: the whole copy streamed down, decrypted and decompressed, against its record and manifest. */
async function checkDeep(store: OffsiteStore, copy: RemoteCopy, identity: string | null, receipts: ReceiptBook, r: CopyCheck): Promise<void> {
  try {
    const [got, recorded] = await Promise.all([fetchManifest(store, copy, identity), recordedSha256(store, copy).catch(() => null)]);
    const streamed = await streamCopy(store, copy, identity, 'ignore', { then: [testStage(copy)], hashPlain: true });
    r.checks.push('downloaded', 'decrypted', 'decompression');
    const mismatch = cipherMismatch(streamed.cipher, recorded, receipts.byName.get(copy.name));
    if (mismatch) r.problems.push(`sha256 mismatch: ${mismatch}`);
    if (streamed.failure) r.problems.push(streamed.failure);
    else if (got && streamed.plain) {
      r.checks.push('plaintext sha256 against the manifest');
      if (streamed.plain.size !== got.manifest.size || streamed.plain.sha256 !== got.manifest.sha256) {
        r.problems.push(`the decrypted backup is not the one its manifest describes (${streamed.plain.size} bytes, the manifest says ${got.manifest.size})`);
      }
    } else if (!got) r.checks.push('no manifest');
  } catch (err) {
    r.problems.push(errorMessage(err));
  }
}

export interface CheckOptions {
  /** Copies to check deep (download, decrypt, decompress); none for the cheap check only. */
  deep: (copies: RemoteCopy[]) => RemoteCopy[];
  identity: string | null;
}

export async function checkTarget(store: OffsiteStore, settings: Pick<Settings, 'backupDir'>, opts: CheckOptions): Promise<TargetCheck> {
  const [objects, receipts] = await Promise.all([store.list(), readReceipts(settings.backupDir, store.target.name)]);
  const { copies } = collectCopies(objects);
  const results: CopyCheck[] = [];
  const deep = new Set(opts.deep(copies));
  for (const copy of copies) {
    const r = await checkCheap(store, copy, receipts);
    if (deep.has(copy)) await checkDeep(store, copy, opts.identity, receipts, r);
    r.ok = r.problems.length === 0;
    results.push(r);
  }
  const present = new Set(copies.map((c) => c.name));
  const missing = [...receipts.byName.keys()].filter((n) => !present.has(n)).sort();
  return { target: store.target.name, where: store.where, ok: missing.length === 0 && results.every((r) => r.ok), copies: results, missing };
}
