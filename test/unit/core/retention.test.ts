import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../../lib/cli/errors.ts';
import { formatStamp, makeBackupName, parseBackupName, type BackupName } from '../../../lib/core/naming.ts';
import {
  applyPolicy, describePolicy, isEmptyPolicy, parseDuration, KEEP_ALL_REASON, type Decision, type Policy, type RetentionItem,
} from '../../../lib/core/retention.ts';

const GOLDEN_DIR = fileURLToPath(new URL('../../golden/retention/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const NOW = new Date('2026-12-31T12:00:00Z');
const at = (iso: string) => new Date(iso.endsWith('Z') ? iso : `${iso}Z`);

// ---------------------------------------------------------------------------------------------
// The fixed data set: hand-placed edge cases plus pseudo-random times from a fixed seed.

const EDGE_TIMES = [
  '2025-01-01T00:00:00', // oldest
  // ISO week across the year boundary: 2025-12-29 (Mon) .. 2026-01-04 (Sun) is 2026-W01.
  '2025-12-27T22:00:00', '2025-12-28T23:59:59', '2025-12-29T00:00:00', '2025-12-31T03:00:00',
  '2026-01-01T00:30:00', '2026-01-04T23:59:59', '2026-01-05T00:00:00',
  // Month ends.
  '2026-01-31T23:59:59', '2026-02-01T00:00:00', '2026-02-28T12:00:00',
  // US DST starts 2026-03-08 07:00Z; EU DST 2026-03-29 01:00Z (Berlin 02:00 → 03:00).
  '2026-03-08T06:30:00', '2026-03-08T07:30:00',
  '2026-03-28T23:30:00', '2026-03-29T00:59:59', '2026-03-29T01:00:00', '2026-03-29T01:30:00', '2026-03-29T02:30:00',
  // Several on one day, two of them in the same second (the second one is named `-2`).
  '2026-06-15T03:00:00', '2026-06-15T03:45:00', '2026-06-15T12:00:00', '2026-06-15T23:59:59',
  // Exactly at, and one second before, the keepWithin cut-offs below.
  '2025-12-31T12:00:00', '2026-06-30T12:00:00', '2026-12-01T12:00:00', '2026-12-01T11:59:59', '2026-12-17T12:00:00',
  // The last days: 2026-12-28 (Mon) .. 2027-01-03 is 2026-W53.
  '2026-12-29T23:00:00', '2026-12-30T00:00:00', '2026-12-30T12:00:00', '2026-12-31T01:00:00',
  '2026-12-31T03:00:00', '2026-12-31T03:30:00', '2026-12-31T06:00:00', '2026-12-31T09:00:00', '2026-12-31T11:59:59',
];

/** Park–Miller: small enough to stay exact in doubles, so the data never changes. */
function* random(seed: number): Generator<number> {
  let s = seed;
  for (;;) {
    s = (s * 48271) % 2147483647;
    yield s / 2147483647;
  }
}

function buildItems(): BackupName[] {
  const from = at('2025-01-02T00:00:00').getTime();
  const to = at('2026-12-20T00:00:00').getTime();
  const rnd = random(20260101);
  const times = [...EDGE_TIMES.map(at)];
  for (let i = 0; i < 63; i++) times.push(new Date(Math.floor((from + rnd.next().value * (to - from)) / 1000) * 1000));
  const names = times.map((t) => makeBackupName({ kind: 'database', role: 'backup', stamp: formatStamp(t), codec: 'zstd' }));
  names.push(makeBackupName({ kind: 'database', role: 'backup', stamp: '2026_06_15T03_00_00', seq: 2, codec: 'zstd' }));
  assert.equal(new Set(names).size, names.length, 'generated names are unique');
  return names.map((n) => parseBackupName(n)!);
}

const ITEMS = buildItems();

// ---------------------------------------------------------------------------------------------
// An oracle written differently from the implementation: plain Date arithmetic, grouping.

const PERIOD: Record<string, (t: Date) => string> = {
  hourly: (t) => t.toISOString().slice(0, 13),
  daily: (t) => t.toISOString().slice(0, 10),
  weekly: (t) => {
    // The ISO week belongs to the year of its Thursday.
    const thursday = new Date(t.getTime());
    thursday.setUTCHours(0, 0, 0, 0);
    thursday.setUTCDate(thursday.getUTCDate() + 3 - ((thursday.getUTCDay() + 6) % 7));
    const year = thursday.getUTCFullYear();
    const week = 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * 86400000));
    return `${year}-W${String(week).padStart(2, '0')}`;
  },
  monthly: (t) => t.toISOString().slice(0, 7),
  yearly: (t) => t.toISOString().slice(0, 4),
};
const TERM = { hourly: 'keepHourly', daily: 'keepDaily', weekly: 'keepWeekly', monthly: 'keepMonthly', yearly: 'keepYearly' } as const;
const REASON_ORDER = ['no policy', 'last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly', 'within'];

const byNewest = (a: RetentionItem, b: RetentionItem) => b.time.getTime() - a.time.getTime() || (a.name < b.name ? 1 : -1);

function checkInvariants(items: readonly RetentionItem[], policy: Policy, withinFrom: string | undefined,
  result: { keep: Decision<RetentionItem>[]; remove: Decision<RetentionItem>[] }) {
  const { keep, remove } = result;
  const sorted = [...items].sort(byNewest);
  assert.equal(keep.length + remove.length, items.length, 'kept + removed = input');
  assert.deepEqual(new Set([...keep, ...remove].map((d) => d.item.name)), new Set(items.map((i) => i.name)));
  for (const list of [keep, remove]) {
    assert.deepEqual(list.map((d) => d.item.name), [...list].map((d) => d.item).sort(byNewest).map((i) => i.name), 'newest first');
  }
  for (const d of keep) {
    assert.equal(d.keep, true);
    assert.ok(d.reasons.length >= 1, `${d.item.name} kept without a reason`);
    const order = d.reasons.map((r) => REASON_ORDER.findIndex((p) => r.startsWith(p)));
    assert.ok(order.every((o, i) => o >= 0 && (i === 0 || o > order[i - 1]!)), `reason order ${d.reasons.join(', ')}`);
  }
  for (const d of remove) assert.deepEqual([d.keep, d.reasons], [false, []]);

  const reasonsOf = new Map([...keep, ...remove].map((d) => [d.item.name, d.reasons]));
  const withReason = (prefix: string) => sorted.filter((i) => reasonsOf.get(i.name)!.some((r) => r.startsWith(prefix)));

  if (isEmptyPolicy(policy)) {
    assert.equal(remove.length, 0);
    for (const d of keep) assert.deepEqual(d.reasons, [KEEP_ALL_REASON]);
  }
  const last = policy.keepLast ?? 0;
  assert.deepEqual(withReason('last'), sorted.slice(0, last), 'keepLast keeps the newest');
  for (const [label, term] of Object.entries(TERM)) {
    const n = policy[term] ?? 0;
    // Expected: the newest item of each of the n newest periods that have items.
    const newestOfPeriod = new Map<string, RetentionItem>();
    for (const i of sorted) if (!newestOfPeriod.has(PERIOD[label]!(i.time))) newestOfPeriod.set(PERIOD[label]!(i.time), i);
    const expected = [...newestOfPeriod].slice(0, n);
    const got = withReason(`${label} `);
    assert.ok(got.length <= n, `${label} kept ${got.length} > ${n}`);
    assert.deepEqual(got.map((i) => i.name), expected.map(([, i]) => i.name), `${label} items`);
    for (const [period, i] of expected) assert.ok(reasonsOf.get(i.name)!.includes(`${label} ${period}`), `${label} ${period}`);
  }
  const within = withinFrom ? sorted.filter((i) => i.time.getTime() >= at(withinFrom).getTime()) : [];
  assert.deepEqual(withReason('within'), within, 'keepWithin keeps everything since the cut-off');
}

// ---------------------------------------------------------------------------------------------
// Policies run over the data set; `withinFrom` is the cut-off worked out by hand from NOW.

const POLICIES: { label: string; policy: Policy; withinFrom?: string }[] = [
  { label: 'empty', policy: {} },
  { label: 'last-1', policy: { keepLast: 1 } },
  { label: 'last-5', policy: { keepLast: 5 } },
  { label: 'last-500', policy: { keepLast: 500 } },
  { label: 'hourly-1', policy: { keepHourly: 1 } },
  { label: 'hourly-6', policy: { keepHourly: 6 } },
  { label: 'hourly-48', policy: { keepHourly: 48 } },
  { label: 'daily-1', policy: { keepDaily: 1 } },
  { label: 'daily-7', policy: { keepDaily: 7 } },
  { label: 'daily-30', policy: { keepDaily: 30 } },
  { label: 'weekly-1', policy: { keepWeekly: 1 } },
  { label: 'weekly-4', policy: { keepWeekly: 4 } },
  { label: 'weekly-60', policy: { keepWeekly: 60 } },
  { label: 'monthly-1', policy: { keepMonthly: 1 } },
  { label: 'monthly-6', policy: { keepMonthly: 6 } },
  { label: 'monthly-100', policy: { keepMonthly: 100 } },
  { label: 'yearly-1', policy: { keepYearly: 1 } },
  { label: 'yearly-10', policy: { keepYearly: 10 } },
  { label: 'within-12h', policy: { keepWithin: '12h' }, withinFrom: '2026-12-31T00:00:00' },
  { label: 'within-36h', policy: { keepWithin: '36h' }, withinFrom: '2026-12-30T00:00:00' },
  { label: 'within-30d', policy: { keepWithin: '30d' }, withinFrom: '2026-12-01T12:00:00' },
  { label: 'within-2w', policy: { keepWithin: '2w' }, withinFrom: '2026-12-17T12:00:00' },
  // 31 December minus 6 months: 30 June, since June has no 31st.
  { label: 'within-6m', policy: { keepWithin: '6m' }, withinFrom: '2026-06-30T12:00:00' },
  { label: 'within-1y', policy: { keepWithin: '1y' }, withinFrom: '2025-12-31T12:00:00' },
  { label: 'within-3y', policy: { keepWithin: '3y' }, withinFrom: '2023-12-31T12:00:00' },
  { label: 'last-3_daily-7_weekly-4_monthly-12_yearly-5',
    policy: { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 5 } },
  { label: 'hourly-24_daily-14_within-7d', policy: { keepHourly: 24, keepDaily: 14, keepWithin: '7d' },
    withinFrom: '2026-12-24T12:00:00' },
  { label: 'daily-14_weekly-8_within-30d', policy: { keepDaily: 14, keepWeekly: 8, keepWithin: '30d' },
    withinFrom: '2026-12-01T12:00:00' },
  { label: 'last-2_monthly-3', policy: { keepLast: 2, keepMonthly: 3 } },
  { label: 'weekly-3_yearly-1_within-1m', policy: { keepWeekly: 3, keepYearly: 1, keepWithin: '1m' },
    withinFrom: '2026-11-30T12:00:00' },
  { label: 'all-terms-huge', withinFrom: '2016-12-31T12:00:00',
    policy: { keepLast: 999, keepHourly: 999, keepDaily: 999, keepWeekly: 999, keepMonthly: 999, keepYearly: 999, keepWithin: '10y' } },
];

function goldenText(result: { keep: Decision<RetentionItem>[]; remove: Decision<RetentionItem>[] }): string {
  return [...result.keep, ...result.remove]
    .sort((a, b) => byNewest(a.item, b.item))
    .map((d) => `${d.keep ? 'keep' : 'remove'}  ${d.item.name}  ${d.reasons.join(', ')}`.trimEnd())
    .join('\n') + '\n';
}

test('the data set: ~100 items over two years, unique names', () => {
  assert.equal(ITEMS.length, 100);
  assert.ok(ITEMS.every((i) => i.time >= at('2025-01-01T00:00:00') && i.time < NOW));
});

for (const { label, policy, withinFrom } of POLICIES) {
  test(`applyPolicy ${label} (golden)`, () => {
    const result = applyPolicy(ITEMS, policy, NOW);
    checkInvariants(ITEMS, policy, withinFrom, result);
    // The input's order must not matter.
    assert.deepEqual(applyPolicy([...ITEMS].reverse(), policy, NOW), result);

    const file = path.join(GOLDEN_DIR, `${label}.txt`);
    const actual = goldenText(result);
    if (UPDATE) {
      fs.mkdirSync(GOLDEN_DIR, { recursive: true });
      fs.writeFileSync(file, actual);
      return;
    }
    assert.ok(fs.existsSync(file), `missing ${file}: run UPDATE_GOLDEN=1 node --import compose-backup-loader --test test/unit/core/retention.test.ts`);
    assert.equal(actual, fs.readFileSync(file, 'utf8'), `${label} differs from its golden file`);
  });
}

test('no stale golden files', () => {
  const expected = new Set(POLICIES.map((p) => `${p.label}.txt`));
  const stale = fs.existsSync(GOLDEN_DIR) ? fs.readdirSync(GOLDEN_DIR).filter((f) => !expected.has(f)) : [];
  assert.deepEqual(stale, [], 'delete golden files of policies no longer tested');
});

test('periods are UTC whatever the machine zone (DST, year boundary)', () => {
  const policy: Policy = { keepHourly: 200, keepDaily: 200, keepWeekly: 200, keepMonthly: 30, keepYearly: 5 };
  const inUtc = applyPolicy(ITEMS, policy, NOW);
  const saved = process.env.TZ;
  try {
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Pacific/Chatham', 'Asia/Kolkata']) {
      process.env.TZ = zone;
      // Make sure the zone really changed, or this test would prove nothing.
      assert.notEqual(new Date('2026-03-29T12:00:00Z').getTimezoneOffset(), 0, zone);
      assert.deepEqual(applyPolicy(ITEMS, policy, NOW), inUtc, zone);
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

// ---------------------------------------------------------------------------------------------
// Small cases with exact output.

const item = (name: string, iso: string): RetentionItem => ({ name, time: at(iso) });
const summary = (r: { keep: Decision<RetentionItem>[]; remove: Decision<RetentionItem>[] }) => ({
  keep: r.keep.map((d) => [d.item.name, ...d.reasons]),
  remove: r.remove.map((d) => d.item.name),
});

const SMALL: { label: string; items: RetentionItem[]; policy: Policy; now?: string; keep: string[][]; remove: string[] }[] = [
  {
    label: 'keepDaily 2 over three items on two days keeps the newest of each day',
    items: [item('a', '2026-11-28T10:00:00'), item('b', '2026-11-28T14:00:00'), item('c', '2026-11-27T09:00:00')],
    policy: { keepDaily: 2 },
    keep: [['b', 'daily 2026-11-28'], ['c', 'daily 2026-11-27']],
    remove: ['a'],
  },
  {
    label: 'an item kept by several terms lists every reason in fixed order',
    items: [item('a', '2026-11-28T14:05:00'), item('b', '2026-11-21T09:00:00')],
    policy: { keepWithin: '30d', keepYearly: 1, keepMonthly: 1, keepWeekly: 1, keepDaily: 1, keepHourly: 1, keepLast: 1 },
    now: '2026-11-30T00:00:00',
    keep: [['a', 'last', 'hourly 2026-11-28T14', 'daily 2026-11-28', 'weekly 2026-W48', 'monthly 2026-11', 'yearly 2026', 'within 30d'],
      ['b', 'within 30d']],
    remove: [],
  },
  {
    label: 'weekly across the year boundary: 2025-12-29 and 2026-01-04 share 2026-W01',
    items: [item('sun-w52', '2025-12-28T23:59:59'), item('mon-w01', '2025-12-29T00:00:00'), item('sun-w01', '2026-01-04T23:59:59'),
      item('mon-w02', '2026-01-05T00:00:00')],
    policy: { keepWeekly: 3 },
    keep: [['mon-w02', 'weekly 2026-W02'], ['sun-w01', 'weekly 2026-W01'], ['sun-w52', 'weekly 2025-W52']],
    remove: ['mon-w01'],
  },
  {
    label: 'the first days of 2027 are in 2026-W53 and yearly uses the calendar year',
    items: [item('y27', '2027-01-03T10:00:00'), item('y26', '2026-12-28T10:00:00')],
    policy: { keepWeekly: 5, keepYearly: 5 },
    keep: [['y27', 'weekly 2026-W53', 'yearly 2027'], ['y26', 'yearly 2026']],
    remove: [],
  },
  {
    label: 'keepWithin keeps an item exactly at the cut-off, not one second before',
    items: [item('at', '2026-11-30T12:00:00'), item('before', '2026-11-30T11:59:59')],
    policy: { keepWithin: '1d' },
    now: '2026-12-01T12:00:00',
    keep: [['at', 'within 1d']],
    remove: ['before'],
  },
  {
    label: 'months are calendar months: 1m before 31 March is 28 February',
    items: [item('feb28', '2026-02-28T00:00:00'), item('feb27', '2026-02-27T23:59:59')],
    policy: { keepWithin: '1m' },
    now: '2026-03-31T00:00:00',
    keep: [['feb28', 'within 1m']],
    remove: ['feb27'],
  },
  {
    label: 'years are calendar years: 1y before 29 February 2028 is 28 February 2027',
    items: [item('in', '2027-02-28T00:00:00'), item('out', '2027-02-27T23:59:59')],
    policy: { keepWithin: '1y' },
    now: '2028-02-29T00:00:00',
    keep: [['in', 'within 1y']],
    remove: ['out'],
  },
  {
    label: 'same time: the greater name counts as newer',
    items: [item('a', '2026-05-01T00:00:00'), item('b', '2026-05-01T00:00:00')],
    policy: { keepLast: 1 },
    keep: [['b', 'last']],
    remove: ['a'],
  },
  {
    label: 'an empty policy keeps everything',
    items: [item('a', '2026-05-01T00:00:00'), item('b', '2020-05-01T00:00:00')],
    policy: {},
    keep: [['a', KEEP_ALL_REASON], ['b', KEEP_ALL_REASON]],
    remove: [],
  },
  {
    label: 'hours are UTC across the Berlin DST jump',
    items: [item('h00', '2026-03-29T00:59:59'), item('h01', '2026-03-29T01:00:00'), item('prev', '2026-03-28T23:30:00')],
    policy: { keepHourly: 10, keepDaily: 10 },
    keep: [['h01', 'hourly 2026-03-29T01', 'daily 2026-03-29'], ['h00', 'hourly 2026-03-29T00'],
      ['prev', 'hourly 2026-03-28T23', 'daily 2026-03-28']],
    remove: [],
  },
  { label: 'no items', items: [], policy: { keepLast: 3 }, keep: [], remove: [] },
];

for (const c of SMALL) {
  test(`applyPolicy: ${c.label}`, () => {
    const input = [...c.items];
    const result = applyPolicy(input, c.policy, at(c.now ?? '2026-12-31T12:00:00'));
    assert.deepEqual(summary(result), { keep: c.keep, remove: c.remove });
    assert.deepEqual(input, c.items, 'input untouched');
  });
}

test('applyPolicy returns the caller\'s own objects', () => {
  const b = ITEMS[0]!;
  const { keep } = applyPolicy([b], { keepLast: 1 }, NOW);
  assert.equal(keep[0]!.item, b);
  assert.equal(keep[0]!.item.kind, 'database');
});

const BAD_POLICIES: [string, unknown][] = [
  ['zero count', { keepDaily: 0 }],
  ['negative count', { keepLast: -1 }],
  ['fractional count', { keepWeekly: 1.5 }],
  ['bad duration', { keepWithin: '30days' }],
  ['zero duration', { keepWithin: '0d' }],
  ['unknown term (a typo must not mean "keep all")', { keepDayly: 7 }],
];
for (const [label, policy] of BAD_POLICIES) {
  test(`applyPolicy refuses an invalid policy: ${label}`, () => {
    assert.throws(() => applyPolicy(ITEMS, policy as Policy, NOW), UsageError);
  });
}

test('applyPolicy refuses an item with an invalid time', () => {
  assert.throws(() => applyPolicy([item('x', 'not a date')], { keepLast: 1 }, NOW), /x has an invalid time/);
});

// ---------------------------------------------------------------------------------------------
// Helpers.

const DURATIONS: [string, { amount: number; unit: string } | null][] = [
  ['30d', { amount: 30, unit: 'd' }],
  ['12h', { amount: 12, unit: 'h' }],
  ['2w', { amount: 2, unit: 'w' }],
  ['6m', { amount: 6, unit: 'm' }],
  ['1y', { amount: 1, unit: 'y' }],
  ['030d', null], // the config schema refuses leading zeros too
  ['0d', null],
  ['', null],
  ['30', null],
  ['d', null],
  ['30D', null],
  [' 30d', null],
  ['30d ', null],
  ['3 d', null],
  ['1.5d', null],
  ['-1d', null],
  ['30x', null],
  ['30dd', null],
  ['99999999999999999999d', null],
];
for (const [text, expected] of DURATIONS) {
  test(`parseDuration(${JSON.stringify(text)})`, () => {
    if (expected) assert.deepEqual(parseDuration(text), expected);
    else assert.throws(() => parseDuration(text), (err: Error) => err instanceof UsageError && /such as 30d/.test(err.message));
  });
}

const DESCRIPTIONS: [Policy, boolean, string][] = [
  [{}, true, 'keep everything'],
  [{ keepWithin: '30d', keepWeekly: 8, keepDaily: 14, keepLast: 3 }, false, 'keep last 3, daily 14, weekly 8, within 30d'],
  [{ keepHourly: 24 }, false, 'keep hourly 24'],
  [{ keepYearly: 2, keepMonthly: 12 }, false, 'keep monthly 12, yearly 2'],
  [{ keepLast: 1, keepHourly: 2, keepDaily: 3, keepWeekly: 4, keepMonthly: 5, keepYearly: 6, keepWithin: '1y' }, false,
    'keep last 1, hourly 2, daily 3, weekly 4, monthly 5, yearly 6, within 1y'],
  [{ keepWithin: '12h' }, false, 'keep within 12h'],
];
for (const [policy, empty, text] of DESCRIPTIONS) {
  test(`describePolicy / isEmptyPolicy ${JSON.stringify(policy)}`, () => {
    assert.equal(describePolicy(policy), text);
    assert.equal(isEmptyPolicy(policy), empty);
  });
}

test('isEmptyPolicy ignores terms explicitly set to undefined', () => {
  assert.equal(isEmptyPolicy({ keepLast: undefined }), true);
});
