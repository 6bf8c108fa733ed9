// prune end to end: the real `npx zx scripts/prune.ts` on a backup tree of 400 days of small but
// real backups, with foreign files, another environment's copies and a run's temporary file around
// them. The clock is pinned with COMPOSE_BACKUP_NOW.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { formatStamp, makeBackupName, type BackupKind, type BackupRole } from '../../lib/core/naming.ts';
import { runScript, tempDir, writeConfig } from '../helpers/cli.ts';

const NOW = new Date('2027-01-15T12:00:00Z');
const DAY = 86400_000;
const DUMP = '--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n\n--\n-- PostgreSQL database dump complete\n--\n\n';
const GOOD_DUMP = execFileSync('zstd', ['-q', '-c'], { input: DUMP });
const CUT_DUMP = execFileSync('zstd', ['-q', '-c'], { input: DUMP.slice(0, 50) });
const ARCHIVE = (() => {
  const src = tempDir();
  fs.writeFileSync(path.join(src, 'photo.jpg'), 'not really a photo');
  return execFileSync('sh', ['-c', `tar -C ${src} -c . | zstd -q -c`]);
})();

/** 03:00 UTC, `daysAgo` days before NOW (plus `hour` override). */
const at = (daysAgo: number, hour = 3) => {
  const d = new Date(NOW.getTime() - daysAgo * DAY);
  d.setUTCHours(hour, 0, 0, 0);
  return d;
};

function put(bk: string, kind: BackupKind, role: BackupRole, when: Date, opts: { env?: string; data?: Buffer; manifest?: boolean } = {}): string {
  const name = makeBackupName({ kind, role, stamp: formatStamp(when), codec: 'zstd', env: opts.env ?? null });
  const dir = path.join(bk, kind === 'database' ? 'postgres' : 'media');
  fs.mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  fs.writeFileSync(p, opts.data ?? (kind === 'database' ? GOOD_DUMP : ARCHIVE));
  if (opts.manifest) fs.writeFileSync(`${p}.manifest.json`, JSON.stringify({ name }));
  return p;
}

/** Everything under a folder: regular files by content hash, symlinks by target, folders. */
function treeState(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out.set(p, `link:${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(p, 'dir');
        walk(p);
      } else out.set(p, `file:${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`);
    }
  };
  walk(root);
  return out;
}

const env = (bk: string) => ({ BACKUP_DIR: bk, COMPOSE_BACKUP_NOW: NOW.toISOString() });

interface PruneJsonOut {
  refusal: string | null;
  remove: string[];
  removed: string[];
  summary: { keep: number; remove: number; unmanaged: number };
  groups: { kind: string; role: string; environment: string; managed: boolean; backups: { name: string; path: string; action: string; reasons: string[] }[] }[];
}

test('400 days: prune removes exactly what the dry run listed (and their manifests); nothing else is touched', async () => {
  const bk = tempDir();
  for (let i = 0; i < 400; i++) {
    put(bk, 'database', 'backup', at(i), { manifest: i % 2 === 0 });
    put(bk, 'media', 'backup', at(i), { manifest: i % 3 === 0 });
  }
  for (const i of [1, 2, 5, 20, 100]) put(bk, 'database', 'snapshot', at(i, 10), { manifest: true });
  put(bk, 'media', 'snapshot', at(50, 10));
  for (const i of [3, 300]) put(bk, 'database', 'backup', at(i), { env: 'production', manifest: true });
  put(bk, 'media', 'backup', at(300), { env: 'production' });
  // Foreign files, and things that look like backups but are not the tool's regular files.
  const pg = path.join(bk, 'postgres');
  const md = path.join(bk, 'media');
  for (const [p, text] of [
    [path.join(bk, 'notes.txt'), 'keep me'], [path.join(bk, '.env'), 'SECRET=1'], [path.join(bk, 'backup.log'), 'log'],
    [path.join(pg, 'notes.txt'), 'keep me'], [path.join(pg, 'backup_old.sql.gz'), 'old'],
    [path.join(pg, 'backup_2026_13_01T00_00_00.sql.zst'), 'month 13'], [path.join(pg, 'backup_2020_01_01T00_00_00.sql.zst.manifest.json'), '{}'],
    [path.join(pg, `.${makeBackupName({ kind: 'database', role: 'backup', stamp: formatStamp(NOW), codec: 'zstd' })}.partial-${process.pid}-abc123`), 'in progress'],
    [path.join(md, `.media_backup_${formatStamp(NOW)}.tar.zst.partial-${process.pid}-def456`), 'in progress'],
    [path.join(md, 'media_backup_2025_01_01T00_00_00.tar.bz2'), 'other codec'], [path.join(md, 'notes.txt'), 'keep me'],
  ] as const) fs.writeFileSync(p, text);
  fs.symlinkSync('notes.txt', path.join(pg, 'backup_2025_01_01T00_00_00.sql.zst'));
  fs.mkdirSync(path.join(pg, 'backup_2025_02_01T00_00_00.sql.zst'));
  fs.writeFileSync(path.join(pg, 'backup_2025_02_01T00_00_00.sql.zst', 'inside'), 'x');
  const config = writeConfig(tempDir(), [
    'environments:',
    '  local:',
    '    retention:',
    '      database: { keepDaily: 14, keepWeekly: 8, keepMonthly: 12 }',
    '      media: { keepWithin: 30d }',
  ].join('\n'));
  const args = ['--config', config];
  const before = treeState(bk);

  // The dry run as data.
  const dry = await runScript('prune', [...args, '--dry-run', '--json'], { env: env(bk) });
  assert.equal(dry.code, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout) as PruneJsonOut;
  assert.equal(plan.refusal, null);
  assert.deepEqual(plan.removed, []);
  const group = (kind: string, role: string, environment = 'local') => plan.groups.find((g) => g.kind === kind && g.role === role && g.environment === environment)!;
  const kept = (g: PruneJsonOut['groups'][number]) => g.backups.filter((b) => b.action === 'keep');
  // Media: the 30 newest days; database: 14 daily + older weekly/monthly ones, never more than 14 + 8 + 12.
  assert.equal(kept(group('media', 'backup')).length, 30);
  const dbKept = kept(group('database', 'backup')).length;
  assert.ok(dbKept > 14 && dbKept <= 34, String(dbKept));
  assert.deepEqual(kept(group('database', 'snapshot')).map((b) => b.reasons), [['last', 'within 7d', 'newest'], ['last', 'within 7d'], ['last', 'within 7d']]);
  assert.deepEqual(kept(group('media', 'snapshot')).map((b) => b.reasons), [['last', 'newest']]);
  for (const kind of ['database', 'media']) assert.deepEqual(group(kind, 'backup').backups[0]!.reasons.at(-1), 'newest');
  const production = plan.groups.filter((g) => g.environment === 'production');
  assert.equal(production.length, 2);
  assert.ok(production.every((g) => !g.managed && g.backups.every((b) => b.action === 'unmanaged' && b.reasons[0] === 'other environment: not managed')));
  assert.equal(plan.summary.unmanaged, 3);
  assert.equal(plan.remove.length, 800 + 6 - plan.summary.keep);
  assert.ok(plan.remove.every((p) => path.basename(p).match(/^(backup|media_backup|temp_before_restore)_\d{4}_/)), 'only the tool\'s own names');
  assert.deepEqual(treeState(bk), before, 'a dry run changes nothing');

  // The dry run for people: sets side by side.
  const text = await runScript('prune', [...args, '--dry-run'], { env: env(bk) });
  assert.equal(text.code, 0, text.stderr);
  assert.ok(text.stdout.includes('Backup sets, newest first (database | media):'), text.stdout);
  assert.match(text.stdout, new RegExp(`\\n  ${formatStamp(at(0))} +keep {4}daily ${at(0).toISOString().slice(0, 10)}, weekly [^\\n]*, newest +keep {4}within 30d, newest\\n`));
  assert.match(text.stdout, /\n {2}\d{4}_\d\d_\d\dT03_00_00 +keep {4}(weekly|monthly)[^\n]* {3}remove\n/, 'a database dump kept after its media went');
  assert.match(text.stdout, new RegExp(`\\n  production_backup_${formatStamp(at(3))}\\.sql\\.zst +other environment: not managed\\n`));
  assert.ok(text.stdout.includes(`Would remove ${plan.remove.length} backups`), text.stdout);
  assert.deepEqual(treeState(bk), before);

  // The real run: removes the plan and the manifests, and prints each path.
  const real = await runScript('prune', args, { env: env(bk) });
  assert.equal(real.code, 0, real.stderr);
  const removed = real.stdout.trim().split('\n');
  const expected = plan.remove.flatMap((p) => (before.has(`${p}.manifest.json`) ? [`${p}.manifest.json`, p] : [p]));
  assert.deepEqual(removed, expected);
  const after = treeState(bk);
  const gone = new Set(removed);
  for (const [p, state] of before) {
    if (gone.has(p)) assert.ok(!after.has(p), `${p} removed`);
    else assert.equal(after.get(p), state, `${p} untouched`);
  }
  assert.equal(after.size, before.size - removed.length);
  assert.match(real.stderr, /ok: removed \d+ backups/);

  // Nothing left to remove: a second run is a no-op.
  const again = await runScript('prune', args, { env: env(bk) });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, '');
  assert.match(again.stderr, /nothing to remove/);
  assert.deepEqual(treeState(bk), after);
});

test('an empty or a nonexistent backup folder: nothing to prune, exit 0, nothing created', async () => {
  const missing = path.join(tempDir(), 'not-here');
  const r1 = await runScript('prune', [], { env: env(missing) });
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r1.stdout, '');
  assert.match(r1.stderr, /no backups in .*not-here: nothing to prune/);
  assert.equal(fs.existsSync(missing), false);

  const empty = tempDir();
  fs.mkdirSync(path.join(empty, 'postgres'));
  fs.writeFileSync(path.join(empty, 'postgres', 'notes.txt'), 'x');
  const before = treeState(empty);
  const r2 = await runScript('prune', ['--dry-run', '--json'], { env: env(empty) });
  assert.equal(r2.code, 0, r2.stderr);
  const json = JSON.parse(r2.stdout) as PruneJsonOut;
  assert.deepEqual([json.groups, json.remove, json.refusal], [[], [], null]);
  assert.deepEqual(treeState(empty), before);
});

test('a policy that would remove every backup is refused: exit 1, one line, nothing removed', async () => {
  const bk = tempDir();
  for (const i of [10, 11, 12]) put(bk, 'database', 'backup', at(i), { manifest: true });
  put(bk, 'media', 'backup', at(40));
  put(bk, 'media', 'backup', at(0));
  const config = writeConfig(tempDir(), 'environments:\n  local:\n    retention:\n      database: { keepWithin: 1d }\n');
  const before = treeState(bk);
  const r = await runScript('prune', ['--config', config, '--json'], { env: env(bk) });
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, /^error: refusing to prune, nothing was removed: database backups: the database policy \(keep within 1d\) would remove all 3 of them \(the newest, backup_\S+, is 10d 9h old\); widen the policy/);
  const json = JSON.parse(r.stdout) as PruneJsonOut;
  assert.equal(json.refusal, errors[0]!.slice('error: '.length));
  assert.deepEqual(json.removed, []);
  assert.deepEqual(treeState(bk), before, 'not even the media backup the policy would drop');
});

test('the newest backup failing the completeness check: refused, exit 1, nothing removed', async () => {
  const bk = tempDir();
  for (const i of [1, 2, 3]) {
    put(bk, 'database', 'backup', at(i));
    put(bk, 'media', 'backup', at(i));
  }
  const dbNewest = put(bk, 'database', 'backup', at(0), { data: CUT_DUMP, manifest: true });
  const mediaNewest = put(bk, 'media', 'backup', at(0), { data: ARCHIVE.subarray(0, Math.floor(ARCHIVE.length / 2)) });
  const config = writeConfig(tempDir(), 'environments:\n  local:\n    retention:\n      database: { keepLast: 1 }\n      media: { keepLast: 1 }\n');
  const before = treeState(bk);
  const r = await runScript('prune', ['--config', config], { env: env(bk) });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.ok(errors[0]!.includes(`database backups: the newest, ${path.basename(dbNewest)}, fails the completeness check (it ends without "-- PostgreSQL database dump complete"`), errors[0]);
  assert.ok(errors[0]!.includes(`media backups: the newest, ${path.basename(mediaNewest)}, fails the completeness check (`), errors[0]);
  assert.deepEqual(treeState(bk), before);
});
