// restore-media and backup-media as a hostile user and an unlucky operator would meet them: special
// files in the media folder, an archive replaced while the question waits at a terminal, runs
// SIGKILLed at every step of the swap and at random moments, a SIGTERM in the middle of the swap,
// and a media filesystem too small for the archive. Each time: exactly the old or exactly the new
// media, nothing of the work left, and one line saying what happened.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fakeBin, killGroup, ls, runScript, tempDir, withPath, ROOT, baseEnv } from '../helpers/cli.ts';
import { compressTo, describeTree, handTar } from '../helpers/media-tree.ts';
import { runAtTerminal } from '../helpers/pty.ts';

const made: string[] = [];
const mounts: string[] = [];
after(() => {
  for (const m of mounts) execFileSync('umount', [m]);
  made.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});
const scratch = () => {
  const d = tempDir('cbt-mh-');
  made.push(d);
  return d;
};
const work = (media: string) => ls(media).filter((n) => n.startsWith('.compose-backup-'));
const mediaOf = (bk: string) => path.join(bk, 'media');

/** The first few differences between two described trees, for a failure message. */
function treeDiff(want: Record<string, unknown>, got: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(want), ...Object.keys(got)])].sort();
  const diff = keys.filter((k) => JSON.stringify(want[k]) !== JSON.stringify(got[k]));
  const shown = diff.slice(0, 3).map((k) => `${k}: ${JSON.stringify(want[k]) ?? 'absent'} became ${JSON.stringify(got[k]) ?? 'absent'}`);
  return `${diff.length} differ${diff.length ? ` (${shown.join('; ')})` : ''}`;
}

/** A media folder with `n` top-level entries (files and folders), tagged so old and new differ. */
function fill(media: string, tag: string, n: number): void {
  fs.mkdirSync(media, { recursive: true });
  for (let i = 0; i < n; i++) {
    if (i % 10 === 0) {
      fs.mkdirSync(path.join(media, `dir-${i}`));
      fs.writeFileSync(path.join(media, `dir-${i}`, 'inner.txt'), `${tag} ${i}`);
    } else fs.writeFileSync(path.join(media, `${i % 3 ? tag : 'shared'}-${i}.txt`), `${tag} ${i}`);
  }
}

interface Backed {
  media: string;
  bk: string;
  env: Record<string, string>;
  name: string;
  fresh: ReturnType<typeof describeTree>;
  old: ReturnType<typeof describeTree>;
}

/** A media folder, a backup of it (the "new" tree), then the folder changed (the "old" tree). */
async function backedUp(n: number): Promise<Backed> {
  const root = scratch();
  const media = path.join(root, 'media');
  const bk = path.join(root, 'backups');
  fill(media, 'new', n);
  const env = { MEDIA_DIR: media, BACKUP_DIR: bk };
  const b = await runScript('backup-media', [], { env });
  assert.equal(b.code, 0, b.stderr);
  const fresh = describeTree(media);
  fs.rmSync(media, { recursive: true });
  fill(media, 'old', n);
  return { media, bk, env, name: path.basename(b.stdout.trim()), fresh, old: describeTree(media) };
}

/** Another case like `c`: its own folders, the same backup and trees. */
function copyOf(c: Backed): Backed {
  const root = scratch();
  const media = path.join(root, 'media');
  const bk = path.join(root, 'backups');
  execFileSync('cp', ['-a', c.media, media]);
  execFileSync('cp', ['-a', c.bk, bk]);
  return { ...c, media, bk, env: { MEDIA_DIR: media, BACKUP_DIR: bk } };
}

test('fifos, sockets and devices in the media folder are left out with a warning; the archive restores', async () => {
  const root = scratch();
  const media = path.join(root, 'media');
  fs.mkdirSync(path.join(media, 'uploads'), { recursive: true });
  fs.writeFileSync(path.join(media, 'uploads/photo.jpg'), 'jpeg');
  fs.writeFileSync(path.join(media, 'notes [draft] *.txt'), 'glob characters in a name');
  execFileSync('mkfifo', [path.join(media, 'uploads/pipe')]);
  execFileSync('mknod', [path.join(media, 'null-device'), 'c', '1', '3']);
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path.join(media, 'app.sock')]);
  // What must come back: everything but the special files.
  const keep = Object.fromEntries(Object.entries(describeTree(media)).filter(([, e]) => e.type !== 'other'));
  assert.equal(Object.keys(keep).length, 3);
  const bk = path.join(root, 'backups');
  const env = { MEDIA_DIR: media, BACKUP_DIR: bk };
  const b = await runScript('backup-media', [], { env });
  assert.equal(b.code, 0, b.stderr);
  const file = b.stdout.trim();
  const warned = [
    'left out "./app.sock": a socket (special files are not backed up)',
    'left out "./null-device": a device (special files are not backed up)',
    'left out "./uploads/pipe": a fifo (special files are not backed up)',
  ];
  const manifest = JSON.parse(fs.readFileSync(`${file}.manifest.json`, 'utf8'));
  assert.deepEqual([...manifest.media.warnings].sort(), warned);
  for (const w of warned) assert.ok(b.stderr.includes(`warning: ${w}`), w);
  assert.match(b.stderr, /\(3 warnings\)/);
  const v = await runScript('verify', [file], { env });
  assert.equal(v.code, 0, v.stderr);
  // Every archive the tool makes passes its own restore.
  fs.rmSync(media, { recursive: true });
  const r = await runScript('restore-media', [file, '--yes'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(describeTree(media), keep);
});

test('an archive replaced while the confirmation waits: the checked bytes are restored, or nothing is', async () => {
  for (const how of ['renamed over', 'written to in place'] as const) {
    const c = await backedUp(5);
    const file = path.join(mediaOf(c.bk), c.name);
    // What would land if the file were opened again by its name: a device, an absolute symlink,
    // a setuid-root program, and other content.
    const hostile = path.join(path.dirname(file), '.hostile');
    compressTo(hostile, handTar([
      { name: './', type: 'dir' },
      { name: './new-0.txt', type: 'file', data: 'replaced' },
      { name: './null', type: 'char' },
      { name: './passwd', type: 'symlink', link: '/etc/passwd' },
      { name: './suid', type: 'file', data: '#!/bin/sh\n', mode: 0o4755 },
    ]));
    const run = runAtTerminal(['npx', 'zx', 'scripts/restore-media.ts', c.name], { cwd: ROOT, env: baseEnv(c.env) });
    await run.waitFor('Type local to continue:');
    if (how === 'written to in place') fs.writeFileSync(file, fs.readFileSync(hostile));
    else fs.renameSync(hostile, file);
    run.type('local');
    const { code, output } = await run.done;
    if (how === 'written to in place') {
      assert.equal(code, 1, output);
      assert.match(output, /changed after it was checked/);
      assert.match(output, /restore failed, the media folder is unchanged/);
      assert.deepEqual(describeTree(c.media), c.old);
    } else {
      // The open file is the checked one: its content is restored, not what was put under its name.
      assert.equal(code, 0, output);
      assert.deepEqual(describeTree(c.media), c.fresh);
    }
    assert.deepEqual(work(c.media), [], how);
  }
});

test('restore-media killed at each step: the next operation completes or rolls back, exactly old or new', async () => {
  // [crash step, the tree after the repair, the operation that comes next]
  const steps: [string, 'old' | 'new', string][] = [
    ['restore-media:unpacked', 'old', 'backup-media'],
    ['media-swap:journaled', 'old', 'verify'],
    ['media-swap:out:7', 'old', 'restore-media'],
    ['media-swap:between', 'old', 'backup-media'],
    ['media-swap:in:1', 'new', 'verify'],
    ['media-swap:in:12', 'new', 'backup-media'],
    ['media-swap:done', 'new', 'scheduled-backup'],
  ];
  const first = await backedUp(20);
  await Promise.all(
    steps.map(async ([step, want, next]) => {
      const c = copyOf(first);
      const k = await runScript('restore-media', [c.name, '--yes'], { env: { ...c.env, COMPOSE_BACKUP_CRASH_AT: step }, newGroup: true });
      assert.equal(k.signal ?? k.code, 'SIGKILL', `${step}: killed (${k.code} ${k.stderr})`);
      assert.ok(work(c.media).length > 0, `${step}: the dead run left its work`);
      // The next operation: the restore again (which then restores), or one that only repairs first.
      const args = next === 'restore-media' ? [c.name, '--yes'] : [];
      const r = await runScript(next, args, { env: { ...c.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' } });
      assert.match(r.stderr, /repaired what an interrupted run left: /, `${step}: ${r.stderr}`);
      const said = want === 'old' ? (step === 'restore-media:unpacked' ? /removed the staging folder of the restore of run \d+/ : /rolled back the swap/) : step === 'media-swap:done' ? /after its swap had finished/ : /completed the swap/;
      assert.match(r.stderr, said, step);
      if (next === 'restore-media') {
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(describeTree(c.media), c.fresh, step);
      } else {
        assert.deepEqual(describeTree(c.media), want === 'old' ? c.old : c.fresh, `${step}: exactly the ${want} tree`);
      }
      assert.deepEqual(work(c.media), [], `${step}: nothing of the work left`);
      if (next === 'backup-media') {
        // The backup made after the repair holds the whole repaired tree.
        assert.equal(r.code, 0, r.stderr);
        const m = JSON.parse(fs.readFileSync(`${r.stdout.trim()}.manifest.json`, 'utf8'));
        assert.equal(m.media.files, Object.values(want === 'old' ? c.old : c.fresh).filter((e) => e.type === 'file').length);
      }
    }),
  );
});

test('restore-media killed at spread-out moments, again and again: each time the next run leaves exactly old or new', async () => {
  const c = await backedUp(3000);
  let sawOld = 0;
  for (const delayMs of [800, 1400, 2000, 2600, 3200, 3900]) {
    let pid = 0;
    const run = runScript('restore-media', [c.name, '--yes'], { env: c.env, newGroup: true, onSpawn: (p) => (pid = p) });
    const timer = setTimeout(() => killGroup(pid), delayMs);
    await run;
    clearTimeout(timer);
    const v = await runScript('verify', [c.name], { env: c.env });
    assert.equal(v.code, 0, v.stderr);
    const now = describeTree(c.media);
    const isOld = JSON.stringify(now) === JSON.stringify(c.old);
    const isNew = JSON.stringify(now) === JSON.stringify(c.fresh);
    assert.ok(isOld || isNew, `after a kill at ${delayMs} ms: neither the old nor the new media (work left: ${work(c.media).join(', ') || 'none'}; against the old: ${treeDiff(c.old, now)}; verify said: ${v.stderr})`);
    assert.deepEqual(work(c.media), []);
    if (isOld) sawOld++;
    else {
      // Back to an old tree for the next round. It is made again, so its mtimes are new: what the
      // next round must find is this tree, not the first one (under load a later kill can land
      // before the swap, and was then wrongly judged "neither").
      fs.rmSync(c.media, { recursive: true });
      fill(c.media, 'old', 3000);
      c.old = describeTree(c.media);
    }
  }
  assert.ok(sawOld > 0, 'some kills came before the swap');
  // Safety snapshots of killed runs never have a final name unless complete: each one restores.
  for (const snap of ls(mediaOf(c.bk)).filter((n) => /^temp_before_restore_.*\.tar\.zst$/.test(n))) {
    const v = await runScript('verify', [snap], { env: c.env });
    assert.equal(v.code, 0, `${snap}: ${v.stderr}`);
  }
});

test('a SIGTERM in the middle of the swap finishes the swap before the run stops, and says so', async () => {
  const c = await backedUp(40);
  // The first mv of the swap signals the whole process group (as `timeout` or systemd would), then
  // does its work: the swap goes on to its end, and only then does the run stop.
  const flag = path.join(path.dirname(c.media), 'signalled');
  const bin = fakeBin({ mv: `#!/bin/sh\nif [ ! -e "${flag}" ]; then : > "${flag}"; kill -TERM 0; fi\nexec /bin/mv "$@"\n` });
  made.push(bin);
  const r = await runScript('restore-media', [c.name, '--yes'], { env: { ...c.env, PATH: withPath(bin) }, newGroup: true });
  assert.ok(fs.existsSync(flag), 'the signal was sent during the swap');
  assert.match(r.stderr, /interrupted by SIGTERM during the swap of the media folder: finishing it first/);
  assert.match(r.stderr, /the swap was completed: the media folder is the restored one; stopping/);
  assert.deepEqual(describeTree(c.media), c.fresh);
  assert.deepEqual(work(c.media), []);
});

test('a media filesystem too small for the archive: refused before anything is written, saying how much space', async () => {
  const root = scratch();
  const src = path.join(root, 'src');
  fs.mkdirSync(src);
  // 48 MiB of zeros: a tiny archive that unpacks to far more than the 16 MiB filesystem holds.
  fs.writeFileSync(path.join(src, 'zeros.bin'), Buffer.alloc(48 << 20));
  const bk = path.join(root, 'backups');
  const b = await runScript('backup-media', [], { env: { MEDIA_DIR: src, BACKUP_DIR: bk } });
  assert.equal(b.code, 0, b.stderr);
  assert.ok(fs.statSync(b.stdout.trim()).size < 1 << 20);
  const media = path.join(root, 'media');
  fs.mkdirSync(media);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', media]);
  mounts.push(media);
  fs.writeFileSync(path.join(media, 'current.txt'), 'current');
  const before = describeTree(media);
  const r = await runScript('restore-media', [b.stdout.trim(), '--yes'], { env: { MEDIA_DIR: media, BACKUP_DIR: bk } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`error: refusing to restore media_backup_.*: not enough free space in ${media}: .* free, .* needed .*nothing was changed`));
  assert.deepEqual(describeTree(media), before);
  assert.deepEqual(work(media), []);
  assert.deepEqual(ls(mediaOf(bk)).filter((n) => n.startsWith('temp_before_restore')), [], 'no safety snapshot taken');
});
