// The in-place media script run directly with sh, as host mode runs it: probe, excluded work
// folders, an unpack that fails, and a swap that fails half-way and rolls back; and the probe's
// output read back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { MEDIA_SCRIPT, parseProbe } from '../../../lib/media/swap.ts';
import { EXTRACT_FLAGS, OLD_PREFIX, STAGING_PREFIX, tarCreateArgv } from '../../../lib/media/tar.ts';
import { fakeBin, tempDir, withPath } from '../../helpers/cli.ts';
import { describeTree, makeAwkwardTree } from '../../helpers/media-tree.ts';

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
  const create = tarCreateArgv(media, []);
  const listing = spawnSync(create[0]!, create.slice(1), { encoding: 'utf8', maxBuffer: 1 << 30 }).stderr;
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

test('parseProbe: the state line, any leftovers, noise around them ignored', () => {
  assert.deepEqual(parseProbe('noise from an entrypoint\nmedia-leftover: .compose-backup-old-x\nmedia-state: full\n'), { state: 'full', leftovers: ['.compose-backup-old-x'] });
  assert.deepEqual(parseProbe('media-state: missing'), { state: 'missing', leftovers: [] });
  assert.equal(parseProbe('sh: not found'), null);
});
