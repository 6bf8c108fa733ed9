// The local record of what was pushed to a target: one JSON line per event, appended
// (`$BACKUP_DIR/offsite/<target>.jsonl`). It is what a target is checked against (a copy there
// whose size or sha256 is not what was sent), what says which local backups are not offsite yet,
// and what the Prometheus textfile reads without asking the target. Appended lines survive a crash
// whole or as a torn last line, which reading skips. Pure, table-tested.
import { z } from 'zod';

const PushedSchema = z.object({
  event: z.literal('pushed'),
  name: z.string(),
  key: z.string(),
  /** The copy as stored (ciphertext): what the target holds. */
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The backup itself (plaintext), as its manifest has it (null: a backup made without one). */
  plainSize: z.number().int().nonnegative(),
  plainSha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  encrypted: z.boolean(),
  at: z.string(),
  /** S3 Object Lock's retain-until date, or null. */
  retainUntil: z.string().nullable(),
});

const RemovedSchema = z.object({ event: z.literal('removed'), name: z.string(), at: z.string() });

const EventSchema = z.discriminatedUnion('event', [PushedSchema, RemovedSchema]);
export type Receipt = z.infer<typeof PushedSchema>;
export type ReceiptEvent = z.infer<typeof EventSchema>;

/** Pure: one event as its line. */
export function receiptLine(e: ReceiptEvent): string {
  return JSON.stringify(e) + '\n';
}

/** What the record says is at the target now: the last push of each backup not removed since. */
export interface ReceiptBook {
  byName: Map<string, Receipt>;
  /** Lines that are not events (a torn last line after a crash, or damage). */
  skipped: number;
}

/** Pure: the record's text read back. */
export function parseReceipts(text: string): ReceiptBook {
  const byName = new Map<string, Receipt>();
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    const parsed = EventSchema.safeParse(json);
    if (!parsed.success) {
      skipped++;
      continue;
    }
    const e = parsed.data;
    if (e.event === 'pushed') byName.set(e.name, e);
    else byName.delete(e.name);
  }
  return { byName, skipped };
}
