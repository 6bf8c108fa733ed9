// Safety databases' names as tables: 63 bytes at most, the stamp never cut, a sequence for the
// same second, and exact matching (never another live database's or a foreign name).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clipBytes, MAX_NAME_BYTES, nextSafetyDatabaseName, parseInfixRows, parseSafetyDatabaseName, safetyDatabaseName,
} from '../../../lib/db/safety-names.ts';

const S = '2026_11_28T02_00_00';

const bytes = (s: string) => Buffer.byteLength(s);

test('clipBytes: at most n bytes, never inside a character', () => {
  for (const [text, max, expected] of [
    ['shop', 10, 'shop'],
    ['shop', 2, 'sh'],
    ['ñandú', 2, 'ñ'],
    ['ñandú', 1, ''],
    ['ñandú', 6, 'ñand'],
    ['🎉x', 3, ''],
    ['🎉x', 4, '🎉'],
  ] as const) {
    assert.equal(clipBytes(text, max), expected, `${text} / ${max}`);
  }
});

test('safetyDatabaseName: live name + _temp_before_restore_ + stamp [+ _N], within 63 bytes, the stamp never cut', () => {
  const fits = 'a'.repeat(MAX_NAME_BYTES - bytes(`_temp_before_restore_${S}`));
  const long1 = 'martina_bescos_app_production_primary';
  const long2 = 'martina_bescos_app_production_replica';
  const cases: [string, number, (name: string) => void][] = [
    ['shop', 1, (n) => assert.equal(n, `shop_temp_before_restore_${S}`)],
    ['shop', 2, (n) => assert.equal(n, `shop_temp_before_restore_${S}_2`)],
    ['shop', 12, (n) => assert.equal(n, `shop_temp_before_restore_${S}_12`)],
    // Exactly 63 bytes: kept whole.
    [fits, 1, (n) => assert.equal(n, `${fits}_temp_before_restore_${S}`)],
    // One byte more: cut, with a hash of the whole name.
    [`${fits}b`, 1, (n) => assert.match(n, new RegExp(`^a{16}_[0-9a-f]{6}_temp_before_restore_${S}$`))],
    [long1, 1, (n) => assert.match(n, new RegExp(`^martina_bescos_a_[0-9a-f]{6}_temp_before_restore_${S}$`))],
    [long1, 3, (n) => assert.match(n, new RegExp(`^martina_bescos_[0-9a-f]{6}_temp_before_restore_${S}_3$`))],
    // Multi-byte characters are cut whole (PostgreSQL would cut them the same way).
    ['ü'.repeat(30), 1, (n) => assert.match(n, new RegExp(`^ü{8}_[0-9a-f]{6}_temp_before_restore_${S}$`))],
    ['x'.repeat(200), 99, (n) => assert.match(n, new RegExp(`_temp_before_restore_${S}_99$`))],
  ];
  for (const [live, seq, check] of cases) {
    const name = safetyDatabaseName(live, S, seq);
    assert.ok(bytes(name) <= MAX_NAME_BYTES, `${name}: ${bytes(name)} bytes`);
    assert.equal(Buffer.from(name, 'utf8').toString('utf8'), name);
    check(name);
    assert.deepEqual(parseSafetyDatabaseName(name, live), { name, stamp: S, seq, time: new Date('2026-11-28T02:00:00Z') }, name);
  }
  // Two long live names that share their first bytes never share a safety name.
  assert.notEqual(safetyDatabaseName(long1, S), safetyDatabaseName(long2, S));
  assert.equal(parseSafetyDatabaseName(safetyDatabaseName(long1, S), long2), null);
  assert.throws(() => safetyDatabaseName('shop', '2026-11-28T02:00:00'), /not a stamp/);
  assert.throws(() => safetyDatabaseName('shop', S, 0), /bad sequence/);
});

test('parseSafetyDatabaseName: only the exact names of this live database', () => {
  const own = `shop_temp_before_restore_${S}`;
  for (const [name, live, matches] of [
    [own, 'shop', true],
    [`${own}_2`, 'shop', true],
    [`${own}_10`, 'shop', true],
    [own, 'shop2', false], // another live database's
    [`shop2_temp_before_restore_${S}`, 'shop', false],
    [`x_shop_temp_before_restore_${S}`, 'shop', false],
    [own, 'Shop', false],
    ['shop', 'shop', false],
    [`${own}_1`, 'shop', false], // the first has no _1
    [`${own}_02`, 'shop', false],
    [`${own}_2x`, 'shop', false],
    [`${own}_old`, 'shop', false],
    [`${own}.bak`, 'shop', false],
    ['shop_temp_before_restore_2026_13_28T02_00_00', 'shop', false], // no month 13
    ['shop_temp_before_restore_2026_02_30T02_00_00', 'shop', false],
    ['shop__restoring_123', 'shop', false],
    [`shop_unwanted`, 'shop', false],
    // A long live name: the cut name without its hash, or with another hash, is not it.
    [`martina_bescos_app_pro_temp_before_restore_${S}`, 'martina_bescos_app_production', false],
    [`martina_bescos_a_000000_temp_before_restore_${S}`, 'martina_bescos_app_production', false],
  ] as const) {
    assert.equal(parseSafetyDatabaseName(name, live) !== null, matches, `${name} as a safety database of ${live}`);
  }
});

test('nextSafetyDatabaseName: restores in the same second get _2, _3', () => {
  const base = `shop_temp_before_restore_${S}`;
  assert.equal(nextSafetyDatabaseName('shop', S, []), base);
  assert.equal(nextSafetyDatabaseName('shop', S, [base]), `${base}_2`);
  assert.equal(nextSafetyDatabaseName('shop', S, [base, `${base}_2`, `shop2_temp_before_restore_${S}`]), `${base}_3`);
  assert.equal(nextSafetyDatabaseName('shop', S, [`${base}_2`]), base);
});

test('parseInfixRows: psql\'s JSON row, sizes as numbers or null', () => {
  assert.deepEqual(parseInfixRows('[{"name":"a\\nb","size":12},{"name":"c","size":null}]'), [{ name: 'a\nb', size: 12 }, { name: 'c', size: null }]);
  assert.deepEqual(parseInfixRows(''), []);
});
