// The record of pushed copies read back: the last push of each backup wins, a removal forgets it,
// a torn last line (a crash mid-append) and foreign lines are skipped and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReceipts, receiptLine, type Receipt } from '../../../lib/core/receipts.ts';

const pushed = (name: string, size: number): Receipt => ({
  event: 'pushed',
  name,
  key: `postgres/${name}.age`,
  size,
  sha256: 'a'.repeat(64),
  plainSize: size + 200,
  plainSha256: 'b'.repeat(64),
  encrypted: true,
  at: '2026-12-01T02:00:00.000Z',
  retainUntil: null,
});

test('receipts: lines round-trip; the last push wins; a removal forgets; damaged lines are counted, not fatal', () => {
  const text = [
    receiptLine(pushed('backup_2026_12_01T02_00_00.sql.zst', 100)),
    receiptLine(pushed('backup_2026_12_02T02_00_00.sql.zst', 200)),
    receiptLine(pushed('backup_2026_12_01T02_00_00.sql.zst', 150)),
    receiptLine({ event: 'removed', name: 'backup_2026_12_02T02_00_00.sql.zst', at: '2026-12-03T02:00:00.000Z' }),
    '{"event":"pushed","name":"x"}\n',
    'not json\n',
    '\n',
    receiptLine(pushed('backup_2026_12_03T02_00_00.sql.zst', 300)).slice(0, 40),
  ].join('');
  const book = parseReceipts(text);
  assert.deepEqual([...book.byName.keys()], ['backup_2026_12_01T02_00_00.sql.zst']);
  assert.equal(book.byName.get('backup_2026_12_01T02_00_00.sql.zst')!.size, 150);
  assert.equal(book.skipped, 3);
  assert.deepEqual(parseReceipts(''), { byName: new Map(), skipped: 0 });
});
