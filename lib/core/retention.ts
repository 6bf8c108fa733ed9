// Retention: which backups a policy keeps, in the manner of restic's `forget`. Pure: the
// caller passes `now`; every kept item carries the reasons it was kept. Safety rules such
// as "never remove the newest backup" belong to the prune command, not here.
import dayjs from 'dayjs';
import utc from 'dayjs/plugin/utc.js';
import isoWeek from 'dayjs/plugin/isoWeek.js';
import { z } from 'zod';
import { UsageError } from '../cli/errors.ts';
import { formatIssues } from './format.ts';

dayjs.extend(utc);
dayjs.extend(isoWeek);

const count = z.number().int().positive();
/** `30d`, `12h`, `2w`, `6m` (months), `1y`. */
export const DURATION = /^([1-9]\d*)([hdwmy])$/;

/** A retention policy, as the config and code write it; every term optional, an empty one keeps all. */
export const PolicySchema = z
  .object({
    keepLast: count.optional(),
    keepHourly: count.optional(),
    keepDaily: count.optional(),
    keepWeekly: count.optional(),
    keepMonthly: count.optional(),
    keepYearly: count.optional(),
    keepWithin: z.string().regex(DURATION, 'a duration such as 30d, 12h, 2w, 6m or 1y').optional(),
  })
  .strict();
export type Policy = z.infer<typeof PolicySchema>;

export interface RetentionItem {
  name: string;
  time: Date;
}

export interface Decision<T extends RetentionItem> {
  item: T;
  keep: boolean;
  reasons: string[];
}

export type DurationUnit = 'h' | 'd' | 'w' | 'm' | 'y';

export const KEEP_ALL_REASON = 'no policy: keep all';

const UNIT_OF: Record<DurationUnit, dayjs.ManipulateType> = { h: 'hour', d: 'day', w: 'week', m: 'month', y: 'year' };

/** `30d` → { amount: 30, unit: 'd' }. Throws UsageError, since durations come from config. */
export function parseDuration(text: string): { amount: number; unit: DurationUnit } {
  const m = DURATION.exec(text);
  const amount = m ? Number(m[1]) : NaN;
  // Zero would keep nothing (or only future items): refuse it rather than prune everything.
  if (!m || !Number.isSafeInteger(amount) || amount <= 0) {
    throw new UsageError(
      `"${text}" is not a duration: use a positive whole number and a unit h, d, w, m (months) or y, such as 30d`,
    );
  }
  return { amount, unit: m[2] as DurationUnit };
}

// Bucket terms in reason order. Periods are UTC because backup names are UTC; the
// machine's zone (and its DST jumps) must not move a backup into another day.
const BUCKETS = [
  { term: 'keepHourly', label: 'hourly', period: (t: Date) => dayjs.utc(t).format('YYYY-MM-DD[T]HH') },
  { term: 'keepDaily', label: 'daily', period: (t: Date) => dayjs.utc(t).format('YYYY-MM-DD') },
  { term: 'keepWeekly', label: 'weekly', period: isoWeekOf },
  { term: 'keepMonthly', label: 'monthly', period: (t: Date) => dayjs.utc(t).format('YYYY-MM') },
  { term: 'keepYearly', label: 'yearly', period: (t: Date) => dayjs.utc(t).format('YYYY') },
] as const;

/** ISO week with its ISO year: 2025-12-29 is in 2026-W01, 2027-01-01 in 2026-W53. */
function isoWeekOf(t: Date): string {
  const d = dayjs.utc(t);
  return `${d.isoWeekYear()}-W${String(d.isoWeek()).padStart(2, '0')}`;
}

/** Earliest time `keepWithin` keeps; calendar arithmetic, so 1m before 31 March is 28 February. */
export function withinCutoff(text: string, now: Date): number {
  const { amount, unit } = parseDuration(text);
  const cutoff = dayjs.utc(now).subtract(amount, UNIT_OF[unit]).valueOf();
  // Past the range of Date (e.g. 300000y): everything is within it.
  return Number.isNaN(cutoff) ? -Infinity : cutoff;
}

export function isEmptyPolicy(policy: Policy): boolean {
  return Object.values(policy).every((v) => v === undefined);
}

/** For logs and prompts: "keep last 3, daily 14, weekly 8, within 30d". */
export function describePolicy(policy: Policy): string {
  const parts: string[] = [];
  if (policy.keepLast !== undefined) parts.push(`last ${policy.keepLast}`);
  for (const b of BUCKETS) {
    const n = policy[b.term];
    if (n !== undefined) parts.push(`${b.label} ${n}`);
  }
  if (policy.keepWithin !== undefined) parts.push(`within ${policy.keepWithin}`);
  return parts.length ? `keep ${parts.join(', ')}` : 'keep everything';
}

/** Decides which of two items with the same time is newer (negative: `a` is). */
export type TieBreak<T> = (a: T, b: T) => number;

/**
 * The order applyPolicy walks items in: newest first; same time by `tieBreak` (backups started in
 * the same second pass their sequence number), then the greater name first.
 */
export function newestFirstOrder<T extends RetentionItem>(tieBreak?: TieBreak<T>): (a: T, b: T) => number {
  return (a, b) =>
    b.time.getTime() - a.time.getTime() || (tieBreak ? tieBreak(a, b) : 0) || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0);
}

export function applyPolicy<T extends RetentionItem>(
  items: readonly T[],
  policy: Policy,
  now: Date,
  tieBreak?: TieBreak<T>,
): { keep: Decision<T>[]; remove: Decision<T>[] } {
  // Policies built in code skip the config's validation; a typo or a 0 must not prune.
  const checked = PolicySchema.safeParse(policy);
  if (!checked.success) {
    throw new UsageError(`invalid retention policy: ${formatIssues(checked.error.issues).join('; ')}`);
  }
  for (const item of items) {
    if (Number.isNaN(item.time.getTime())) throw new Error(`retention: ${item.name} has an invalid time`);
  }
  const sorted = [...items].sort(newestFirstOrder(tieBreak));
  const empty = isEmptyPolicy(policy);
  const cutoff = policy.keepWithin === undefined ? null : withinCutoff(policy.keepWithin, now);
  let lastLeft = policy.keepLast ?? 0;
  // Items are walked newest first, so a period differing from the last kept one is a new period.
  const buckets = BUCKETS.flatMap((b) => {
    const count = policy[b.term];
    return count === undefined ? [] : [{ ...b, left: count, lastPeriod: null as string | null }];
  });

  const keep: Decision<T>[] = [];
  const remove: Decision<T>[] = [];
  for (const item of sorted) {
    const reasons: string[] = [];
    if (empty) reasons.push(KEEP_ALL_REASON);
    if (lastLeft > 0) {
      reasons.push('last');
      lastLeft--;
    }
    for (const b of buckets) {
      if (b.left === 0) continue;
      const period = b.period(item.time);
      if (period === b.lastPeriod) continue;
      reasons.push(`${b.label} ${period}`);
      b.lastPeriod = period;
      b.left--;
    }
    if (cutoff !== null && item.time.getTime() >= cutoff) reasons.push(`within ${policy.keepWithin}`);
    const decision = { item, keep: reasons.length > 0, reasons };
    (decision.keep ? keep : remove).push(decision);
  }
  return { keep, remove };
}
