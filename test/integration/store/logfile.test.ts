// backup.log: one line per message (UTC time, one line whatever the text); on disk, appended whole
// lines (mode 0600, secrets masked), its tail read back without a broken character, rotated by
// size or month with the numbered files shifted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatLogLine, rotateIfNeeded, appendLog, readTail } from '../../../lib/store/logfile.ts';
import { registerSecret } from '../../../lib/cli/output.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'logfile-test-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function writeWithMtime(file: string, content: string, mtime: Date): Promise<void> {
  await fs.writeFile(file, content);
  await fs.utimes(file, mtime, mtime);
}

async function listing(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await fs.readdir(dir)).sort()) out[name] = await fs.readFile(path.join(dir, name), 'utf8');
  return out;
}

test('formatLogLine', () => {
  const cases: [string, string, string][] = [
    ['2026-11-29T02:00:03.999Z', 'backup started', '2026-11-29T02:00:03Z backup started'],
    ['2026-11-29T04:00:03+02:00', 'UTC whatever the zone', '2026-11-29T02:00:03Z UTC whatever the zone'],
    ['2026-01-01T00:00:00Z', 'line one\nline two', '2026-01-01T00:00:00Z line one | line two'],
    ['2026-01-01T00:00:00Z', 'crlf\r\nand cr\rend', '2026-01-01T00:00:00Z crlf | and cr | end'],
    ['2026-01-01T00:00:00Z', 'trailing newline\n', '2026-01-01T00:00:00Z trailing newline'],
    ['2026-01-01T00:00:00Z', '', '2026-01-01T00:00:00Z '],
  ];
  for (const [when, message, expected] of cases) assert.equal(formatLogLine(new Date(when), message), expected);
});

test('appendLog creates the file with mode 0600, appends whole lines, readTail reads the end', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'backup.log');
  assert.equal(await readTail(log, 100), '');
  await appendLog(log, [formatLogLine(new Date('2026-11-29T02:00:03Z'), 'one'), 'two\nhalves']);
  await appendLog(log, []);
  await appendLog(log, ['three']);
  assert.equal((await fs.stat(log)).mode & 0o777, 0o600);
  const text = await fs.readFile(log, 'utf8');
  assert.equal(text, '2026-11-29T02:00:03Z one\ntwo | halves\nthree\n');
  assert.equal(await readTail(log, 1000), text);
  assert.equal(await readTail(log, 6), 'three\n');
  assert.equal(await readTail(log, 0), '');
});

test('appendLog never writes a registered secret', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'backup.log');
  registerSecret('s3cr3t-password-for-logfile-test');
  await appendLog(log, ['connecting with s3cr3t-password-for-logfile-test']);
  assert.equal(await fs.readFile(log, 'utf8'), 'connecting with ***\n');
});

test('readTail does not start inside a multi-byte character', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'backup.log');
  await fs.writeFile(log, 'aé€😀');
  // bytes: a(1) é(2) €(3) 😀(4)
  assert.equal(await readTail(log, 4), '😀');
  assert.equal(await readTail(log, 5), '😀');
  assert.equal(await readTail(log, 7), '€😀');
  assert.equal(await readTail(log, 9), 'é€😀');
  assert.equal(await readTail(log, 10), 'aé€😀');
});

test('rotation by size shifts the numbered files and keeps their mtimes', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'backup.log');
  const now = new Date('2026-11-29T02:00:00Z');
  const earlier = new Date('2026-11-10T02:00:00Z');
  const older = new Date('2026-10-10T02:00:00Z');
  await writeWithMtime(`${log}.1`, 'previous', earlier);
  await writeWithMtime(`${log}.2`, 'before that', older);
  await writeWithMtime(log, 'x'.repeat(101), new Date('2026-11-28T02:00:00Z'));

  assert.equal(await rotateIfNeeded(log, { maxBytes: 200, now }), null, 'small enough, same month');
  assert.equal(await rotateIfNeeded(log, { maxBytes: 101, now }), null, 'equal to the limit is not larger');
  assert.equal(await rotateIfNeeded(log, { maxBytes: 100, now }), `${log}.1`);
  assert.deepEqual(await listing(dir), {
    'backup.log.1': 'x'.repeat(101),
    'backup.log.2': 'previous',
    'backup.log.3': 'before that',
  });
  assert.equal((await fs.stat(`${log}.2`)).mtime.getTime(), earlier.getTime());
  assert.equal((await fs.stat(`${log}.3`)).mtime.getTime(), older.getTime());
  assert.equal((await fs.stat(`${log}.1`)).mtime.getTime(), new Date('2026-11-28T02:00:00Z').getTime());
});

test('rotation when the month changes (UTC), not before', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'backup.log');
  const cases: [string, string, boolean][] = [
    // last written, now, rotates
    ['2026-11-30T23:59:59Z', '2026-12-01T00:00:00Z', true],
    ['2026-11-01T00:00:00Z', '2026-11-30T23:59:59Z', false],
    ['2025-12-31T23:00:00Z', '2026-01-01T02:00:00Z', true],
    ['2025-11-15T00:00:00Z', '2026-11-15T00:00:00Z', true],
    // 01:30 on Dec 1st in UTC+2 is still November in UTC.
    ['2026-11-30T10:00:00Z', '2026-12-01T01:30:00+02:00', false],
  ];
  for (const [mtime, now, rotates] of cases) {
    await fs.rm(`${log}.1`, { force: true });
    await writeWithMtime(log, 'line\n', new Date(mtime));
    const rotated = await rotateIfNeeded(log, { maxBytes: 1_000_000, now: new Date(now) });
    assert.equal(rotated, rotates ? `${log}.1` : null, `${mtime} -> ${now}`);
  }
});

test('missing or empty logs are not rotated', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'backup.log');
  const now = new Date('2026-11-29T02:00:00Z');
  assert.equal(await rotateIfNeeded(log, { maxBytes: 0, now }), null);
  await writeWithMtime(log, '', new Date('2026-01-01T00:00:00Z'));
  assert.equal(await rotateIfNeeded(log, { maxBytes: 0, now }), null);
  assert.deepEqual(await listing(dir), { 'backup.log': '' });
});

test('keep limit deletes only numbered files beyond it; foreign files are untouched', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'backup.log');
  const now = new Date('2026-11-29T02:00:00Z');
  for (const n of [1, 2, 3, 7]) await fs.writeFile(`${log}.${n}`, `old ${n}`);
  const foreign = ['backup.log.0', 'backup.log.01', 'backup.log.1.gz', 'backup.log.old', 'backup.log.3x', 'backup.logs.1', 'other.log.1', 'notes.txt'];
  for (const name of foreign) await fs.writeFile(path.join(dir, name), `foreign ${name}`);
  await fs.writeFile(log, 'current');

  assert.equal(await rotateIfNeeded(log, { maxBytes: 1, now, keep: 3 }), `${log}.1`);
  const after = await listing(dir);
  for (const name of foreign) assert.equal(after[name], `foreign ${name}`, name);
  assert.equal(after['backup.log.1'], 'current');
  assert.equal(after['backup.log.2'], 'old 1');
  assert.equal(after['backup.log.3'], 'old 2');
  assert.equal(after['backup.log'], undefined);
  assert.equal(after['backup.log.4'], undefined, '.3 was beyond the limit once shifted');
  assert.equal(after['backup.log.8'], undefined, '.7 was beyond the limit');
  assert.equal(Object.keys(after).length, foreign.length + 3);

  await assert.rejects(rotateIfNeeded(log, { maxBytes: 1, now, keep: 0 }), RangeError);
});

test('default keep is 24', async (t) => {
  const dir = await tempDir(t);
  const log = path.join(dir, 'backup.log');
  for (let n = 1; n <= 25; n++) await fs.writeFile(`${log}.${n}`, `old ${n}`);
  await fs.writeFile(log, 'current');
  await rotateIfNeeded(log, { maxBytes: 1, now: new Date('2026-11-29T02:00:00Z') });
  const names = await fs.readdir(dir);
  assert.equal(names.length, 24);
  assert.ok(names.includes('backup.log.24') && !names.includes('backup.log.25') && !names.includes('backup.log'));
  assert.equal(await fs.readFile(`${log}.24`, 'utf8'), 'old 23');
});
