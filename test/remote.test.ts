// lib/remote and lib/download: what is forwarded, checked and confirmed before anything connects,
// and the pure parts of a download. The real round trips are in remote.e2e.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { checkRemoteArgs, forwardedArgs, remoteConfirmation } from '../lib/remote.ts';
import { copyMismatch, findRemote, localBackupDir, parseFingerprint, parseKindArg, parseRemoteName, parseSha256sum } from '../lib/download.ts';
import { parseConfig, resolveSettings } from '../lib/config.ts';
import { confirm, requireConfirmable } from '../lib/confirm.ts';
import { DeclinedError, FailedError, UsageError } from '../lib/errors.ts';
import { parseBackupName } from '../lib/naming.ts';
import { parseReceive, receiveArgs, receiveBackup, resolveUpload } from '../lib/upload.ts';
import type { ListedBackup } from '../lib/listing.ts';
import { ls, tempDir } from './helpers/cli.ts';

const NAME = 'backup_2024_01_15T14_30_00.sql.zst';
const MEDIA = 'media_backup_2024_01_15T14_30_00.tar.zst';

test('forwardedArgs: as given, without --config and --env, with --yes once confirmed here', () => {
  const table: [string[], boolean, string[]][] = [
    [['--env', 'production'], false, []],
    [['--env=production', '--json'], false, ['--json']],
    [['--config', '/home/me/backup.config.yaml', 'x', '--env', 'production'], false, ['x']],
    [['--config=/x.yaml', NAME, '--env', 'production'], true, [NAME, '--yes']],
    [[NAME, '--yes', '--env', 'production'], true, [NAME, '--yes']],
    [['--dry-run', '--keep', '3'], false, ['--dry-run', '--keep', '3']],
    // After `--` everything is an argument, even what looks like a flag.
    [['--env', 'p', '--', '--config', 'y'], false, ['--', '--config', 'y']],
  ];
  for (const [raw, confirmed, expected] of table) {
    assert.deepEqual(forwardedArgs(raw, { confirmed }), expected, JSON.stringify(raw));
  }
});

test('checkRemoteArgs: bad names are refused here (exit 2), remote paths are left to the host', () => {
  const refused: [Parameters<typeof checkRemoteArgs>[0], string][] = [
    ['restore-db', '../../etc/passwd'],
    ['restore-db', MEDIA],
    ['restore-db', ''],
    ['restore-db', 'backup_2024_02_30T00_00_00.sql.zst'],
    ['restore-media', NAME],
    ['restore-media', 'media_backup_x.tar.zst\0'],
    ['verify', 'notes.txt'],
  ];
  for (const [op, arg] of refused) {
    assert.throws(() => checkRemoteArgs(op, [arg]), UsageError, `${op} ${JSON.stringify(arg)}`);
  }
  for (const [op, arg] of [
    ['restore-db', NAME],
    ['restore-db', `/srv/app/backups/postgres/production_${NAME}`],
    ['restore-media', MEDIA],
    ['verify', MEDIA],
    ['backup-db', 'anything'],
  ] as const) {
    assert.doesNotThrow(() => checkRemoteArgs(op, [arg]), `${op} ${arg}`);
  }
  assert.doesNotThrow(() => checkRemoteArgs('verify', []));
});

test('remoteConfirmation: restores name the host and environment, the word is the environment', () => {
  const s = { envName: 'production', ssh: { target: 'deploy@203.0.113.7' } };
  assert.deepEqual(remoteConfirmation('restore-db', [NAME], s), {
    action: `This replaces the database on deploy@203.0.113.7 (production) with ${NAME}`,
    expected: 'production',
  });
  assert.match(remoteConfirmation('restore-media', [`/x/${MEDIA}`], s)!.action, new RegExp(`the media folder on deploy@203\\.0\\.113\\.7 \\(production\\) with ${MEDIA}$`));
  for (const op of ['backup-db', 'backup-full', 'list-backups', 'prune', 'verify', 'scheduled-backup'] as const) {
    assert.equal(remoteConfirmation(op, [], s), null, op);
  }
});

test('the remote confirmation on a terminal wants the environment name typed', async () => {
  const question = remoteConfirmation('restore-db', [NAME], { envName: 'production', ssh: { target: 'h' } })!;
  const terminal = (answer: string) => {
    const input = Object.assign(new PassThrough(), { isTTY: true });
    const output = Object.assign(new PassThrough(), { isTTY: true });
    let shown = '';
    output.on('data', (b: Buffer) => (shown += b.toString()));
    setImmediate(() => input.write(`${answer}\n`));
    return { input, output, shown: () => shown };
  };
  const yes = terminal('production');
  await confirm({ ...question, yes: false, input: yes.input, output: yes.output });
  assert.match(yes.shown(), /This replaces the database on h \(production\).*\nType production to continue: /s);
  const no = terminal('y');
  await assert.rejects(confirm({ ...question, yes: false, input: no.input, output: no.output }), DeclinedError);
});

test('requireConfirmable: only "no --yes and no terminal" fails, at once, with exit 3', () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  const pipe = new PassThrough();
  for (const [yes, input, fails] of [[true, pipe, false], [true, tty, false], [false, tty, false], [false, pipe, true]] as const) {
    const call = () => requireConfirmable({ action: 'Replacing x', yes, input });
    if (fails) assert.throws(call, (e: unknown) => e instanceof DeclinedError && e.exitCode === 3 && /Replacing x: confirmation needed and no terminal is attached; add --yes/.test(e.message));
    else assert.doesNotThrow(call);
  }
});

test('download arguments: kind is postgres or media; only bare names of that kind, not copies', () => {
  assert.equal(parseKindArg('postgres'), 'database');
  assert.equal(parseKindArg('media'), 'media');
  for (const k of ['database', 'Postgres', '', undefined]) assert.throws(() => parseKindArg(k), UsageError);
  assert.equal(parseRemoteName(NAME, 'database').name, NAME);
  assert.equal(parseRemoteName('temp_before_restore_2024_01_15T14_30_00.sql.gz', 'database').role, 'snapshot');
  for (const [arg, kind] of [
    [`../${NAME}`, 'database'],
    [`/srv/${NAME}`, 'database'],
    ['backups/postgres', 'database'],
    ['', 'database'],
    [undefined, 'database'],
    [MEDIA, 'database'],
    [NAME, 'media'],
    [`production_${NAME}`, 'database'],
    ['backup_2024_01_15T14_30_00.sql', 'database'],
    ['backup_2024_01_15T14_30_00.sql.zst.manifest.json', 'database'],
  ] as const) {
    assert.throws(() => parseRemoteName(arg, kind), UsageError, String(arg));
  }
});

test('findRemote: the listing entry by name and kind, with a plausible path', () => {
  const entry = (over: Partial<ListedBackup>): ListedBackup => ({
    name: NAME, kind: 'database', role: 'backup', set: '2024_01_15T14_30_00', environment: 'production',
    size: 10, time: '2024-01-15T14:30:00.000Z', ageSeconds: 1, path: `/srv/app/backups/postgres/${NAME}`, hasManifest: true, ...over,
  });
  const name = parseBackupName(NAME)!;
  assert.equal(findRemote([entry({ name: 'other' }), entry({})], name, 'h').path, `/srv/app/backups/postgres/${NAME}`);
  assert.throws(() => findRemote([entry({ name: 'other' })], name, 'h (production)'), /no backup backup_2024.* on h \(production\); run list-backups/);
  assert.throws(() => findRemote([entry({ path: 'relative/x' })], name, 'h'), FailedError);
  assert.throws(() => findRemote([entry({ path: '/srv/evil' })], name, 'h'), FailedError);
});

test('parseSha256sum, parseFingerprint and copyMismatch', () => {
  const h = 'a'.repeat(64);
  assert.equal(parseSha256sum(`${h}  /srv/x\n`), h);
  assert.equal(parseSha256sum(`${h} */srv/x\n`), h);
  assert.equal(parseSha256sum(`\\${h}  /srv/x\\ny\n`), h); // GNU escapes odd names with a leading backslash
  assert.equal(parseSha256sum('sha256sum: /srv/x: No such file\n'), null);
  assert.equal(parseSha256sum(`${h.slice(1)}  x\n`), null);
  assert.deepEqual(parseFingerprint(`${h}  /srv/x\n`), { sha256: h, manifestText: null });
  assert.deepEqual(parseFingerprint(`${h}  /srv/x\n{"version": 1}\n`), { sha256: h, manifestText: '{"version": 1}\n' });
  assert.deepEqual(parseFingerprint(''), { sha256: null, manifestText: null });
  assert.equal(copyMismatch({ size: 5, sha256: h }, { size: 5, sha256: h }), null);
  assert.match(copyMismatch({ size: 5, sha256: h }, { size: 4, sha256: h })!, /4 bytes.*instead of 5 bytes/);
  assert.match(copyMismatch({ size: 5, sha256: h }, { size: 5, sha256: 'b'.repeat(64) })!, /sha256 b+ instead of a+/);
});

test('localBackupDir: where list-backups and restore-db look by default', () => {
  const dir = tempDir();
  const cwd = path.join(dir, 'cwd');
  const withLocal = path.join(dir, 'with-local.yaml');
  fs.writeFileSync(withLocal, 'environments:\n  local: { backupDir: ./bk }\n  production: { backupDir: /srv/bk, ssh: { target: h, projectDir: app } }\n');
  const withoutLocal = path.join(dir, 'without-local.yaml');
  fs.writeFileSync(withoutLocal, 'environments:\n  production: { backupDir: /srv/bk, ssh: { target: h, projectDir: app } }\n');
  assert.equal(localBackupDir(withLocal, {}, cwd), path.join(dir, 'bk'));
  assert.equal(localBackupDir(withLocal, { BACKUP_DIR: 'over' }, cwd), path.join(cwd, 'over'));
  assert.equal(localBackupDir(withoutLocal, {}, cwd), path.join(cwd, 'backups'));
  assert.equal(localBackupDir(withoutLocal, { BACKUP_DIR: '/b' }, cwd), '/b');
  assert.equal(localBackupDir(undefined, {}, cwd), path.join(cwd, 'backups'));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('on the target host (COMPOSE_BACKUP_ON_HOST=1) the ssh section is ignored, unset variables and all', () => {
  const config = parseConfig(
    'environments:\n  production:\n    ssh: { target: "${SSH_APP_USER_AND_IP}", projectDir: "~/app" }\n    backupDir: ./bk\n',
    '/srv/app/backup.config.yaml',
  );
  const resolve = (env: NodeJS.ProcessEnv) =>
    resolveSettings({ config, configPath: '/srv/app/backup.config.yaml', envName: 'production', env, cwd: '/srv/app' });
  assert.throws(() => resolve({}), /SSH_APP_USER_AND_IP is not set/);
  assert.equal(resolve({ SSH_APP_USER_AND_IP: 'deploy@h' }).ssh?.target, 'deploy@h');
  const onHost = resolve({ COMPOSE_BACKUP_ON_HOST: '1' });
  assert.equal(onHost.ssh, null);
  assert.equal(onHost.backupDir, '/srv/app/bk');
  assert.equal(resolve({ COMPOSE_BACKUP_ON_HOST: '0', SSH_APP_USER_AND_IP: 'deploy@h' }).ssh?.target, 'deploy@h');
});

test('upload arguments: local names or paths of backups; the receiving end checks what it is told', () => {
  const bk = tempDir();
  fs.mkdirSync(path.join(bk, 'postgres'));
  fs.writeFileSync(path.join(bk, 'postgres', `production_${NAME}`), 'x');
  assert.equal(resolveUpload(`production_${NAME}`, bk).path, path.join(bk, 'postgres', `production_${NAME}`));
  assert.equal(resolveUpload(path.join(bk, 'postgres', `production_${NAME}`), '/elsewhere').parsed.env, 'production');
  assert.throws(() => resolveUpload('notes.txt', bk), UsageError);
  assert.throws(() => resolveUpload(NAME, bk), /no such backup/);
  fs.rmSync(bk, { recursive: true, force: true });

  const h = 'c'.repeat(64);
  assert.deepEqual(receiveArgs(NAME, { size: 12, sha256: h }), ['--receive', NAME, '--size', '12', '--sha256', h]);
  assert.deepEqual(parseReceive(NAME, '12', h).expected, { size: 12, sha256: h });
  assert.equal(parseReceive(`production_${MEDIA}`, '0', h).name.kind, 'media');
  for (const [name, size, sha] of [
    [`../${NAME}`, '12', h],
    ['x', '12', h],
    [NAME, undefined, h],
    [NAME, '-1', h],
    [NAME, '1e3', h],
    [NAME, '12', undefined],
    [NAME, '12', 'C'.repeat(64)],
    [NAME, '12', `${h}  x`],
  ] as const) {
    assert.throws(() => parseReceive(name, size, sha), UsageError, `${name} ${size} ${sha}`);
  }
});

describe('receiveBackup (the remote end of upload-backups)', () => {
  const data = crypto.randomBytes(300_000);
  const fp = { size: data.length, sha256: crypto.createHash('sha256').update(data).digest('hex') };
  const manifest = JSON.stringify({
    version: 1, name: NAME, kind: 'database', role: 'backup', set: '2024_01_15T14_30_00', environment: 'production',
    codec: 'zstd', size: fp.size, sha256: fp.sha256, startedAt: 'x', finishedAt: 'y', durationMs: 1,
  });
  const name = parseBackupName(`production_${NAME}`)!;
  /** The input in uneven chunks, as a pipe delivers it. */
  const input = (buf: Buffer) => Readable.from([buf.subarray(0, 1000), buf.subarray(1000, 250_001), buf.subarray(250_001)]);

  test('writes the file and its manifest under their names, then finds them identical', async () => {
    const bk = tempDir();
    const r = await receiveBackup(bk, name, fp, input(Buffer.concat([data, Buffer.from(manifest)])));
    assert.deepEqual(r, { path: path.join(bk, 'postgres', name.name), written: true });
    assert.deepEqual(fs.readFileSync(r.path), data);
    assert.equal(fs.readFileSync(`${r.path}.manifest.json`, 'utf8'), manifest);
    assert.equal((fs.statSync(r.path).mode & 0o777).toString(8), '600');
    assert.deepEqual(await receiveBackup(bk, name, fp, input(data)), { path: r.path, written: false });
    fs.rmSync(bk, { recursive: true, force: true });
  });

  test('a short, damaged or mismatched transfer, or a different file there, keeps nothing and replaces nothing', async () => {
    const bk = tempDir();
    const pg = path.join(bk, 'postgres');
    const flipped = Buffer.from(data);
    flipped[123] = flipped[123]! ^ 1;
    const cases: [string, Buffer, RegExp][] = [
      ['short', data.subarray(0, 200_000), /arrived incomplete or damaged \(195 KiB \(200000 bytes\) instead of 300000 bytes\); nothing was kept/],
      ['damaged', flipped, /arrived incomplete or damaged \(sha256 [0-9a-f]+ instead of/],
      ['bad manifest', Buffer.concat([data, Buffer.from('{not json')]), /manifest sent with .* is damaged/],
      ['other manifest', Buffer.concat([data, Buffer.from(manifest.replace(fp.sha256, 'd'.repeat(64)))]), /does not match the manifest/],
    ];
    for (const [what, buf, message] of cases) {
      await assert.rejects(receiveBackup(bk, name, fp, input(buf)), (err: Error) => err instanceof FailedError && message.test(err.message), what);
      assert.deepEqual(ls(pg), [], what);
    }
    fs.writeFileSync(path.join(pg, name.name), 'someone else\'s');
    await assert.rejects(receiveBackup(bk, name, fp, input(data)), /already exists here and is a different file; it is never replaced/);
    assert.equal(fs.readFileSync(path.join(pg, name.name), 'utf8'), 'someone else\'s');
    fs.rmSync(bk, { recursive: true, force: true });
  });
});
