// backup-media and restore-media end to end: the real `npx zx scripts/…` on real trees, with
// hostile and damaged archives, faults injected by tools placed first on PATH, and compose mode
// through the docker stand-in. Independent runs of one scenario go in parallel.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { runScript, tempDir, fakeBin, withPath, ls, writeConfig, FIXTURE_BIN, type RunResult } from '../helpers/cli.ts';
import { compressTo, describeTree, handTar, makeAwkwardTree, withoutSetIds } from '../helpers/media-tree.ts';

const STAMPED = /^media_backup_\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d\.tar\.zst$/;
const mediaDir = (bk: string) => path.join(bk, 'media');
const workFolders = (media: string) => ls(media).filter((n) => n.startsWith('.compose-backup-'));
const manifestOf = (file: string) => JSON.parse(fs.readFileSync(file + '.manifest.json', 'utf8'));

interface Case {
  root: string;
  media: string;
  bk: string;
  env: Record<string, string>;
}

const made: string[] = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const scratch = (prefix: string) => {
  const d = tempDir(prefix);
  made.push(d);
  return d;
};
const bin = (scripts: Record<string, string>) => {
  const d = fakeBin(scripts);
  made.push(d);
  return d;
};

function newCase(opts: { tree?: 'awkward' | 'small' | 'none' } = {}): Case {
  const root = scratch('cbt-media-');
  const media = path.join(root, 'media');
  const bk = path.join(root, 'backups');
  if (opts.tree !== 'none') {
    fs.mkdirSync(media);
    if (opts.tree === 'awkward') makeAwkwardTree(media);
    else {
      fs.mkdirSync(path.join(media, 'uploads/2024'), { recursive: true });
      fs.writeFileSync(path.join(media, 'uploads/2024/a.jpg'), 'jpeg bytes');
      fs.writeFileSync(path.join(media, 'notes.txt'), 'current media\n');
    }
  }
  return { root, media, bk, env: { MEDIA_DIR: media, BACKUP_DIR: bk } };
}

test('round trip: every awkward case comes back file by file; the safety snapshot is itself restorable', async () => {
  const c = newCase({ tree: 'awkward' });
  const original = describeTree(c.media);
  const b = await runScript('backup-media', [], { env: c.env });
  assert.equal(b.code, 0, b.stderr);
  const file = b.stdout.trim();
  assert.equal(path.dirname(file), mediaDir(c.bk));
  assert.match(path.basename(file), STAMPED);
  assert.equal((fs.statSync(file).mode & 0o777).toString(8), '600');
  const m = manifestOf(file);
  const entries = Object.values(original);
  assert.deepEqual(m.media, {
    files: entries.filter((e) => e.type === 'file').length,
    directories: entries.filter((e) => e.type === 'dir').length,
    bytes: Math.round(entries.filter((e) => e.type === 'file').reduce((s, e) => s + e.size! / e.nlink!, 0)),
    warnings: [],
  });
  assert.equal(m.kind, 'media');
  assert.match(b.stderr, new RegExp(`ok: media_backup_.*: ${m.media.files} files, `));

  // Change the media every way a user could.
  fs.rmSync(path.join(c.media, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(c.media, 'uploads/2024/01/photo one.jpg'), 'overwritten');
  fs.chmodSync(path.join(c.media, 'bin/run.sh'), 0o600);
  fs.unlinkSync(path.join(c.media, 'latest.jpg'));
  fs.symlinkSync('elsewhere', path.join(c.media, 'latest.jpg'));
  fs.rmSync(path.join(c.media, 'empty'), { recursive: true });
  fs.writeFileSync(path.join(c.media, 'added later.txt'), 'new');
  const changed = describeTree(c.media);

  const r = await runScript('restore-media', [path.basename(file), '--yes'], { env: c.env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(describeTree(c.media), withoutSetIds(original));
  assert.notDeepEqual(withoutSetIds(original), original, 'the tree has a setgid file');
  assert.match(r.stderr, /warning: media_backup_.* has 1 entry with setuid\/setgid bits; they are restored without them/);
  assert.deepEqual(workFolders(c.media), []);
  const snapshot = r.stdout.trim();
  assert.match(path.basename(snapshot), /^temp_before_restore_\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d\.tar\.zst$/);
  assert.equal(manifestOf(snapshot).role, 'snapshot');
  assert.match(r.stderr, /checking media_backup_[\s\S]*safety snapshot: [\s\S]*ok: media restored from media_backup_/);
  // Without a terminal: one line per step, no progress redraws.
  assert.doesNotMatch(b.stderr + r.stderr, /\r|\x1b\[/);

  const text = await runScript('list-backups', [], { env: c.env });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`Media backups:\\n {2}${path.basename(file).replace(/\./g, '\\.')} `));
  assert.match(text.stdout, new RegExp(`Safety snapshots \\(taken before restores\\):\\n {2}${path.basename(snapshot).replace(/\./g, '\\.')} `));
  // Restoring the safety snapshot (by path) brings back exactly what the restore replaced.
  const json = await runScript('restore-media', [snapshot, '--yes', '--json'], { env: c.env });
  assert.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout);
  assert.equal(out.restoredFrom, snapshot);
  assert.equal(out.mediaPath, c.media);
  assert.match(path.basename(out.safetySnapshot), /^temp_before_restore_.*\.tar\.zst$/);
  assert.deepEqual(describeTree(c.media), withoutSetIds(changed));
});

test('the seed\'s tar -czf archives and gzip backups restore whatever the compression setting; a missing media folder is created', async () => {
  const src = newCase({ tree: 'awkward' });
  const c = newCase({ tree: 'none' });
  fs.mkdirSync(mediaDir(c.bk), { recursive: true });
  // Exactly what the seed's backup does (GNU format: mtimes to the second), no manifest.
  const seedName = 'media_backup_2024_01_15T14_30_00.tar.gz';
  execFileSync('tar', ['-czf', path.join(mediaDir(c.bk), seedName), '-C', src.media, '.']);
  const r = await runScript('restore-media', [seedName, '--yes'], { env: { ...c.env, BACKUP_COMPRESSION: 'zstd' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '', 'nothing to take a safety snapshot of');
  assert.match(r.stderr, /does not exist; it will be created/);
  assert.deepEqual(describeTree(c.media, { mtimeSeconds: true }), withoutSetIds(describeTree(src.media, { mtimeSeconds: true })));

  const g = await runScript('backup-media', [], { env: { ...src.env, BACKUP_COMPRESSION: 'gzip' } });
  assert.equal(g.code, 0, g.stderr);
  const gz = g.stdout.trim();
  assert.match(path.basename(gz), /^media_backup_.*\.tar\.gz$/);
  execFileSync('gzip', ['-t', gz]);
  fs.rmSync(c.media, { recursive: true });
  fs.mkdirSync(c.media);
  const r2 = await runScript('restore-media', [gz, '--yes'], { env: { ...c.env, BACKUP_COMPRESSION: 'zstd' } });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(r2.stdout, '', 'an empty media folder needs no safety snapshot');
  assert.match(r2.stderr, /is empty; no safety snapshot needed/);
  assert.deepEqual(describeTree(c.media), withoutSetIds(describeTree(src.media)));
});

interface Hostile {
  label: string;
  build: (c: Case, outside: string) => Buffer;
  entry: RegExp;
}

test('hostile archives are refused before anything is written: nothing outside, media unchanged, snapshots kept', async () => {
  const cases: Hostile[] = [
    {
      label: '../escape',
      build: (c) => {
        const work = path.join(c.root, 'work', 'sub');
        fs.mkdirSync(work, { recursive: true });
        fs.writeFileSync(path.join(c.root, 'work', 'escape'), 'escaped');
        return execFileSync('tar', ['-P', '-cf', '-', '../escape'], { cwd: work });
      },
      entry: /entry "\.\.\/escape": path contains "\.\."/,
    },
    {
      label: '/abs/path',
      build: (_c, outside) => {
        const target = path.join(outside, 'planted');
        fs.writeFileSync(target, 'planted');
        const tar = execFileSync('tar', ['-P', '-cf', '-', target]);
        fs.unlinkSync(target);
        return tar;
      },
      entry: /entry "\/.*\/outside\/planted": absolute path/,
    },
    {
      label: 'symlink out, then a file through it',
      build: (_c, outside) => handTar([{ name: './', type: 'dir' }, { name: './out', type: 'symlink', link: outside }, { name: './out/planted', type: 'file', data: 'through' }]),
      entry: /entry "\.\/out": symlink to absolute target/,
    },
    {
      label: 'symlink chain through an archived link',
      build: () => handTar([{ name: './a', type: 'symlink', link: '.' }, { name: './a/b', type: 'symlink', link: '../outside' }, { name: './a/b/planted', type: 'file', data: 'x' }]),
      entry: /entry "\.\/a\/b": path goes through the archive's symlink "a"/,
    },
    {
      label: 'hardlink out',
      build: () => handTar([{ name: './', type: 'dir' }, { name: './ok.txt', type: 'file', data: 'fine' }, { name: './h', type: 'hardlink', link: '../outside/secret' }]),
      entry: /entry "\.\/h": hardlink pointing outside the media folder \("\.\.\/outside\/secret"\)/,
    },
    {
      label: 'device node and fifo (mknod as root)',
      build: (c) => {
        const dev = path.join(c.root, 'devtree');
        fs.mkdirSync(dev);
        fs.writeFileSync(path.join(dev, 'a.txt'), 'a');
        execFileSync('mknod', [path.join(dev, 'b-null'), 'c', '1', '3']);
        execFileSync('mkfifo', [path.join(dev, 'c-fifo')]);
        return execFileSync('tar', ['-cf', '-', '-C', dev, './a.txt', './b-null', './c-fifo']);
      },
      entry: /entry "\.\/b-null": device node \(character special\)/,
    },
  ];
  const runs = cases.map(async (h, i) => {
    const c = newCase();
    const outside = path.join(c.root, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret'), 'do not touch');
    const name = `media_backup_2024_02_0${i + 1}T00_00_00.tar.zst`;
    fs.mkdirSync(mediaDir(c.bk), { recursive: true });
    compressTo(path.join(mediaDir(c.bk), name), h.build(c, outside));
    // A safety snapshot from an earlier restore must survive.
    fs.writeFileSync(path.join(mediaDir(c.bk), 'temp_before_restore_2024_01_01T00_00_00.tar.zst'), 'earlier snapshot');
    const media = describeTree(c.media);
    const tree = ls(mediaDir(c.bk));
    const before = describeTree(outside);
    const r = await runScript('restore-media', [name, '--yes'], { env: c.env });
    return { h, c, r, media, tree, before, outside, name };
  });
  for (const { h, c, r, media, tree, before, outside, name } of await Promise.all(runs)) {
    assert.equal(r.code, 1, `${h.label}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`error: refusing to restore ${name}: ${h.entry.source}`), h.label);
    assert.deepEqual(describeTree(outside), before, `${h.label}: nothing written outside`);
    assert.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'do not touch');
    assert.deepEqual(describeTree(c.media), media, `${h.label}: media unchanged`);
    assert.deepEqual(ls(mediaDir(c.bk)), tree, `${h.label}: no snapshot taken or deleted`);
    assert.equal(r.stdout, '');
  }
});

test('truncated, corrupt, and failing-while-unpacking archives leave the media exactly as it was', async () => {
  const src = newCase({ tree: 'awkward' });
  const archive = execFileSync('tar', ['-cf', '-', '--format=posix', '-C', src.media, '.'], { maxBuffer: 1 << 30 });
  const setup = (name: string, bytes: (good: Buffer) => Buffer) => {
    const c = newCase();
    fs.mkdirSync(mediaDir(c.bk), { recursive: true });
    const file = path.join(mediaDir(c.bk), name);
    compressTo(file, archive);
    fs.writeFileSync(file, bytes(fs.readFileSync(file)));
    return { c, name, media: describeTree(c.media) };
  };
  const truncated = setup('media_backup_2024_03_01T00_00_00.tar.zst', (b) => b.subarray(0, Math.floor(b.length / 2)));
  const corrupt = setup('media_backup_2024_03_02T00_00_00.tar.zst', (b) => {
    const x = Buffer.from(b);
    for (let i = 0; i < 32; i++) x[Math.floor(x.length / 3) + i]! ^= 0xff;
    return x;
  });
  const truncatedGz = setup('media_backup_2024_03_03T00_00_00.tar.gz', (b) => b.subarray(0, b.length - 1000));
  // The archive is sound, but tar dies after unpacking everything (a full disk, say).
  const tarDies = setup('media_backup_2024_03_04T00_00_00.tar.zst', (b) => b);
  const failingTar = bin({
    tar: `#!/bin/sh\ncase " $* " in *" -x "*) /usr/bin/tar "$@"; echo "tar: write error: No space left on device" >&2; exit 2 ;; esac\nexec /usr/bin/tar "$@"\n`,
  });
  // Or the decompressor fails after tar read a complete-looking stream: the swap must not happen.
  const zstdDies = setup('media_backup_2024_03_05T00_00_00.tar.zst', (b) => b);
  const count = path.join(zstdDies.c.root, 'zstd-calls');
  const failingZstd = bin({
    zstd: `#!/bin/sh\ncase " $* " in *" -d "*)\n  n=$(cat "${count}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${count}"\n  if [ "$n" = 2 ]; then /usr/bin/zstd "$@"; echo "zstd: injected read error" >&2; exit 1; fi ;;\nesac\nexec /usr/bin/zstd "$@"\n`,
  });

  const [rt, rc, rg, rd, rz] = await Promise.all([
    runScript('restore-media', [truncated.name, '--yes'], { env: truncated.c.env }),
    runScript('restore-media', [corrupt.name, '--yes'], { env: corrupt.c.env }),
    runScript('restore-media', [truncatedGz.name, '--yes'], { env: truncatedGz.c.env }),
    runScript('restore-media', [tarDies.name, '--yes'], { env: { ...tarDies.c.env, PATH: withPath(failingTar) } }),
    runScript('restore-media', [zstdDies.name, '--yes'], { env: { ...zstdDies.c.env, PATH: withPath(failingZstd) } }),
  ]);
  for (const [r, k] of [[rt, truncated], [rc, corrupt], [rg, truncatedGz]] as const) {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`error: ${k.name.replace(/\./g, '\\.')} is damaged or truncated \\(.*\\); nothing was changed`));
    assert.deepEqual(describeTree(k.c.media), k.media);
    assert.deepEqual(ls(mediaDir(k.c.bk)), [k.name], 'refused before any safety snapshot');
  }
  for (const [r, k, why] of [[rd, tarDies, /no space left on .*\(the disk is full\): .*No space left on device/], [rz, zstdDies, /injected read error/]] as const) {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: restore failed, the media folder is unchanged: /);
    assert.match(r.stderr, why);
    assert.deepEqual(describeTree(k.c.media), k.media);
    assert.deepEqual(workFolders(k.c.media), []);
    // The safety snapshot taken before unpacking stays, as the seed's did.
    assert.equal(ls(mediaDir(k.c.bk)).filter((n) => /^temp_before_restore_.*\.tar\.zst$/.test(n)).length, 1);
  }
});

test('restore-media refuses without confirmation (exit 3) and bad names (exit 2) before touching anything', async () => {
  const c = newCase();
  fs.mkdirSync(mediaDir(c.bk), { recursive: true });
  const name = 'media_backup_2024_04_01T00_00_00.tar.zst';
  compressTo(path.join(mediaDir(c.bk), name), handTar([{ name: './', type: 'dir' }, { name: './new.txt', type: 'file', data: 'new' }]));
  const media = describeTree(c.media);
  const [noTty, dbName, unknown, junk] = await Promise.all([
    runScript('restore-media', [name], { env: c.env }),
    runScript('restore-media', ['backup_2024_04_01T00_00_00.sql.zst', '--yes'], { env: c.env }),
    runScript('restore-media', ['media_backup_2024_04_02T00_00_00.tar.zst', '--yes'], { env: c.env }),
    runScript('restore-media', ['../../etc/passwd', '--yes'], { env: c.env }),
  ]);
  assert.equal(noTty.code, 3, noTty.stderr);
  assert.match(noTty.stderr, /confirmation needed and no terminal is attached; add --yes/);
  assert.equal(dbName.code, 2);
  assert.match(dbName.stderr, /is a database backup, not a media backup/);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no such backup/);
  assert.equal(junk.code, 2);
  assert.match(junk.stderr, /is not a backup name this tool makes/);
  assert.deepEqual(describeTree(c.media), media);
  assert.deepEqual(ls(mediaDir(c.bk)), [name]);
});

/** Start a writer appending to `file` as fast as it can until stop() (a log being written, a video uploading). */
function appender(file: string): { stop: () => Promise<void> } {
  const child = spawn('sh', ['-c', 'while :; do printf x >> "$1"; done', 'sh', file], { stdio: 'ignore' });
  return { stop: () => new Promise((resolve) => { child.once('close', () => resolve()); child.kill('SIGKILL'); }) };
}

test('backup-media: missing folder and unreadable file fail with no file left; an empty folder and a file changing while read do not', async () => {
  const missing = newCase({ tree: 'none' });
  const empty = newCase({ tree: 'none' });
  fs.mkdirSync(empty.media);
  // Tests run as root, who reads any file; tar run as nobody meets a real EACCES, as a backup
  // running as an unprivileged user would on a file another user made private.
  const unreadable = newCase();
  fs.chmodSync(unreadable.root, 0o755);
  fs.chmodSync(unreadable.media, 0o755);
  fs.writeFileSync(path.join(unreadable.media, 'uploads/private.pdf'), 'secret');
  fs.chmodSync(path.join(unreadable.media, 'uploads/private.pdf'), 0o000);
  const asNobody = bin({ tar: '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/tar "$@"\n' });
  const changing = newCase();
  const big = path.join(changing.media, 'uploads/video.mp4');
  fs.writeFileSync(big, Buffer.alloc(64 * 1024 * 1024, 7));
  const writer = appender(big);
  let results: RunResult[];
  try {
    results = await Promise.all([
      runScript('backup-media', [], { env: missing.env }),
      runScript('backup-media', ['--json'], { env: empty.env }),
      runScript('backup-media', [], { env: { ...unreadable.env, PATH: withPath(asNobody) } }),
      runScript('backup-media', [], { env: changing.env }),
    ]);
  } finally {
    await writer.stop();
  }
  const [rm, re, ru, rc] = results;
  assert.equal(rm!.code, 1);
  assert.match(rm!.stderr, new RegExp(`error: media backup failed: media folder ${missing.media} does not exist; set MEDIA_DIR`));
  assert.equal(rm!.stdout, '');
  assert.deepEqual(ls(mediaDir(missing.bk)), []);

  assert.equal(re!.code, 0, re!.stderr);
  const ej = JSON.parse(re!.stdout);
  assert.deepEqual([ej.files, ej.directories, ej.bytes, ej.warnings], [0, 0, 0, []]);
  assert.ok(fs.statSync(ej.path).size < 1024, 'an empty folder makes a tiny archive');

  assert.equal(ru!.code, 1, ru!.stderr);
  assert.match(ru!.stderr, /error: media backup failed: tar: "\.\/uploads\/private\.pdf": Cannot open: Permission denied/);
  assert.equal(ru!.stdout, '');
  assert.deepEqual(ls(mediaDir(unreadable.bk)), [], 'no final name and no temporary file left');

  assert.equal(rc!.code, 0, rc!.stderr);
  assert.match(rc!.stderr, /warning: tar: "\.\/uploads\/video\.mp4": file changed as we read it/);
  assert.deepEqual(manifestOf(rc!.stdout.trim()).media.warnings, ['tar: "./uploads/video.mp4": file changed as we read it']);
  assert.match(rc!.stderr, /\(1 warning/);
});

test('compose mode through the docker stand-in: exec -T to archive, run --rm --no-deps -T to restore', async () => {
  const c = newCase({ tree: 'awkward' });
  fs.writeFileSync(path.join(c.root, 'production.yml'), 'services:\n  django:\n    image: app\n  postgres:\n    image: postgres\n');
  const config = writeConfig(c.root, `environments:
  production:
    backupDir: ./backups
    compose: { file: ./production.yml }
    media: { mode: compose, service: django, path: ${c.media}, exclude: ['*.tmp'] }
`);
  fs.writeFileSync(path.join(c.media, 'upload.tmp'), 'half-uploaded');
  const log = path.join(c.root, 'standin.log');
  const env = { PATH: withPath(FIXTURE_BIN), STANDIN_LOG: log };
  const args = ['--config', config, '--env', 'production'];
  const b = await runScript('backup-media', args, { env });
  assert.equal(b.code, 0, b.stderr);
  const file = b.stdout.trim();
  assert.match(path.basename(file), STAMPED);
  fs.unlinkSync(path.join(c.media, 'upload.tmp'));
  const original = describeTree(c.media);
  fs.rmSync(path.join(c.media, 'uploads'), { recursive: true });

  const [r, down] = await Promise.all([
    runScript('restore-media', [path.basename(file), '--yes', ...args], { env }),
    runScript('backup-media', args, { env: { ...env, STANDIN_DOWN: 'django', STANDIN_LOG: undefined } }),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(describeTree(c.media), withoutSetIds(original), 'the excluded *.tmp is not restored');
  assert.match(path.basename(r.stdout.trim()), /^temp_before_restore_/);
  const calls = fs.readFileSync(log, 'utf8').split('\x1f\n').filter(Boolean).map((l) => l.split('\x1f'));
  // Where each call ran (the running service, or a one-off container) and what: an action of the
  // media script, or the create script (named by its folder).
  const exec = `compose -f ${c.root}/production.yml exec -T django sh -c`;
  const run = `compose -f ${c.root}/production.yml run --rm --no-deps -T django sh -c`;
  const shape = calls.map((a) => `${a.slice(0, a.indexOf('-c') + 1).join(' ')} ${a[a.indexOf('-c') + 3] === c.media ? 'create' : a[a.indexOf('-c') + 3]}`);
  // The backup: a look (and repair) in the running service, then the archive.
  assert.deepEqual(shape.slice(0, 2), [`${exec} survey`, `${exec} create`]);
  // The restore, all in one-off containers: the safety snapshot and the unpack side by side.
  assert.deepEqual(shape.slice(2, 4), [`${run} survey`, `${run} prepare`]);
  assert.deepEqual(shape.slice(4, 6).sort(), [`${run} create`, `${run} unpack`]);
  assert.deepEqual(shape.slice(6), [`${run} commit`, `${run} settle`]);
  assert.ok(calls[1]!.includes('--exclude=*.tmp'));

  assert.equal(down.code, 1);
  assert.match(down.stderr, /error: media backup failed: cannot look at the media folder .*: service "django" is not running/);
  assert.equal(down.stdout, '');
});
