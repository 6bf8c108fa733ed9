// The media core: tar listing lines, the safety rules for entries, whole-archive checks on real
// archives (GNU tar's and hand-built hostile ones), the tar command lines, and the in-place sh
// script run directly (probe, unpack failure, swap rollback).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { checkArchive, ListingScanner, parseListingLine, unsafeReason, type ArchiveEntry } from '../lib/archive.ts';
import { CreateLog, EXTRACT_FLAGS, MEDIA_SCRIPT, OLD_PREFIX, STAGING_PREFIX, halfFailure, mediaArgv, parseProbe, scriptArgv, tarCreateArgv } from '../lib/media.ts';
import type { MediaTarget } from '../lib/config.ts';
import { FailedError } from '../lib/errors.ts';
import { tempDir, fakeBin, withPath } from './helpers/cli.ts';
import { compressTo, describeTree, handTar, makeAwkwardTree } from './helpers/media-tree.ts';

const T = '2026-11-29 01:06:32.308754502';
const entry = (over: Partial<ArchiveEntry>): ArchiveEntry => ({ type: 'file', path: './x', linkTarget: null, size: 0, mode: 0o644, mtime: T, ...over });

test('parseListingLine reads every shape GNU tar -tvv prints', () => {
  const table: [string, Partial<ArchiveEntry> | null][] = [
    [`-rw-r--r-- 0/0               5 ${T} "./a b.txt"`, { type: 'file', path: './a b.txt', size: 5, mode: 0o644 }],
    [`-rw-r--r-- 0/0 1 ${T} "./new\\nline \\303\\274\\t\\"q\\\\"`, { path: './new\nline ü\t"q\\', size: 1 }],
    // A raw (non-C locale) listing carries UTF-8 as is.
    [`-rw-r--r-- 0/0 1 ${T} "./ü"`, { path: './ü' }],
    [`drwxr-xr-x 0/0 0 ${T} "./"`, { type: 'dir', path: './', mode: 0o755 }],
    [`drwxrwxrwt 0/0 0 ${T} "./tmp/"`, { type: 'dir', mode: 0o1777 }],
    [`-rwsr-sr-x 33/33 9 2026-11-29 01:06:32 "./suid"`, { mode: 0o6755, mtime: '2026-11-29 01:06:32', size: 9 }],
    [`-rwSr--r-- 0/0 0 ${T} "./S"`, { mode: 0o4644 }],
    [`lrwxrwxrwx 0/0 0 ${T} "./lnk" -> "sp ace"`, { type: 'symlink', path: './lnk', linkTarget: 'sp ace', mode: 0o777 }],
    [`lrwxrwxrwx 0/0 0 ${T} "./a -> b" -> "c -> d"`, { type: 'symlink', path: './a -> b', linkTarget: 'c -> d' }],
    [`hrw-r--r-- 0/0 0 ${T} "./hard" link to "./sp ace/a -> b"`, { type: 'hardlink', path: './hard', linkTarget: './sp ace/a -> b' }],
    [`hrw-r--r-- 0/0 0 ${T} "./x link to y" link to "./z"`, { type: 'hardlink', path: './x link to y', linkTarget: './z' }],
    [`crw-r--r-- 0/0             1,3 ${T} "./null"`, { type: 'char', size: 0 }],
    [`brw-rw---- 0/6 8, 0 ${T} "./sda"`, { type: 'block', mode: 0o660 }],
    [`prw-r--r-- 0/0 0 ${T} "./fifo"`, { type: 'fifo' }],
    [`Vrw-r--r-- 0/0 0 ${T} "label"`, { type: 'other', path: 'label' }],
    [`tar: Removing leading \`/' from member names`, null],
    [`-rw-r--r-- 0/0 5 ${T} "./unterminated`, null],
    [`-rw-r--r-- 0/0 5 ${T} "./x" trailing`, null],
    [`lrwxrwxrwx 0/0 0 ${T} "./l" -> "bad\\q"`, null],
    ['', null],
  ];
  for (const [line, want] of table) {
    const got = parseListingLine(line);
    if (want === null) {
      assert.equal(got, null, line);
      continue;
    }
    assert.ok(got, line);
    const full = { type: 'file', linkTarget: null, mtime: T, ...want };
    for (const [k, v] of Object.entries(full)) assert.deepEqual(got[k as keyof ArchiveEntry], v, `${line}: ${k}`);
  }
});

test('unsafeReason: absolute, .., devices, fifos, links that leave the root', () => {
  const table: [Partial<ArchiveEntry>, RegExp | null][] = [
    [{ path: './ok/file' }, null],
    [{ path: 'ok/file' }, null],
    [{ path: './a..b/..c' }, null],
    [{ path: '/etc/x' }, /^absolute path "\/etc\/x"$/],
    [{ path: '../escape' }, /path contains "\.\."/],
    [{ path: './a/../../b' }, /path contains "\.\."/],
    [{ type: 'char', path: './null' }, /device node \(character special\)/],
    [{ type: 'block', path: './sda' }, /device node \(block special\)/],
    [{ type: 'fifo', path: './p' }, /named pipe/],
    [{ type: 'other', path: './v' }, /unsupported/],
    [{ type: 'symlink', path: './l', linkTarget: 'sub/file' }, null],
    [{ type: 'symlink', path: './l', linkTarget: '.' }, null],
    [{ type: 'symlink', path: './d/l', linkTarget: '..' }, null],
    [{ type: 'symlink', path: './d/l', linkTarget: '../other/f' }, null],
    [{ type: 'symlink', path: './d/e/l', linkTarget: '../../f' }, null],
    [{ type: 'symlink', path: './l', linkTarget: '..' }, /symlink pointing outside the media folder/],
    [{ type: 'symlink', path: './d/l', linkTarget: '../../etc/passwd' }, /symlink pointing outside/],
    [{ type: 'symlink', path: './l', linkTarget: '/etc/passwd' }, /symlink to absolute target "\/etc\/passwd"/],
    [{ type: 'symlink', path: './l', linkTarget: 'a/../..' }, /has "\.\." after a name/],
    [{ type: 'symlink', path: './d/l', linkTarget: 'a/..' }, /has "\.\." after a name/],
    [{ type: 'symlink', path: './l', linkTarget: '' }, /empty target/],
    [{ type: 'hardlink', path: './h', linkTarget: './sub/f' }, null],
    [{ type: 'hardlink', path: './d/h', linkTarget: 'f' }, null],
    [{ type: 'hardlink', path: './d/h', linkTarget: '../outside/secret' }, /hardlink pointing outside/],
    [{ type: 'hardlink', path: './h', linkTarget: '/etc/shadow' }, /hardlink to absolute target/],
    [{ type: 'hardlink', path: './h', linkTarget: '.' }, /hardlink to the archive root/],
  ];
  for (const [e, want] of table) {
    const got = unsafeReason(entry(e));
    if (want === null) assert.equal(got, null, JSON.stringify(e));
    else assert.match(got ?? '(safe)', want, JSON.stringify(e));
  }
});

test('ListingScanner: counts, nothing below an archived symlink, unreadable lines refused', () => {
  const s = new ListingScanner();
  for (const l of [
    `drwxr-xr-x 0/0 0 ${T} "./"`,
    `drwxr-xr-x 0/0 0 ${T} "./d/"`,
    `-rw-r--r-- 0/0 10 ${T} "./d/f"`,
    `hrw-r--r-- 0/0 0 ${T} "./d/g" link to "./d/f"`,
    `lrwxrwxrwx 0/0 0 ${T} "./a" -> "."`,
    `lrwxrwxrwx 0/0 0 ${T} "./ab" -> "d"`,
    '',
  ]) s.line(l);
  assert.deepEqual({ e: s.entries, f: s.files, d: s.directories, b: s.bytes, u: s.unsafe }, { e: 6, f: 2, d: 1, b: 10, u: null });
  // `a -> .` is harmless alone, but `a/b -> ../x` would land outside once `a` resolves.
  s.line(`lrwxrwxrwx 0/0 0 ${T} "./a/b" -> "../outside"`);
  assert.equal(s.unsafe, `entry "./a/b": path goes through the archive's symlink "a"`);
  const h = new ListingScanner();
  h.line(`lrwxrwxrwx 0/0 0 ${T} "./s" -> "d"`);
  h.line(`hrw-r--r-- 0/0 0 ${T} "./h" link to "./s/f"`);
  assert.match(h.unsafe ?? '', /hardlink target goes through the archive's symlink "s"/);
  const u = new ListingScanner();
  u.line('something else entirely');
  assert.match(u.unsafe ?? '', /listing line not understood/);
});

test('checkArchive: real archives pass with their counts; truncated, corrupt and hostile ones do not', async () => {
  const dir = tempDir('cbt-arch-');
  const media = path.join(dir, 'media');
  fs.mkdirSync(media);
  makeAwkwardTree(media);
  const argv = tarCreateArgv(media, []);
  const tar = execFileSync(argv[0]!, argv.slice(1), { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  const zst = path.join(dir, 'good.tar.zst');
  const gz = path.join(dir, 'good.tar.gz');
  compressTo(zst, tar);
  compressTo(gz, tar);
  const tree = describeTree(media);
  const files = Object.values(tree).filter((d) => d.type === 'file');
  // A hardlinked file's data is archived once: each of its n names counts 1/n of its size.
  const dataBytes = Math.round(files.reduce((sum, f) => sum + f.size! / f.nlink!, 0));
  for (const [file, codec] of [[zst, 'zstd'], [gz, 'gzip']] as const) {
    const c = await checkArchive(file, codec);
    assert.equal(c.ok, true, JSON.stringify(c));
    assert.equal(c.files, files.length);
    assert.equal(c.directories, Object.values(tree).filter((d) => d.type === 'dir').length);
    assert.equal(c.entries, Object.keys(tree).length + 1);
    assert.equal(c.bytes, dataBytes);
  }
  const bytes = fs.readFileSync(zst);
  const truncated = path.join(dir, 'truncated.tar.zst');
  fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const corrupt = path.join(dir, 'corrupt.tar.zst');
  const flipped = Buffer.from(bytes);
  for (let i = 0; i < 64; i++) flipped[Math.floor(flipped.length / 2) + i]! ^= 0x5a;
  fs.writeFileSync(corrupt, flipped);
  const gzBytes = fs.readFileSync(gz);
  const truncatedGz = path.join(dir, 'truncated.tar.gz');
  fs.writeFileSync(truncatedGz, gzBytes.subarray(0, gzBytes.length - 100));
  const notTar = path.join(dir, 'nottar.tar.zst');
  compressTo(notTar, Buffer.from('hello, this is not a tar archive\n'.repeat(100)));
  for (const [file, codec] of [[truncated, 'zstd'], [corrupt, 'zstd'], [truncatedGz, 'gzip'], [notTar, 'zstd']] as const) {
    const c = await checkArchive(file, codec);
    assert.equal(c.ok, false, file);
    assert.match(c.failure ?? '', /failed/, file);
  }

  // Hostile archives made by GNU tar itself (-P keeps what it would otherwise strip)…
  const work = path.join(dir, 'work', 'sub');
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(path.join(dir, 'work', 'escape'), 'x');
  const dotdot = path.join(dir, 'dotdot.tar.zst');
  compressTo(dotdot, execFileSync('tar', ['-P', '-cf', '-', '../escape'], { cwd: work }));
  const abs = path.join(dir, 'abs.tar.zst');
  compressTo(abs, execFileSync('tar', ['-P', '-cf', '-', path.join(dir, 'work', 'escape')]));
  // …and crafted ones.
  const crafted = path.join(dir, 'crafted.tar.zst');
  compressTo(crafted, handTar([{ name: './', type: 'dir' }, { name: './ok', type: 'file', data: 'fine' }, { name: './h', type: 'hardlink', link: '../outside/secret' }, { name: './later', type: 'char' }]));
  const expected: [string, string][] = [
    [dotdot, 'entry "../escape": path contains ".."'],
    [abs, `entry "${path.join(dir, 'work', 'escape')}": absolute path "${path.join(dir, 'work', 'escape')}"`],
    [crafted, 'entry "./h": hardlink pointing outside the media folder ("../outside/secret")'],
  ];
  for (const [file, unsafe] of expected) {
    const c = await checkArchive(file, 'zstd');
    assert.equal(c.ok, false);
    assert.equal(c.failure, null);
    assert.equal(c.unsafe, unsafe);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

const hostTarget = (p: string, exclude: string[] = []): MediaTarget => ({ mode: 'host', path: p, exclude });
const composeTarget: MediaTarget = { mode: 'compose', service: 'django', path: '/app/app/media', exclude: [], compose: { file: '/srv/app/production.yml', projectDirectory: null } };

test('command lines: tar create, where commands run, the script actions', () => {
  assert.deepEqual(tarCreateArgv('/srv/media', ['cache/*', '*.tmp']), [
    'env', 'LC_ALL=C', 'tar', '-c', '-f', '-', '--format=posix', '--pax-option=delete=atime,delete=ctime',
    '-vv', '--quoting-style=c', '--full-time', '--numeric-owner',
    '--anchored', '--exclude=./.compose-backup-staging-*', '--exclude=./.compose-backup-old-*', '--no-anchored',
    '--exclude=cache/*', '--exclude=*.tmp', '-C', '/srv/media', '.',
  ]);
  assert.deepEqual(mediaArgv(hostTarget('/m'), 'exec', ['tar', '-c']), ['tar', '-c']);
  assert.deepEqual(mediaArgv(composeTarget, 'exec', ['tar', '-c']), ['docker', 'compose', '-f', '/srv/app/production.yml', 'exec', '-T', 'django', 'tar', '-c']);
  assert.deepEqual(mediaArgv(composeTarget, 'run', ['tar', '-c']), ['docker', 'compose', '-f', '/srv/app/production.yml', 'run', '--rm', '--no-deps', '-T', 'django', 'tar', '-c']);
  assert.deepEqual(scriptArgv(composeTarget, 'unpack', 'tok', EXTRACT_FLAGS).slice(-9), ['django', 'sh', '-c', MEDIA_SCRIPT, 'sh', 'unpack', '/app/app/media', 'tok', ...EXTRACT_FLAGS].slice(-9));
  assert.deepEqual(scriptArgv(hostTarget('/m'), 'commit', 'tok'), ['sh', '-c', MEDIA_SCRIPT, 'sh', 'commit', '/m', 'tok']);
});

test('parseProbe, CreateLog and halfFailure', () => {
  assert.deepEqual(parseProbe('noise from an entrypoint\nmedia-leftover: .compose-backup-old-x\nmedia-state: full\n'), { state: 'full', leftovers: ['.compose-backup-old-x'] });
  assert.deepEqual(parseProbe('media-state: missing'), { state: 'missing', leftovers: [] });
  assert.equal(parseProbe('sh: not found'), null);

  const log = new CreateLog();
  for (const l of [
    `drwxr-xr-x 0/0 0 ${T} "./"`,
    `drwxr-xr-x 0/0 0 ${T} "./d/"`,
    `-rw-r--r-- 0/0 7 ${T} "./d/f"`,
    `hrw-r--r-- 0/0 0 ${T} "./d/g" link to "./d/f"`,
    'tar: "./d/f": file changed as we read it',
    '/usr/bin/tar: "./x": Cannot open: Permission denied',
    'tar: Exiting with failure status due to previous errors',
  ]) log.line(l);
  assert.deepEqual({ f: log.files, d: log.directories, b: log.bytes, e: log.entries }, { f: 2, d: 1, b: 7, e: 4 });
  assert.deepEqual(log.warnings(), ['tar: "./d/f": file changed as we read it', 'tar: "./x": Cannot open: Permission denied']);
  const many = new CreateLog();
  for (let i = 0; i < 105; i++) many.line(`tar: "./f${i}": file changed as we read it`);
  assert.equal(many.warnings().length, 101);
  assert.equal(many.warnings()[100], '… and 5 more');

  assert.equal(halfFailure('database', new FailedError('database backup failed: pg_dump failed')), 'database backup failed: pg_dump failed');
  assert.equal(halfFailure('database', new FailedError('cannot reach the database: refused')), 'database backup failed: cannot reach the database: refused');
});

/** Run one action of the media script on this host, as host mode does. */
function script(action: string, media: string, token: string, opts: { input?: Buffer; env?: NodeJS.ProcessEnv; extra?: string[] } = {}) {
  const r = spawnSync('sh', ['-c', MEDIA_SCRIPT, 'sh', action, media, token, ...(opts.extra ?? [])], { input: opts.input, env: opts.env ?? process.env });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

test('media script: probe, excluded work folders, unpack failure and swap rollback leave the media as it was', () => {
  const dir = tempDir('cbt-script-');
  const media = path.join(dir, 'media');
  // The probe reports, then makes the media folder if missing and the run's staging folder.
  assert.equal(script('probe', media, 'p1').stdout, 'media-state: missing\n');
  assert.deepEqual(fs.readdirSync(media), [`${STAGING_PREFIX}p1`]);
  assert.equal(script('discard', media, 'p1').code, 0);
  assert.equal(script('probe', media, 'p2').stdout, 'media-state: empty\n');
  assert.equal(script('discard', media, 'p2').code, 0);
  fs.mkdirSync(path.join(media, `${STAGING_PREFIX}old-run`));
  assert.equal(script('probe', media, 'p3').stdout, `media-leftover: ${STAGING_PREFIX}old-run\nmedia-state: empty\n`);
  assert.equal(script('discard', media, 'p3').code, 0);
  makeAwkwardTree(media);
  fs.mkdirSync(path.join(media, `sub/${OLD_PREFIX}nested`), { recursive: true });
  assert.match(script('probe', media, 'p4').stdout, /media-state: full\n$/);
  assert.equal(script('discard', media, 'p4').code, 0);
  // Unpacking needs the staging folder the probe made.
  const unprobed = script('unpack', media, 'p5', { input: Buffer.alloc(0), extra: EXTRACT_FLAGS });
  assert.equal(unprobed.code, 1);
  assert.match(unprobed.stderr, /no staging folder/);

  // Work folders at the top are never archived; the same names deeper down are user data.
  const listing = execFileSync('sh', ['-c', 'tar "$@" 2>&1 >/dev/null', 'sh', ...tarCreateArgv(media, []).slice(3)], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  assert.doesNotMatch(listing, new RegExp(`"\\./${STAGING_PREFIX}old-run`));
  assert.match(listing, new RegExp(`"\\./sub/${OLD_PREFIX}nested/"`));
  fs.rmSync(path.join(media, `${STAGING_PREFIX}old-run`), { recursive: true });

  const before = describeTree(media);
  const archive = execFileSync('tar', ['-c', '-f', '-', '--format=posix', '-C', media, '.'], { maxBuffer: 1 << 30 });

  // A tar that fails half-way: staging removed, media untouched.
  const cut = archive.subarray(0, Math.floor(archive.length * 0.6));
  script('probe', media, 'cut');
  const failed = script('unpack', media, 'cut', { input: cut, extra: EXTRACT_FLAGS });
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /unpacking failed; the media folder is unchanged/);
  assert.deepEqual(describeTree(media), before);

  // A swap whose second move of a staged entry fails: everything goes back.
  fs.writeFileSync(path.join(media, 'only-in-current.txt'), 'current');
  const current = describeTree(media);
  script('probe', media, 'ok');
  assert.equal(script('unpack', media, 'ok', { input: archive, extra: EXTRACT_FLAGS }).code, 0);
  assert.ok(fs.existsSync(path.join(media, `${STAGING_PREFIX}ok`)));
  const state = path.join(dir, 'mv-state');
  const bin = fakeBin({
    mv: `#!/bin/sh
case "$2" in *${STAGING_PREFIX}*)
  n=$(cat "${state}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${state}"
  if [ "$n" = 2 ]; then echo "mv: injected failure" >&2; exit 1; fi ;;
esac
exec /bin/mv "$@"
`,
  });
  const swap = script('commit', media, 'ok', { env: { ...process.env, PATH: withPath(bin) } });
  assert.equal(swap.code, 1);
  assert.match(swap.stderr, /injected failure[\s\S]*putting the previous media back[\s\S]*as it was/);
  assert.deepEqual(describeTree(media), current);
  assert.deepEqual(fs.readdirSync(media).filter((n) => n.startsWith('.compose-backup-')), []);

  // The same swap without the fault: the archived tree, and no work folders left.
  script('probe', media, 'ok2');
  assert.equal(script('unpack', media, 'ok2', { input: archive, extra: EXTRACT_FLAGS }).code, 0);
  assert.equal(script('commit', media, 'ok2').code, 0);
  assert.deepEqual(describeTree(media), before);
  assert.deepEqual(fs.readdirSync(media).filter((n) => n.startsWith('.compose-backup-')), []);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(bin, { recursive: true, force: true });
});
