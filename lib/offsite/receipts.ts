// The record of pushed copies on this machine (lib/core/receipts says what it holds): one file per
// target in the backup tree, `offsite/<target>.jsonl`, appended and flushed line by line.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { log } from '../cli/output.ts';
import { parseReceipts, receiptLine, type ReceiptBook, type ReceiptEvent } from '../core/receipts.ts';
import { ensurePrivateDir } from '../store/publish.ts';

export const RECEIPTS_DIR = 'offsite';

export function receiptsPath(backupDir: string, target: string): string {
  return path.join(backupDir, RECEIPTS_DIR, `${target}.jsonl`);
}

/** The record for a target; empty when there is none yet (a new server, a first push). */
export async function readReceipts(backupDir: string, target: string): Promise<ReceiptBook> {
  const file = receiptsPath(backupDir, target);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return parseReceipts('');
    throw err;
  }
  const book = parseReceipts(text);
  if (book.skipped) log.warn(`${file}: ${book.skipped} line(s) that are not records were skipped (an interrupted write?)`);
  return book;
}

/** Append one event and flush it to disk before going on. */
export async function appendReceipt(backupDir: string, target: string, event: ReceiptEvent): Promise<void> {
  const file = receiptsPath(backupDir, target);
  await ensurePrivateDir(path.dirname(file));
  const fh = await fsp.open(file, 'a', 0o600);
  try {
    await fh.write(receiptLine(event));
    await fh.sync();
  } finally {
    await fh.close();
  }
}
