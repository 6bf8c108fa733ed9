// How offsite copies are shown: list-backups --offsite (what is at a target, and which local
// backups are not yet there), and prune --offsite's plan. Pure.
import type { OffsiteRetention } from '../config/resolve.ts';
import { humanAge, humanBytes, plural } from './format.ts';
import type { RemoteCopy } from './offsite-names.ts';
import { copyIncomplete, receiptMismatch, type PushDecision } from './offsite-plan.ts';
import type { PrunePlan } from './prune-plan.ts';
import type { ReceiptBook } from './receipts.ts';
import { describePolicy } from './retention.ts';

export interface ListedCopy {
  name: string;
  kind: string;
  set: string;
  time: string;
  ageSeconds: number;
  /** Bytes at the target (the encrypted copy). */
  size: number;
  key: string;
  encrypted: boolean;
  /** `ok`, or what is wrong with it. */
  status: string;
  /** S3 Object Lock date recorded when it was pushed from here, or null. */
  retainUntil: string | null;
}

export interface OffsiteListing {
  target: string;
  where: string;
  copies: ListedCopy[];
  /** This environment's backups not at the target, and why each is (or is not) to be pushed. */
  notPushed: { name: string; kind: string; size: number; reason: string; willPush: boolean }[];
}

/** Pure: the listing's data (also --json). */
export function offsiteListing(p: { target: string; where: string; copies: readonly RemoteCopy[]; receipts: ReceiptBook; decisions: readonly PushDecision[]; now: Date }): OffsiteListing {
  return {
    target: p.target,
    where: p.where,
    copies: p.copies.map((c) => {
      const receipt = p.receipts.byName.get(c.name);
      const problem = copyIncomplete(c) ?? receiptMismatch(c, receipt);
      return {
        name: c.name,
        kind: c.kind,
        set: c.seq > 1 ? `${c.stamp}-${c.seq}` : c.stamp,
        time: c.time.toISOString(),
        ageSeconds: Math.max(0, Math.round((p.now.getTime() - c.time.getTime()) / 1000)),
        size: c.size,
        key: c.key,
        encrypted: c.encrypted,
        status: problem ?? 'ok',
        retainUntil: receipt?.retainUntil ?? null,
      };
    }),
    notPushed: p.decisions
      .filter((d) => d.action !== 'there')
      .map((d) => ({ name: d.file.name, kind: d.file.kind, size: d.file.size, reason: d.reason, willPush: d.action === 'push' })),
  };
}

/** Pure: the table for people. */
export function formatOffsiteListing(l: OffsiteListing, now: Date): string {
  const out = [`Copies at ${l.target} (${l.where}), newest first:`];
  if (!l.copies.length) out.push('  (none)');
  const width = Math.max(0, ...l.copies.map((c) => c.name.length));
  for (const c of l.copies) {
    const lock = c.retainUntil && new Date(c.retainUntil).getTime() > now.getTime() ? `  locked until ${c.retainUntil.slice(0, 10)}` : '';
    const status = c.status === 'ok' ? (c.encrypted ? 'encrypted' : 'NOT encrypted') : `INCOMPLETE: ${c.status}`;
    out.push(`  ${c.name.padEnd(width)}  ${humanBytes(c.size).padStart(9)}  ${humanAge(new Date(c.time), now).padStart(7)} ago  ${status}${lock}`);
  }
  const pending = l.notPushed.filter((n) => n.willPush);
  const never = l.notPushed.filter((n) => !n.willPush);
  out.push('', pending.length ? `Not pushed yet (the next push-offsite sends them):` : 'Every local backup the target keeps is there.');
  for (const n of pending) out.push(`  ${n.name}  ${humanBytes(n.size)}`);
  if (never.length) {
    out.push('', 'Not pushed:');
    for (const n of never) out.push(`  ${n.name}  ${n.reason}`);
  }
  return out.join('\n');
}

/** Pure: prune --offsite --dry-run for people. */
export function formatTargetPlan(p: { target: string; where: string; plan: PrunePlan<RemoteCopy>; retention: OffsiteRetention; dryRun: boolean; refusal: string | null }): string {
  const out = [
    `Retention at ${p.target} (${p.where}), now ${p.plan.now.toISOString().replace('.000Z', 'Z')}:`,
    `  database copies   ${describePolicy(p.retention.database)}`,
    `  media copies      ${describePolicy(p.retention.media)}`,
  ];
  const entries = p.plan.groups.flatMap((g) => g.entries).sort((a, b) => b.file.time.getTime() - a.file.time.getTime() || (a.file.name < b.file.name ? -1 : 1));
  if (!entries.length) {
    out.push('', 'No copies there: nothing to prune.');
    return out.join('\n');
  }
  const width = Math.max(...entries.map((e) => e.file.name.length));
  out.push('', 'Copies, newest first:');
  for (const e of entries) out.push(`  ${e.file.name.padEnd(width)}  ${e.action === 'keep' ? `keep    ${e.reasons.join(', ')}` : e.action}`);
  out.push('');
  if (p.refusal) out.push(p.refusal.replace(/^r/, 'R'));
  else if (!p.plan.remove.length) out.push(`Nothing to remove: all ${entries.length} copies are kept.`);
  else {
    const n = p.plan.remove.length;
    out.push(`${p.dryRun ? 'Would remove' : 'Removed'} ${plural(n, 'copy', 'copies')} (${humanBytes(p.plan.remove.reduce((s, c) => s + c.size, 0))}) and keep ${entries.length - n}.`);
  }
  if (p.dryRun) out.push('Dry run: nothing was changed.');
  return out.join('\n');
}
