// Incremental media backups end to end: the real `npx zx scripts/…` over a simulated week of
// changes (a backup each day, every point restored and compared entry by entry with that day's
// tree), damaged and missing links, a lost or altered snapshot sidecar, the chain's limits, a
// changed device number (the same ext4 image on a second loop device), a SIGKILLed backup, compose
// mode through the docker stand-in, and retention over chains. The clock is pinned per run with
// COMPOSE_BACKUP_NOW so each backup falls on its own day; tar's own change detection runs on the
// real clock, which only moves forward between the runs.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fakeBin, killGroup, ls, runScript, tempDir, withPath, writeConfig, FIXTURE_BIN, type RunResult } from '../helpers/cli.ts';
import { describeTree, type Described } from '../helpers/media-tree.ts';
import { formatStamp } from '../../lib/core/naming.ts';

type Tree = Record<string, Described>;

const DAY = 86_400_000;
/** Day 0 (the full) falls on 28 January, so days 0-3 and days 4-8 sit in different months (retention). */
const DAY0 = Date.UTC(2027, 0, 28, 3, 0, 0);
const dayAt = (d: number) => new Date(DAY0 + d * DAY).toISOString();
const FULL = /^media_backup_\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d\.tar\.zst$/;
const levelOf = (name: string) => Number(/\.inc(\d+)\.tar\.zst$/.exec(name)?.[1] ?? 0);
const manifestOf = (file: string) => JSON.parse(fs.readFileSync(`${file}.manifest.json`, 'utf8'));
const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');
const archives = (bk: string) => ls(path.join(bk, 'media')).filter((n) => /^media_backup_.*\.tar\.zst$/.test(n));
const errorLines = (r: RunResult) => r.stderr.split('\n').filter((l) => l.startsWith('error: '));
const workFolders = (media: string) => ls(media).filter((n) => n.startsWith('.compose-backup-'));
/** What a run left in a temporary folder, but tsx's compile cache (Node 20's loader). */
const leftIn = (tmp: string) => ls(tmp).filter((n) => !n.startsWith('tsx-'));

const made: string[] = [];
const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch {
      // Best effort: a mount already gone.
    }
  }
  made.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});
const scratch = (prefix = 'cbt-inc-') => {
  const d = tempDir(prefix);
  made.push(d);
  return d;
};

interface Case {
  root: string;
  media: string;
  bk: string;
  config: string;
  /** A TMPDIR for runs that check what the create script's mktemp leaves (host mode). */
  tmp: string;
}

const INCREMENTAL = 'incremental: { fullEvery: 7d, maxChain: 13, maxChainRatio: 0.5 }';

function newCase(opts: { media?: string; incremental?: string; retention?: string } = {}): Case {
  const root = scratch();
  const media = opts.media ?? path.join(root, 'media');
  const bk = path.join(root, 'backups');
  const tmp = path.join(root, 'tmp');
  fs.mkdirSync(tmp);
  const config = writeConfig(
    root,
    `environments:
  local:
    backupDir: ./backups
    media: { mode: host, path: ./media, ${opts.incremental ?? INCREMENTAL} }
${opts.retention ? `    retention: { media: ${opts.retention} }\n` : ''}`,
  );
  return { root, media, bk, config, tmp };
}

/** A case with the files of `from` copied in (backups always; the media folder when asked, inodes new). */
function copyCase(from: Case, opts: { media?: boolean; incremental?: string; retention?: string } = {}): Case {
  const c = newCase({ incremental: opts.incremental, retention: opts.retention });
  execFileSync('cp', ['-a', from.bk, c.bk]);
  if (opts.media) execFileSync('cp', ['-a', from.media, c.media]);
  return c;
}

function run(c: Case, script: string, args: string[], day: number, env: Record<string, string | undefined> = {}, opts: { newGroup?: boolean; onSpawn?: (pid: number) => void } = {}): Promise<RunResult> {
  return runScript(script, [...args, '--config', c.config], {
    env: { MEDIA_DIR: c.media, BACKUP_DIR: c.bk, COMPOSE_BACKUP_NOW: dayAt(day), ...env },
    ...opts,
  });
}

async function backup(c: Case, day: number, args: string[] = [], env: Record<string, string | undefined> = {}): Promise<{ r: RunResult; file: string; name: string }> {
  const r = await run(c, 'backup-media', args, day, env);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /sanity check/, 'a small incremental is not a shrunken backup');
  const file = r.stdout.trim();
  return { r, file, name: path.basename(file) };
}

async function restore(c: Case, name: string, day: number): Promise<RunResult> {
  return run(c, 'restore-media', [name, '--yes'], day);
}

// ---- The week: a tree, then six days of changes ------------------------------------------------

/** Day 0: uploads-like folders, a few awkward things a week of changes will move around. */
function dayZero(m: string): void {
  const w = (rel: string, data: string | Buffer, mode = 0o644) => {
    const p = path.join(m, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    fs.chmodSync(p, mode);
  };
  // Big and incompressible, so a week of small incrementals stays under maxChainRatio of the full.
  w('uploads/2027/01/video.mp4', crypto.randomBytes(3 * 1024 * 1024));
  w('uploads/2027/01/a.jpg', crypto.randomBytes(300_000));
  w('uploads/2027/01/b.jpg', crypto.randomBytes(200_000));
  w('uploads/2027/01/c.txt', 'caption c\n');
  w('docs/readme.txt', 'read me\n');
  w('docs/sub/deep.txt', 'deep\n');
  w('docs/sub/deeper/deepest.txt', 'deepest\n');
  w('avatars/u1.png', crypto.randomBytes(50_000));
  w('avatars/u2.png', crypto.randomBytes(40_000));
  w('private/report.pdf', '%PDF-1.4 report\n', 0o640);
  w('swap', 'a file that becomes a folder\n');
  w('owned', 'www-data\n');
  fs.chownSync(path.join(m, 'owned'), 33, 33);
  w('hl/one', 'two names, one file\n');
  fs.linkSync(path.join(m, 'hl/one'), path.join(m, 'hl/two'));
  fs.mkdirSync(path.join(m, 'empty/nested'), { recursive: true });
  fs.symlinkSync('uploads/2027/01/a.jpg', path.join(m, 'latest.jpg'));
  fs.symlinkSync('nowhere', path.join(m, 'dangling'));
}

/** Days 1-6: what users and the app do to an uploads folder, every kind of change at least once. */
const CHANGES: ((m: string) => void)[] = [
  // Day 1: adds, an edit, a deletion, a file renamed, a new folder.
  (m) => {
    fs.mkdirSync(path.join(m, 'uploads/2027/02'));
    fs.writeFileSync(path.join(m, 'uploads/2027/02/d.jpg'), crypto.randomBytes(30_000));
    fs.appendFileSync(path.join(m, 'docs/readme.txt'), 'edited on day 1\n');
    fs.unlinkSync(path.join(m, 'avatars/u2.png'));
    fs.renameSync(path.join(m, 'uploads/2027/01/b.jpg'), path.join(m, 'uploads/2027/01/b-renamed.jpg'));
  },
  // Day 2: a folder renamed with its contents, a file replaced by a folder, chmod, a new empty folder.
  (m) => {
    fs.renameSync(path.join(m, 'docs/sub'), path.join(m, 'docs/moved'));
    fs.unlinkSync(path.join(m, 'swap'));
    fs.mkdirSync(path.join(m, 'swap'));
    fs.writeFileSync(path.join(m, 'swap/inner.txt'), 'now a folder\n');
    fs.chmodSync(path.join(m, 'avatars/u1.png'), 0o600);
    fs.chmodSync(path.join(m, 'private'), 0o750);
    fs.mkdirSync(path.join(m, 'uploads/2027/02/thumbs'));
  },
  // Day 3: mtimes only (a file, a symlink, a folder: content unchanged), one hardlink name gone,
  // a symlink retargeted.
  (m) => {
    fs.unlinkSync(path.join(m, 'hl/two'));
    fs.unlinkSync(path.join(m, 'latest.jpg'));
    fs.symlinkSync('uploads/2027/02/d.jpg', path.join(m, 'latest.jpg'));
    fs.lutimesSync(path.join(m, 'latest.jpg'), new Date('2020-02-02T02:02:02.5Z'), new Date('2020-02-02T02:02:02.5Z'));
    fs.utimesSync(path.join(m, 'uploads/2027/01/c.txt'), new Date('2001-01-01T00:00:00Z'), new Date('2001-01-01T00:00:00.123456789Z'));
    fs.utimesSync(path.join(m, 'docs'), new Date('2010-10-10T10:10:10Z'), new Date('2010-10-10T10:10:10.25Z'));
  },
  // Day 4: the folder becomes a file again; a folder renamed and a file in it edited the same day;
  // a folder tree deleted; an owner changed.
  (m) => {
    fs.rmSync(path.join(m, 'swap'), { recursive: true });
    fs.writeFileSync(path.join(m, 'swap'), 'a file again, other bytes\n');
    fs.renameSync(path.join(m, 'uploads/2027/02'), path.join(m, 'uploads/2027/03'));
    fs.writeFileSync(path.join(m, 'uploads/2027/03/d.jpg'), crypto.randomBytes(31_000));
    fs.rmSync(path.join(m, 'empty'), { recursive: true });
    fs.chownSync(path.join(m, 'private/report.pdf'), 33, 33);
  },
  // Day 5: a file replaced by one of the same size and the same mtime (only its inode and ctime
  // tell), a file replaced by a symlink, a dangling symlink removed.
  (m) => {
    const u1 = path.join(m, 'avatars/u1.png');
    const st = fs.statSync(u1);
    fs.unlinkSync(u1);
    fs.writeFileSync(u1, crypto.randomBytes(st.size), { mode: 0o600 });
    fs.utimesSync(u1, st.atime, st.mtime);
    fs.unlinkSync(path.join(m, 'docs/readme.txt'));
    fs.symlinkSync('moved/deep.txt', path.join(m, 'docs/readme.txt'));
    fs.unlinkSync(path.join(m, 'dangling'));
  },
  // Day 6: two files swap names, a file moved into a new nested folder, a folder closed, a future mtime.
  (m) => {
    const a = path.join(m, 'uploads/2027/01/a.jpg');
    const b = path.join(m, 'uploads/2027/01/b-renamed.jpg');
    fs.renameSync(a, `${a}.tmp`);
    fs.renameSync(b, a);
    fs.renameSync(`${a}.tmp`, b);
    fs.mkdirSync(path.join(m, 'archive/2027/01'), { recursive: true });
    fs.renameSync(path.join(m, 'docs/moved/deeper/deepest.txt'), path.join(m, 'archive/2027/01/deepest.txt'));
    fs.chmodSync(path.join(m, 'archive'), 0o700);
    fs.utimesSync(path.join(m, 'owned'), new Date('2031-01-01T00:00:00Z'), new Date('2031-01-01T00:00:00.5Z'));
  },
];

interface Week {
  /** The case the week ran in (the killed-backup test goes on in it). */
  c: Case;
  /** A copy of the backups and media as they were at the end of day 6, for the other tests to copy. */
  frozen: Case;
  names: string[];
  trees: Tree[];
}

/** The week itself: a backup after each day's changes, each checked as it is made. */
async function makeWeek(): Promise<Week> {
  const c = newCase();
  fs.mkdirSync(c.media);
  dayZero(c.media);
  const names: string[] = [];
  const trees: Tree[] = [];
  for (let day = 0; day <= 6; day++) {
    if (day > 0) CHANGES[day - 1]!(c.media);
    const { r, file, name } = await backup(c, day);
    trees.push(describeTree(c.media));
    names.push(name);
    const m = manifestOf(file);
    const snar = fs.readFileSync(`${file}.snar`);
    assert.deepEqual(m.media.snapshot, { size: snar.length, sha256: sha256(snar) }, 'the sidecar is the snapshot the manifest records');
    assert.equal(m.media.level, day);
    if (day === 0) {
      assert.match(name, FULL);
      assert.equal(m.media.parent, null);
      assert.match(r.stderr, /full backup \(starts a new chain\): no earlier media backup to build on/);
    } else {
      assert.equal(name, `media_backup_${formatStamp(new Date(dayAt(day)))}.inc${day}.tar.zst`);
      assert.deepEqual(m.media.parent, { name: names[day - 1], sha256: manifestOf(path.join(c.bk, 'media', names[day - 1]!)).sha256 });
      assert.match(r.stderr, new RegExp(`incremental backup, level ${day} on top of ${names[day - 1]!.replace(/\./g, '\\.')}`));
    }
  }
  assert.deepEqual(names.map(levelOf), [0, 1, 2, 3, 4, 5, 6]);
  // Incrementals hold what changed: the untouched 3 MiB video is in the full only. (A renamed
  // file is archived again under its new name: GNU tar records renames of folders only.)
  const sizes = names.map((n) => fs.statSync(path.join(c.bk, 'media', n)).size);
  assert.ok(sizes[0]! > 3 * 1024 * 1024, `full: ${sizes[0]}`);
  for (const s of sizes.slice(1)) assert.ok(s < 1024 * 1024, `incrementals: ${sizes.join(', ')}`);
  return { c, frozen: copyCase(c, { media: true }), names, trees };
}

let weekRun: Promise<Week> | null = null;
/** The week's backups, made once, by whichever test asks first (the tests run side by side). */
const week = () => (weekRun ??= makeWeek());

describe('incremental media backups', { concurrency: 4 }, () => {
  test('a simulated week: a full then six incrementals, each naming its parent; every point restores to exactly that day\'s tree', async () => {
    const { frozen, names, trees } = await week();
    // Each point restored over the day-6 folder (so every later change must be undone), side by side.
    const runs = names.map(async (name, day) => {
      const r = copyCase(frozen, { media: true });
      const res = await restore(r, name, 7);
      return { r, res, name, day };
    });
    for (const { r, res, name, day } of await Promise.all(runs)) {
      assert.equal(res.code, 0, `${name}: ${res.stderr}`);
      if (day > 0) assert.match(res.stderr, new RegExp(`unpacking ${name.replace(/\./g, '\\.')} \\(a chain of ${day + 1} archives`));
      assert.deepEqual(describeTree(r.media), trees[day], `day ${day}: ${name}`);
      assert.deepEqual(workFolders(r.media), []);
    }
  });

  test('a damaged or missing middle incremental: later points are refused in one line with the media unchanged; earlier points restore', async () => {
    const { frozen, names, trees } = await week();
    const corrupt = copyCase(frozen, { media: true });
    const inc3 = path.join(corrupt.bk, 'media', names[3]!);
    const bytes = fs.readFileSync(inc3);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    fs.writeFileSync(inc3, bytes);
    const missing = copyCase(frozen, { media: true });
    fs.unlinkSync(path.join(missing.bk, 'media', names[3]!));
    const before = describeTree(frozen.media);
    const [cLater, mLater] = await Promise.all([restore(corrupt, names[5]!, 7), restore(missing, names[5]!, 7)]);
    for (const [r, c, why] of [
      [cLater, corrupt, `${names[3]}, which it builds on, fails its check: sha256 mismatch`],
      [mLater, missing, `its chain is broken \\(${names[4]} builds on a level-3 archive that is not there\\)`],
    ] as const) {
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      const errors = errorLines(r);
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0]!, new RegExp(`^error: refusing to restore ${names[5]!.replace(/\./g, '\\.')}, nothing was changed: .*${why.replace(/\.tar/g, '\\.tar')}`));
      assert.deepEqual(describeTree(c.media), before);
      assert.deepEqual(workFolders(c.media), []);
      assert.ok(!ls(path.join(c.bk, 'media')).some((n) => n.startsWith('temp_before_restore_')), 'refused before any safety snapshot');
    }
    const [cEarlier, mEarlier] = await Promise.all([restore(corrupt, names[2]!, 7), restore(missing, names[2]!, 7)]);
    for (const [r, c] of [[cEarlier, corrupt], [mEarlier, missing]] as const) {
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(describeTree(c.media), trees[2]);
    }
  });

  test('a snapshot sidecar missing or altered: the next backup is a full, and says why', async () => {
    const { frozen, names } = await week();
    const gone = copyCase(frozen, { media: true });
    fs.unlinkSync(path.join(gone.bk, 'media', `${names[6]}.snar`));
    const altered = copyCase(frozen, { media: true });
    const snar = path.join(altered.bk, 'media', `${names[6]}.snar`);
    const bytes = fs.readFileSync(snar);
    bytes[bytes.length - 2]! ^= 0x01;
    fs.writeFileSync(snar, bytes);
    const [g, a] = await Promise.all([backup(gone, 6.5), backup(altered, 6.5)]);
    for (const b of [g, a]) {
      assert.match(b.name, FULL);
      assert.equal(manifestOf(b.file).media.level, 0);
      assert.equal(manifestOf(b.file).media.parent, null);
    }
    assert.match(g.r.stderr, new RegExp(`full backup \\(starts a new chain\\): the snapshot file of ${names[6]!.replace(/\./g, '\\.')} \\(.*\\.snar\\) is missing`));
    assert.match(a.r.stderr, new RegExp(`full backup \\(starts a new chain\\): the snapshot file of ${names[6]!.replace(/\./g, '\\.')} is not the one its manifest recorded`));
  });

  test('--full and maxChain start a new chain; retention keeps what kept points need, says so in --dry-run, and leaves them restorable', async () => {
    const { frozen, names, trees } = await week();
    // maxChain 6: the week's chain is full.
    const capped = copyCase(frozen, { media: true, incremental: 'incremental: { fullEvery: 7d, maxChain: 6 }' });
    // --full half a day after day 6, an incremental after it; retention keeps the newest point of each month.
    const c = copyCase(frozen, { media: true, retention: '{ keepMonthly: 2 }' });
    const [cap, forced] = await Promise.all([backup(capped, 6.5), backup(c, 6.5, ['--full'])]);
    assert.match(cap.name, FULL);
    assert.match(cap.r.stderr, /full backup \(starts a new chain\): the chain has 6 incrementals \(maxChain 6\)/);
    assert.match(forced.name, FULL);
    assert.match(forced.r.stderr, /full backup \(starts a new chain\): a full backup was asked for \(--full\)/);
    assert.equal(manifestOf(forced.file).media.level, 0);
    fs.writeFileSync(path.join(c.media, 'later.txt'), 'after the --full\n');
    const later = await backup(c, 6.75);
    assert.equal(levelOf(later.name), 1);
    assert.deepEqual(manifestOf(later.file).media.parent, { name: forced.name, sha256: manifestOf(forced.file).sha256 });

    // January's newest point is day 3's inc3: the full, inc1 and inc2 stay for it; inc4-inc6
    // (February, not the newest) go; the newest, an inc1, keeps its full.
    const dry = await run(c, 'prune', ['--dry-run'], 7);
    assert.equal(dry.code, 0, dry.stderr);
    // The plan lists backup sets by their stamp.
    const line = (name: string) => dry.stdout.split('\n').find((l) => l.trimStart().startsWith(/_(\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d)/.exec(name)![1]!)) ?? '';
    for (const d of [0, 1, 2]) assert.match(line(names[d]!), new RegExp(`needed by ${names[3]!.replace(/\./g, '\\.')}`), dry.stdout);
    assert.match(line(forced.name), new RegExp(`needed by ${later.name.replace(/\./g, '\\.')}`), dry.stdout);
    for (const d of [4, 5, 6]) assert.match(line(names[d]!), /remove/i, dry.stdout);
    assert.deepEqual(archives(c.bk).length, 9, 'a dry run removes nothing');

    const p = await run(c, 'prune', [], 7);
    assert.equal(p.code, 0, p.stderr);
    const left = ls(path.join(c.bk, 'media'));
    assert.deepEqual(archives(c.bk), [...names.slice(0, 4), forced.name, later.name].sort());
    for (const n of names.slice(4)) assert.ok(!left.some((l) => l.startsWith(n)), `${n} and its sidecars are gone: ${left.join(', ')}`);
    for (const n of archives(c.bk)) assert.ok(left.includes(`${n}.snar`) && left.includes(`${n}.manifest.json`), n);
    // The oldest kept incremental, and the newest, restore.
    const r3 = await restore(c, names[3]!, 7.5);
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual(describeTree(c.media), trees[3]);
  });

  test('a device number change (the same ext4 image on a second loop device) still gives a small incremental', async () => {
    const c = newCase();
    const img = path.join(c.root, 'media.ext4');
    // Sparse; room for the restore's margin (64 MiB) beside the media.
    execFileSync('truncate', ['-s', '256M', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', img]);
    fs.mkdirSync(c.media);
    const attach = () => {
      const dev = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
      cleanups.push(() => execFileSync('losetup', ['-d', dev]));
      return dev;
    };
    const mount = (dev: string) => {
      execFileSync('mount', [dev, c.media]);
      cleanups.push(() => execFileSync('umount', [c.media]));
    };
    // The first device stays attached (unmounted) while the image is mounted through the second,
    // so the second is surely another device number.
    const first = attach();
    mount(first);
    for (let i = 0; i < 40; i++) {
      fs.mkdirSync(path.join(c.media, `uploads/${i % 4}`), { recursive: true });
      fs.writeFileSync(path.join(c.media, `uploads/${i % 4}/f${i}.jpg`), crypto.randomBytes(20_000));
    }
    const full = await backup(c, 0);
    assert.match(full.name, FULL);
    const devBefore = fs.statSync(path.join(c.media, 'uploads/0/f0.jpg'));
    execFileSync('umount', [c.media]);
    cleanups.pop();
    mount(attach());
    const devAfter = fs.statSync(path.join(c.media, 'uploads/0/f0.jpg'));
    assert.notEqual(devAfter.dev, devBefore.dev, 'the device number changed');
    assert.equal(devAfter.ino, devBefore.ino, 'the inodes did not');
    fs.writeFileSync(path.join(c.media, 'uploads/1/f1.jpg'), crypto.randomBytes(20_000));
    const inc = await backup(c, 1);
    assert.equal(levelOf(inc.name), 1);
    const listed = execFileSync('sh', ['-c', 'zstd -dc "$1" | tar -t --listed-incremental=/dev/null -f -', 'sh', inc.file], { encoding: 'utf8' });
    assert.deepEqual(listed.split('\n').filter((l) => l && !l.endsWith('/')), ['./uploads/1/f1.jpg'], 'only the changed file, not every file again');
    assert.equal(manifestOf(inc.file).media.files, 1);
    const tree = describeTree(c.media);
    fs.rmSync(path.join(c.media, 'uploads'), { recursive: true });
    const r = await restore(c, inc.name, 2);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(describeTree(c.media), tree);
  });

  test('compose mode through the docker stand-in: a full and an incremental archived in the service, the chain restored in one-off containers, nothing left in the container', async () => {
    const c = newCase();
    fs.mkdirSync(c.media);
    dayZero(c.media);
    const ctmp = path.join(c.root, 'container-tmp');
    fs.mkdirSync(ctmp);
    fs.writeFileSync(path.join(c.root, 'production.yml'), 'services:\n  django:\n    image: app\n');
    const config = writeConfig(c.root, `environments:
  production:
    backupDir: ./backups
    compose: { file: ./production.yml }
    media: { mode: compose, service: django, path: ${c.media}, ${INCREMENTAL} }
`);
    const log = path.join(c.root, 'standin.log');
    const env = { PATH: withPath(FIXTURE_BIN), STANDIN_LOG: log, STANDIN_TMPDIR: ctmp, MEDIA_DIR: undefined };
    const args = ['--config', config, '--env', 'production'];
    const compose = (script: string, extra: string[], day: number) =>
      runScript(script, [...extra, ...args], { env: { ...env, BACKUP_DIR: c.bk, COMPOSE_BACKUP_NOW: dayAt(day) } });
    const b0 = await compose('backup-media', [], 0);
    assert.equal(b0.code, 0, b0.stderr);
    CHANGES[0]!(c.media);
    CHANGES[1]!(c.media);
    const b1 = await compose('backup-media', [], 1);
    assert.equal(b1.code, 0, b1.stderr);
    const [full, inc] = [b0.stdout.trim(), b1.stdout.trim()];
    assert.match(path.basename(full), FULL);
    assert.equal(levelOf(path.basename(inc)), 1);
    assert.equal(manifestOf(inc).media.parent.name, path.basename(full));
    assert.ok(manifestOf(inc).media.files < 10, 'only what changed');
    assert.deepEqual(leftIn(ctmp), [], 'no snapshot file left in the container');
    const tree = describeTree(c.media);
    CHANGES[2]!(c.media);
    const r = await compose('restore-media', [path.basename(inc), '--yes'], 2);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(describeTree(c.media), tree);
    assert.deepEqual(leftIn(ctmp), []);

    const calls = fs.readFileSync(log, 'utf8').split('\x1f\n').filter(Boolean).map((l) => l.split('\x1f'));
    const exec = `compose -f ${c.root}/production.yml exec -T django sh -c`;
    const runc = `compose -f ${c.root}/production.yml run --rm --no-deps -T django sh -c`;
    const shape = calls.map((a) => {
      const i = a.indexOf('-c');
      const what = a[i + 3] === c.media ? `create ${a[i + 4]}` : a[i + 3];
      return `${a.slice(0, i + 1).join(' ')} ${what}`;
    });
    // Each backup: a look in the running service, then the archive (incremental mode: the snapshot
    // in on stdin; on top of another incremental, without the walk for special files).
    assert.deepEqual(shape.slice(0, 4), [`${exec} survey`, `${exec} create incremental`, `${exec} survey`, `${exec} create incremental-changed`]);
    for (const i of [1, 3]) {
      const a = calls[i]!;
      assert.ok(a.includes('--format=posix') && !a.some((x) => x.startsWith('--listed-incremental')), 'the snapshot file is the create script\'s own');
    }
    // The restore: a safety snapshot (a plain full) beside two unpacks, full first, in one-off containers.
    assert.deepEqual(shape.slice(4, 6), [`${runc} survey`, `${runc} prepare`]);
    assert.deepEqual(shape.slice(6, 9).sort(), [`${runc} create plain`, `${runc} unpack`, `${runc} unpack`]);
    assert.deepEqual(shape.slice(9), [`${runc} commit`, `${runc} settle`]);
    for (const a of calls.filter((x) => x[x.indexOf('-c') + 3] === 'unpack')) assert.ok(a.includes('--listed-incremental=/dev/null'), a.join(' '));
  });

  test('a backup SIGKILLed mid-tar leaves no final name; the next incremental builds on the last published archive and restores', async () => {
    const { c, names } = await week();
    // Changes since day 6's inc6, then a backup killed while tar is halfway through a big file.
    fs.writeFileSync(path.join(c.media, 'uploads/2027/01/killed-run.bin'), crypto.randomBytes(8 * 1024 * 1024));
    fs.writeFileSync(path.join(c.media, 'before-kill.txt'), 'changed before the killed run\n');
    const before = ls(path.join(c.bk, 'media'));
    const ready = path.join(c.root, 'compressor-started');
    // The compressor takes 1 MiB and then stops reading: tar blocks mid-archive, surely.
    const stall = fakeBin({
      zstd: `#!/bin/sh\ncase " $* " in *" -d "*) exec /usr/bin/zstd "$@" ;; esac\n{ head -c 1048576; : > "${ready}"; exec sleep 600; } | /usr/bin/zstd "$@"\n`,
    });
    made.push(stall);
    let pid = 0;
    const killed = run(c, 'backup-media', [], 6.5, { PATH: withPath(stall), TMPDIR: c.tmp }, { newGroup: true, onSpawn: (p) => (pid = p) });
    while (!fs.existsSync(ready)) await new Promise((r) => setTimeout(r, 50));
    killGroup(pid);
    const k = await killed;
    assert.equal(k.signal ?? k.code, 'SIGKILL');
    // Only a hidden temporary file may be left; no name a reader would take for a backup.
    assert.deepEqual(ls(path.join(c.bk, 'media')).filter((n) => !n.startsWith('.')), before);
    // The create script was killed too, before it could remove the snapshot file it gave tar.
    assert.match(leftIn(c.tmp).join(' '), /^compose-backup-snar\.\d+\.\w+$/);

    fs.writeFileSync(path.join(c.media, 'after-kill.txt'), 'changed after the killed run\n');
    const next = await backup(c, 6.75, [], { TMPDIR: c.tmp });
    assert.equal(levelOf(next.name), 7);
    assert.equal(manifestOf(next.file).media.parent.name, names[6]);
    assert.deepEqual(ls(path.join(c.bk, 'media')).filter((n) => n.startsWith('.')), [], 'the killed run\'s temporary file is swept');
    assert.deepEqual(leftIn(c.tmp), [], 'and the snapshot file it left, by its dead pid');
    const listed = execFileSync('sh', ['-c', 'zstd -dc "$1" | tar -t --listed-incremental=/dev/null -f -', 'sh', next.file], { encoding: 'utf8' }).split('\n');
    for (const f of ['./before-kill.txt', './after-kill.txt', './uploads/2027/01/killed-run.bin']) assert.ok(listed.includes(f), `${f} in ${next.name}`);
    const tree = describeTree(c.media);
    const r = copyCase(c);
    fs.mkdirSync(r.media);
    const res = await restore(r, next.name, 7);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(describeTree(r.media), tree);
  });
});
