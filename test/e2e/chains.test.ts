// The rest of the tool on incremental media chains, end to end: list-backups shows them, verify
// checks every link (a damaged or missing middle incremental fails the points after it, each
// named, and the points before it pass), the sanity gate leaves small incrementals alone and
// compares a full with the previous full, and the drill restores a chain. One small tree, a
// backup a day (pinned clock), shared by the tests in order.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createDb, type TempDb } from '../helpers/pg.ts';
import { runScript, tempDir, writeConfig, type RunResult } from '../helpers/cli.ts';

let db: TempDb;
let dir: string;
let media: string;
let bk: string;
let cfg: string;
/** The archives made, in order: full, then inc1…inc4. */
const made: string[] = [];
const mediaDir = () => path.join(bk, 'media');

before(() => {
  db = createDb('cbt_chains');
  dir = tempDir('cbt-chains-');
  media = path.join(dir, 'media');
  bk = path.join(dir, 'backups');
  // Tiny archives are mostly headers: maxChainRatio large, or every incremental would start a new chain.
  cfg = writeConfig(dir, ['environments:', '  local:', `    media: { mode: host, path: ${JSON.stringify(media)}, incremental: { maxChainRatio: 100 } }`, ''].join('\n'));
  fs.mkdirSync(path.join(media, 'uploads'), { recursive: true });
  // Random bytes: the full is large next to what a day changes.
  for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(media, 'uploads', `photo${i}.jpg`), crypto.randomBytes(40_000));
});

after(() => {
  db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const run = (script: string, args: string[], day?: number): Promise<RunResult> =>
  runScript(script, [...args, '--config', cfg], {
    env: { DATABASE_URL: db.url, BACKUP_DIR: bk, ...(day ? { COMPOSE_BACKUP_NOW: `2026-12-0${day}T02:00:00Z` } : {}) },
  });
const explain = (r: RunResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const lines = (r: RunResult) => r.stdout.trim().split('\n');
/** verify's line about one backup ("ok  <name>  …" or "FAIL  <name>: …"), or '' when it has none. */
const verifyLine = (r: RunResult, name: string) => lines(r).find((l) => l.startsWith(`ok  ${name}  `) || l.startsWith(`FAIL  ${name}:`)) ?? '';

test('a full, then four small incrementals: the sanity gate passes each ("an incremental: …")', async () => {
  const changes = [
    () => fs.writeFileSync(path.join(media, 'uploads', 'new.txt'), 'added on day 2'),
    () => fs.writeFileSync(path.join(media, 'uploads', 'photo1.jpg'), 'edited on day 3'),
    () => fs.rmSync(path.join(media, 'uploads', 'photo2.jpg')),
    () => fs.renameSync(path.join(media, 'uploads', 'photo3.jpg'), path.join(media, 'uploads', 'renamed.jpg')),
  ];
  for (let day = 1; day <= 5; day++) {
    if (day > 1) changes[day - 2]!();
    const r = await run('backup-media', [], day);
    assert.equal(r.code, 0, explain(r));
    assert.doesNotMatch(r.stderr, /sanity check/, 'no warning either');
    made.push(path.basename(r.stdout.trim()));
  }
  assert.deepEqual(made, [
    'media_backup_2026_12_01T02_00_00.tar.zst',
    'media_backup_2026_12_02T02_00_00.inc1.tar.zst',
    'media_backup_2026_12_03T02_00_00.inc2.tar.zst',
    'media_backup_2026_12_04T02_00_00.inc3.tar.zst',
    'media_backup_2026_12_05T02_00_00.inc4.tar.zst',
  ]);
  const size = (n: string) => fs.statSync(path.join(mediaDir(), n)).size;
  for (const inc of made.slice(1)) assert.ok(size(inc) < 0.5 * size(made[0]!), `${inc} is under the sanity threshold (verify.minSizeRatio) of the full`);
});

test('list-backups shows the chain: the full, its incrementals under it, the total; --json has level and parent', async () => {
  const r = await run('list-backups', []);
  assert.equal(r.code, 0, explain(r));
  const out = lines(r);
  const at = out.findIndex((l) => l.startsWith(`  ${made[0]}`));
  assert.ok(at > 0, r.stdout);
  for (let i = 1; i <= 4; i++) assert.match(out[at + i]!, new RegExp(`^    ${made[i]!.replaceAll('.', '\\.')}\\s+\\d`), r.stdout);
  assert.match(out[at + 5]!, /^    = chain of 5 archives\s+\d+(\.\d)? KiB$/);

  const json = await run('list-backups', ['--json']);
  assert.equal(json.code, 0, explain(json));
  const listed = JSON.parse(json.stdout) as { name: string; level?: number; parent?: string | null }[];
  const byName = Object.fromEntries(listed.map((b) => [b.name, b]));
  assert.deepEqual(made.map((n) => [byName[n]?.level, byName[n]?.parent]), [
    [0, null],
    [1, made[0]],
    [2, made[1]],
    [3, made[2]],
    [4, made[3]],
  ]);
});

test('verify of the newest point checks its whole chain; the drill restores the chain and reports the tree', async () => {
  const r = await run('verify', ['--drill']);
  assert.equal(r.code, 0, explain(r));
  const out = lines(r);
  for (const n of made) assert.ok(out.some((l) => l.startsWith(`ok  ${n}  (`)), `${n} verified:\n${r.stdout}`);
  assert.match(r.stdout, new RegExp(`ok  ${made[4]!.replaceAll('.', '\\.')}  \\(.*chain of 5 archives, each link matches its parent's sha256\\)`));
  const drill = out.find((l) => l.includes(' drill '));
  // photo0..5 less photo2, plus new.txt: six files, the edit and the rename applied.
  assert.match(drill ?? '', new RegExp(`^ok  drill ${made[4]!.replaceAll('.', '\\.')}  \\(chain of 5 archives checked .*unpacked in order without error, restored 6 files, 1 folder,`), r.stdout);
});

test('verify: a corrupted middle incremental fails, and so does every later point, each named; the earlier points pass', async () => {
  const middle = path.join(mediaDir(), made[2]!);
  const original = fs.readFileSync(middle);
  const damaged = Buffer.from(original);
  const at = damaged.length >> 1;
  damaged[at] = damaged[at]! ^ 0xff;
  fs.writeFileSync(middle, damaged);
  try {
    const r = await run('verify', ['--all']);
    assert.equal(r.code, 1, explain(r));
    const line = (n: string) => verifyLine(r, n);
    assert.match(line(made[0]!), /^ok /);
    assert.match(line(made[1]!), /^ok /);
    assert.match(line(made[2]!), /^FAIL .*sha256 mismatch/);
    assert.equal(line(made[3]!), `FAIL  ${made[3]}: it builds on ${made[2]}, which failed verification`);
    assert.equal(line(made[4]!), `FAIL  ${made[4]}: it builds on ${made[2]}, which failed verification`);
    assert.match(r.stderr, /3 of 5 backups failed verification/);

    // The default verify (the newest point) fails too; and so does its drill, before unpacking anything.
    const newest = await run('verify', ['--drill']);
    assert.equal(newest.code, 1, explain(newest));
    assert.match(newest.stdout, new RegExp(`FAIL  drill ${made[4]!.replaceAll('.', '\\.')}: refusing to restore .*sha256 mismatch`));
  } finally {
    fs.writeFileSync(middle, original);
  }
});

test('verify: a missing middle incremental fails every later point (the chain broken), the earlier pass', async () => {
  const middle = path.join(mediaDir(), made[2]!);
  const away = path.join(dir, 'away');
  fs.mkdirSync(away, { recursive: true });
  fs.renameSync(middle, path.join(away, made[2]!));
  try {
    const r = await run('verify', ['--all']);
    assert.equal(r.code, 1, explain(r));
    const line = (n: string) => verifyLine(r, n);
    assert.match(line(made[0]!), /^ok /);
    assert.match(line(made[1]!), /^ok /);
    assert.equal(line(made[2]!), '');
    assert.equal(line(made[3]!), `FAIL  ${made[3]}: its chain is broken: ${made[3]} builds on a level-2 archive that is not there`);
    assert.equal(line(made[4]!), `FAIL  ${made[4]}: its chain is broken: ${made[3]} builds on a level-2 archive that is not there`);
    // The list says so too.
    const list = await run('list-backups', []);
    assert.match(list.stdout, /\(broken chain: .*inc3\.tar\.zst builds on a level-2 archive that is not there\)/);
  } finally {
    fs.renameSync(path.join(away, made[2]!), middle);
  }
  const again = await run('verify', ['--all']);
  assert.equal(again.code, 0, explain(again));
});

test('sanity gate: a new full is compared with the previous full, not with the small incremental before it', async () => {
  for (const n of fs.readdirSync(path.join(media, 'uploads'))) if (n !== 'new.txt') fs.rmSync(path.join(media, 'uploads', n));
  const r = await run('backup-media', ['--full'], 6);
  assert.equal(r.code, 1, explain(r));
  assert.match(r.stderr, new RegExp(`sanity check failed for media_backup_2026_12_06T02_00_00\\.tar\\.zst: it is \\d+% of the previous backup's size \\(.* vs \\d+(\\.\\d)? KiB;`));
  assert.ok(fs.existsSync(r.stdout.trim()), 'the backup is kept');
});
