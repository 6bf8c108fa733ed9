// tar's listing as tables: every line shape GNU tar prints, the safety rules for entries, the
// scanner a whole listing feeds, and what tar says while archiving (CreateLog). Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateLog, ListingScanner, parseListingLine, sumChecks, unsafeReason, type ArchiveCheck, type ArchiveEntry, unsafeFolderRecord } from '../../../lib/media/listing.ts';

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

test('CreateLog: counts from the listing, tar\'s own messages as warnings, the rest cut at 100', () => {
  const log = new CreateLog();
  for (const l of [
    `drwxr-xr-x 0/0 0 ${T} "./"`,
    `drwxr-xr-x 0/0 0 ${T} "./d/"`,
    `-rw-r--r-- 0/0 7 ${T} "./d/f"`,
    `hrw-r--r-- 0/0 0 ${T} "./d/g" link to "./d/f"`,
    'tar: "./d/f": file changed as we read it',
    '/usr/bin/tar: "./x": Cannot open: Permission denied',
    'tar: Exiting with failure status due to previous errors',
    'compose-backup: warning: left out "./d/pipe": a fifo (special files are not backed up)',
  ]) log.line(l);
  assert.deepEqual({ f: log.files, d: log.directories, b: log.bytes, e: log.entries }, { f: 2, d: 1, b: 7, e: 4 });
  assert.deepEqual(log.warnings(), [
    'left out "./d/pipe": a fifo (special files are not backed up)',
    'tar: "./d/f": file changed as we read it',
    'tar: "./x": Cannot open: Permission denied',
  ]);
  assert.deepEqual(log.messages, ['tar: "./d/f": file changed as we read it', 'tar: "./x": Cannot open: Permission denied'], 'what was left out is not an error');
  assert.equal(log.special, null);
  // A special file that is in the archive all the same is named, so the backup can fail.
  const leaked = new CreateLog();
  for (const l of [`-rw-r--r-- 0/0 7 ${T} "./f"`, `prw-r--r-- 0/0 0 ${T} "./p\\nq"`, `crw-r--r-- 0/0 1,3 ${T} "./null"`]) leaked.line(l);
  assert.equal(leaked.special, './p\nq');
  const failed = new CreateLog();
  failed.line('compose-backup: cannot open the media folder /gone');
  assert.deepEqual(failed.messages, ['cannot open the media folder /gone']);
  const many = new CreateLog();
  for (let i = 0; i < 105; i++) many.line(`tar: "./f${i}": file changed as we read it`);
  assert.equal(many.warnings().length, 101);
  assert.equal(many.warnings()[100], '… and 5 more');
});

test('unsafeFolderRecord: what an incremental archive\'s folder records may name', () => {
  const table: [string, RegExp | null][] = [
    ['Y photo.jpg', null],
    ['N old.txt', null],
    ['D sub', null],
    ['Y name with spaces', null],
    ['R ./a/b', null],
    ['T ./a/bb', null],
    ['Y ..', /folder record of the name "\.\."/],
    ['D .', /folder record of the name "\."/],
    ['Y a/b', /folder record of the name "a\/b"/],
    ['Y ', /folder record of the name ""/],
    ['R /etc', /absolute path/],
    ['T ./a/../../x', /contains "\.\."/],
    ['R .', /archive root/],
    ['T ./.compose-backup-old-1', /reserved/],
    ['X thing', /not understood/],
    ['-rw-r--r-- 0/0 2 2026-12-05 03:42 "./x"', /not understood/],
  ];
  for (const [line, want] of table) {
    const got = unsafeFolderRecord(line);
    if (want === null) assert.equal(got, null, line);
    else assert.match(got ?? '', want, line);
  }
});

test('ListingScanner: an incremental listing (tar -t -G) judges folder records, and a name broken by a line break is refused', () => {
  const dir = (p: string) => `drwxr-xr-x 0/0               0 2026-12-05 03:42:11.356398366 "${p}"`;
  const file = (p: string) => `-rw-r--r-- 0/0               2 2026-12-05 03:42:11.448398366 "${p}"`;
  const ok = new ListingScanner();
  for (const l of [dir('./'), 'D a', 'R ./a/b', 'T ./a/bb', '', dir('./a/'), 'D bb', 'Y f1', '', dir('./a/bb/'), '', file('./a/f1')]) ok.line(l);
  assert.equal(ok.unsafe, null);
  assert.equal(ok.files, 1);
  assert.equal(ok.directories, 2);
  // tar prints record names unquoted: "x\n../../y" arrives as two lines, the second no record at all.
  const split = new ListingScanner();
  for (const l of [dir('./'), 'Y x', '../../y', '', file('./x')]) split.line(l);
  assert.match(split.unsafe ?? '', /not understood/);
  const climbing = new ListingScanner();
  for (const l of [dir('./'), 'D a', 'T ../outside', '']) climbing.line(l);
  assert.match(climbing.unsafe ?? '', /contains "\.\."/);
  // A record line right after a file is no record: refused as an unreadable line.
  const stray = new ListingScanner();
  for (const l of [file('./x'), 'Y y']) stray.line(l);
  assert.match(stray.unsafe ?? '', /listing line not understood/);
});

test('CreateLog: the snapshot handed back between its marker lines, never counted as entries', () => {
  const snar = Buffer.from('GNU tar-1.34-2\n1796442413\u0000987149822\u0000'.repeat(5));
  const log = new CreateLog();
  log.line('-rw-r--r-- 0/0               2 2026-12-05 03:42:11.448398366 "./a"');
  log.line('compose-backup-snapshot: begin');
  const b64 = snar.toString('base64');
  for (let i = 0; i < b64.length; i += 76) log.line(b64.slice(i, i + 76));
  assert.equal(log.snapshot, null, 'not complete before the end marker');
  log.line('compose-backup-snapshot: end');
  assert.deepEqual(log.snapshot, snar);
  assert.equal(log.entries, 1);
  assert.equal(log.other, null);
});

test('sumChecks: a chain\'s checks added up; one archive is its own counts; none is zero', () => {
  const check = (n: number): ArchiveCheck => ({
    ok: true, failure: null, failedStage: null, unsafe: null, read: null,
    entries: 10 * n, files: 6 * n, directories: 3 * n, bytes: 1000 * n, setIds: n - 1,
  });
  const cases: [ArchiveCheck[], ReturnType<typeof sumChecks>][] = [
    [[], { entries: 0, files: 0, directories: 0, bytes: 0, setIds: 0 }],
    [[check(1)], { entries: 10, files: 6, directories: 3, bytes: 1000, setIds: 0 }],
    [[check(1), check(2), check(3)], { entries: 60, files: 36, directories: 18, bytes: 6000, setIds: 3 }],
  ];
  for (const [checks, want] of cases) assert.deepEqual(sumChecks(checks), want, `${checks.length} checks`);
});
