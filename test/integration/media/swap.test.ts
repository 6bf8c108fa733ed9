// The in-place media script run directly with sh, as host mode runs it: the survey, excluded work
// folders, an unpack that fails, setuid/setgid bits cleared, a swap that fails half-way and rolls
// back, and a swap killed (SIGKILL of its process group) at every step, then repaired: the media
// folder is exactly the old tree or exactly the new one, with nothing of the work left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { MEDIA_SCRIPT, parseSettled, parseSurvey } from '../../../lib/media/swap.ts';
import { EXTRACT_FLAGS, OLD_PREFIX, STAGING_PREFIX, tarCreateArgv } from '../../../lib/media/tar.ts';
import { fakeBin, tempDir, withPath } from '../../helpers/cli.ts';
import { describeTree, makeAwkwardTree } from '../../helpers/media-tree.ts';

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run one action of the media script on this host, as host mode does, in a process group of its own. */
function script(action: string, media: string, words: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}): Ran {
  // setsid: a crash step SIGKILLs the script's whole process group, which must not be the test's.
  const r = spawnSync('setsid', ['sh', '-c', MEDIA_SCRIPT, 'sh', action, media, ...words], { input: opts.input, env: opts.env ?? process.env, maxBuffer: 1 << 26 });
  return { code: r.status, signal: r.signal, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The same, started and left running: its result when it ends. */
function started(action: string, media: string, words: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  const child = spawn('setsid', ['sh', '-c', MEDIA_SCRIPT, 'sh', action, media, ...words], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const work = (media: string) => fs.readdirSync(media).filter((n) => n.startsWith('.compose-backup-')).sort();

test('media script: survey, excluded work folders, unpack failure and swap rollback leave the media as it was', () => {
  const dir = tempDir('cbt-script-');
  const media = path.join(dir, 'media');
  const survey = (m = media) => parseSurvey(script('survey', m, []).stdout);
  // The survey makes nothing; prepare makes the media folder (if missing) and the staging folder.
  const missing = survey();
  assert.equal(missing?.state, 'missing');
  assert.ok(missing!.free! > 0, 'free space of the nearest existing parent');
  assert.equal(fs.existsSync(media), false);
  assert.equal(script('prepare', media, ['p1']).code, 0);
  assert.deepEqual(fs.readdirSync(media), [`${STAGING_PREFIX}p1`]);
  assert.equal((fs.statSync(path.join(media, `${STAGING_PREFIX}p1`)).mode & 0o777).toString(8), '700');
  const empty = survey()!;
  assert.deepEqual([empty.state, empty.work], ['empty', [{ name: `${STAGING_PREFIX}p1`, content: null }]]);
  assert.equal(script('discard', media, ['p1']).code, 0);
  fs.writeFileSync(path.join(media, '.compose-backup-swap-x-1.out'), '1.-.-\n');
  assert.deepEqual(survey()!.work, [{ name: '.compose-backup-swap-x-1.out', content: '1.-.-' }]);
  fs.unlinkSync(path.join(media, '.compose-backup-swap-x-1.out'));
  makeAwkwardTree(media);
  // Its setgid file comes back without the bit (the next test): compared as it will be restored.
  fs.chmodSync(path.join(media, 'modes/setgid-exec'), 0o755);
  fs.mkdirSync(path.join(media, `sub/${OLD_PREFIX}nested`), { recursive: true });
  assert.equal(survey()!.state, 'full');
  // Unpacking needs the staging folder prepare made.
  const unprepared = script('unpack', media, ['p5', ...EXTRACT_FLAGS], { input: Buffer.alloc(0) });
  assert.equal(unprepared.code, 1);
  assert.match(unprepared.stderr, /no staging folder/);

  // Work folders at the top are never archived; the same names deeper down are user data.
  fs.mkdirSync(path.join(media, `${STAGING_PREFIX}old-run`));
  const create = tarCreateArgv(media, []);
  const listing = spawnSync(create[0]!, create.slice(1), { encoding: 'utf8', maxBuffer: 1 << 30 }).stderr;
  assert.doesNotMatch(listing, new RegExp(`"\\./${STAGING_PREFIX}old-run`));
  assert.match(listing, new RegExp(`"\\./sub/${OLD_PREFIX}nested/"`));
  fs.rmSync(path.join(media, `${STAGING_PREFIX}old-run`), { recursive: true });

  const before = describeTree(media);
  const archive = execFileSync('tar', ['-c', '-f', '-', '--format=posix', '-C', media, '.'], { maxBuffer: 1 << 30 });

  // A tar that fails half-way: staging removed, media untouched.
  const cut = archive.subarray(0, Math.floor(archive.length * 0.6));
  script('prepare', media, ['cut']);
  const failed = script('unpack', media, ['cut', ...EXTRACT_FLAGS], { input: cut });
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /unpacking failed; the media folder is unchanged/);
  assert.deepEqual(describeTree(media), before);

  // A swap whose second move of staged entries fails: everything goes back. (The fake mv fails
  // on the second call that moves entries out of the staging folder.)
  fs.writeFileSync(path.join(media, 'only-in-current.txt'), 'current');
  const current = describeTree(media);
  script('prepare', media, ['ok']);
  assert.equal(script('unpack', media, ['ok', ...EXTRACT_FLAGS], { input: archive }).code, 0);
  const state = path.join(dir, 'mv-state');
  const bin = fakeBin({
    mv: `#!/bin/sh
case "$*" in *${STAGING_PREFIX}ok/*)
  n=$(cat "${state}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${state}"
  if [ "$n" = 1 ]; then echo "mv: injected failure" >&2; exit 1; fi ;;
esac
exec /bin/mv "$@"
`,
  });
  const swap = script('commit', media, ['ok', '1.-.-'], { env: { ...process.env, PATH: withPath(bin) } });
  assert.equal(swap.code, 1, swap.stderr);
  assert.match(swap.stderr, /injected failure[\s\S]*putting the previous media back[\s\S]*as it was/);
  assert.match(swap.stdout, /media-swapped: rolled-back/);
  assert.deepEqual(describeTree(media), current);
  assert.deepEqual(work(media), []);

  // The same swap without the fault: the archived tree, and no work folders left.
  script('prepare', media, ['ok2']);
  assert.equal(script('unpack', media, ['ok2', ...EXTRACT_FLAGS], { input: archive }).code, 0);
  const done = script('commit', media, ['ok2', '1.-.-']);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /media-swapped: completed/);
  assert.deepEqual(describeTree(media, { skip: (n) => n.startsWith('.compose-backup-') }), before);
  // The swap is done; its old entries go after it.
  assert.deepEqual(work(media), [`${OLD_PREFIX}ok2`, `${STAGING_PREFIX}ok2`, '.compose-backup-swap-ok2.done']);
  assert.deepEqual([...parseSettled(script('settle', media, ['ok2']).stdout)], [['ok2', 'finished']]);
  assert.deepEqual(describeTree(media), before);
  assert.deepEqual(work(media), []);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(bin, { recursive: true, force: true });
});

test('media script: unpacking clears setuid and setgid bits, on files and folders, and keeps the rest of the mode', () => {
  const dir = tempDir('cbt-setid-');
  const src = path.join(dir, 'src');
  const media = path.join(dir, 'media');
  fs.mkdirSync(path.join(src, 'shared'), { recursive: true });
  fs.writeFileSync(path.join(src, 'suid'), '#!/bin/sh\n');
  fs.chmodSync(path.join(src, 'suid'), 0o4755);
  fs.writeFileSync(path.join(src, 'sgid'), 'x');
  fs.chmodSync(path.join(src, 'sgid'), 0o2750);
  fs.chmodSync(path.join(src, 'shared'), 0o3775);
  fs.writeFileSync(path.join(src, 'plain'), 'x');
  fs.chmodSync(path.join(src, 'plain'), 0o1644);
  const archive = execFileSync('tar', ['-c', '-f', '-', '--format=posix', '-C', src, '.']);
  fs.mkdirSync(media);
  script('prepare', media, ['s']);
  assert.equal(script('unpack', media, ['s', ...EXTRACT_FLAGS], { input: archive }).code, 0);
  assert.equal(script('commit', media, ['s', '1.-.-']).code, 0);
  script('settle', media, ['s']);
  const modes = Object.fromEntries(Object.entries(describeTree(media)).map(([k, v]) => [k, v.mode]));
  assert.deepEqual(modes, { plain: '1644', sgid: '750', shared: '1775', suid: '755' });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('media script: the swap moves thousands of entries with a handful of mv processes, not one per entry', () => {
  const dir = tempDir('cbt-many-');
  const media = path.join(dir, 'media');
  const src = path.join(dir, 'src');
  fs.mkdirSync(media);
  fs.mkdirSync(src);
  for (let i = 0; i < 5000; i++) {
    fs.writeFileSync(path.join(media, `old-${i}`), '');
    fs.writeFileSync(path.join(src, `new-${i}`), '');
  }
  const archive = execFileSync('tar', ['-c', '-f', '-', '-C', src, '.'], { maxBuffer: 1 << 28 });
  script('prepare', media, ['m']);
  assert.equal(script('unpack', media, ['m', ...EXTRACT_FLAGS], { input: archive }).code, 0);
  const calls = path.join(dir, 'mv-calls');
  const bin = fakeBin({ mv: `#!/bin/sh\necho x >> "${calls}"\nexec /bin/mv "$@"\n` });
  const r = script('commit', media, ['m', '1.-.-'], { env: { ...process.env, PATH: withPath(bin) } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(media).filter((n) => !n.startsWith('.compose-backup-')).sort(), fs.readdirSync(src).sort());
  const n = fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean).length;
  // 10,000 renames; each mv takes as many as fit in one argv (plus the journal's own two renames).
  assert.ok(n <= 10, `${n} mv processes`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(bin, { recursive: true, force: true });
});

test('media script: a swap killed at every step is completed or rolled back by the next run: exactly one tree, no work left', () => {
  const dir = tempDir('cbt-crash-');
  const oldTree = path.join(dir, 'old');
  const newTree = path.join(dir, 'new');
  fs.mkdirSync(oldTree);
  fs.mkdirSync(newTree);
  // Old and new share some names (replaced in place) and each has its own; a hidden entry too.
  for (const [root, tag] of [[oldTree, 'old'], [newTree, 'new']] as const) {
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(root, `shared-${i}.txt`), `${tag} ${i}`);
    fs.mkdirSync(path.join(root, `${tag}-only/deeper`), { recursive: true });
    fs.writeFileSync(path.join(root, `${tag}-only/deeper/f`), tag);
    fs.writeFileSync(path.join(root, `.${tag}-hidden`), tag);
  }
  const archive = execFileSync('tar', ['-c', '-f', '-', '--format=posix', '-C', newTree, '.']);
  const want = { old: describeTree(oldTree), new: describeTree(newTree) };
  const steps: [string, 'old' | 'new', string][] = [
    ['media-swap:journaled', 'old', 'rolled-back'],
    ['media-swap:out:1', 'old', 'rolled-back'],
    ['media-swap:out:5', 'old', 'rolled-back'],
    ['media-swap:between', 'old', 'rolled-back'],
    ['media-swap:in:1', 'new', 'completed'],
    ['media-swap:in:7', 'new', 'completed'],
    ['media-swap:done', 'new', 'finished'],
  ];
  for (const [step, tree, outcome] of steps) {
    const media = path.join(dir, `media-${step.replace(/:/g, '_')}`);
    execFileSync('cp', ['-a', `${oldTree}/.`, media]);
    const token = `2026_12_05T00_00_00-${process.pid}`;
    script('prepare', media, [token]);
    assert.equal(script('unpack', media, [token, ...EXTRACT_FLAGS], { input: archive }).code, 0);
    const killed = script('commit', media, [token, '1.-.-'], { env: { ...process.env, COMPOSE_BACKUP_CRASH_AT: step } });
    assert.equal(killed.signal, 'SIGKILL', `${step}: ${killed.stderr}`);
    assert.ok(work(media).length > 0, `${step}: the killed swap left its work`);
    const repaired = script('settle', media, [token]);
    assert.equal(repaired.code, 0, `${step}: ${repaired.stderr}`);
    assert.deepEqual([...parseSettled(repaired.stdout)], [[token, outcome]], step);
    assert.deepEqual(describeTree(media), want[tree], `${step}: exactly the ${tree} tree`);
    assert.deepEqual(work(media), [], `${step}: nothing of the work left`);
  }
  // Killed before the swap: only a staging folder, which the repair removes.
  const media = path.join(dir, 'media-unpacked');
  execFileSync('cp', ['-a', `${oldTree}/.`, media]);
  script('prepare', media, ['t-1']);
  assert.equal(script('unpack', media, ['t-1', ...EXTRACT_FLAGS], { input: archive }).code, 0);
  assert.deepEqual([...parseSettled(script('settle', media, ['t-1']).stdout)], [['t-1', 'discarded']]);
  assert.deepEqual(describeTree(media), want.old);
  assert.deepEqual(work(media), []);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('media script: the repair of a dead run waits for its processes still at work, and refuses when they stay too long', async () => {
  // A run's Node process can be gone while its swap goes on: an mv finishing after a SIGKILL, or the
  // whole script in a container that a killed client leaves running. The repair must not work on
  // the same folders at the same time: it waits, then finds the swap complete.
  const dir = tempDir('cbt-linger-');
  const src = path.join(dir, 'new');
  fs.mkdirSync(src);
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(src, `new-${i}.txt`), `new ${i}`);
  const archive = execFileSync('tar', ['-c', '-f', '-', '--format=posix', '-C', src, '.']);
  const want = describeTree(src);
  for (const [wait, outcome] of [['120', 'waited'], ['1', 'refused']] as const) {
    const media = path.join(dir, `media-${outcome}`);
    fs.mkdirSync(media);
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(media, `old-${i}.txt`), `old ${i}`);
    const old = describeTree(media);
    script('prepare', media, ['t-1']);
    assert.equal(script('unpack', media, ['t-1', ...EXTRACT_FLAGS], { input: archive }).code, 0);
    // Every mv of the swap is slow: it lasts seconds, its journal in place all along.
    const bin = fakeBin({ mv: '#!/bin/sh\nsleep 0.7\nexec /bin/mv "$@"\n' });
    const swapping = started('commit', media, ['t-1', '1.-.-'], { ...process.env, PATH: withPath(bin) });
    while (!work(media).some((n) => n.endsWith('.out'))) await new Promise((r) => setTimeout(r, 20));
    const repair = script('settle', media, ['t-1'], { env: { ...process.env, COMPOSE_BACKUP_SETTLE_WAIT: wait } });
    const swapped = await swapping;
    assert.equal(swapped.code, 0, swapped.stderr);
    assert.match(swapped.stdout, /media-swapped: completed/);
    if (outcome === 'waited') {
      assert.equal(repair.code, 0, repair.stderr);
      assert.deepEqual([...parseSettled(repair.stdout)], [['t-1', 'finished']]);
      assert.deepEqual(work(media), []);
    } else {
      assert.equal(repair.code, 1);
      assert.match(repair.stderr, /the restore of run t-1 is still at work in .*media-refused \(its processes hold .*\); try again when it has finished/);
      assert.deepEqual([...parseSettled(repair.stdout)], []);
      // It touched nothing: the swap finished on its own, and a later repair removes the rest.
      assert.deepEqual([...parseSettled(script('settle', media, ['t-1']).stdout)], [['t-1', 'finished']]);
    }
    assert.notDeepEqual(old, want);
    assert.deepEqual(describeTree(media), want, outcome);
    fs.rmSync(bin, { recursive: true, force: true });
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
