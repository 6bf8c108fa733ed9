// Benchmark of push-offsite to S3 (not part of npm test):
//   npm run bench:offsite -- [--size-mb 1024] [--rounds 3] [--noop 100] [--node /path/to/node/bin]
// Against a local s3rver (the one the tests use), in one run, alternating:
//   - push-offsite of one backup of --size-mb MiB (incompressible, as a compressed backup is), and
//   - the hand pipeline `age -r KEY < file | aws s3 cp - s3://…` with Debian's awscli (/usr/bin/aws);
// the push's time as a ratio of the hand pipeline's (target ≤ 1.3x) and the Node process's peak RSS
// (target ≤ 200 MiB whatever the size). Then a no-op push (every copy already there) of --noop
// backups, against `npx zx --version` (the launcher alone) timed in the same run (target ≤ 2 s).
// With --node, the folder of another node binary goes first on PATH (a Node 24 from `npm i node@24`).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kindDir, makeBackupName, type BackupKind } from '../lib/core/naming.ts';
import { manifestText, newManifest } from '../lib/store/manifest.ts';
import { S3_KEYS, startS3 } from '../test/helpers/s3.ts';
import { arg, fmt, median, must, time } from './common.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sizeMb = arg('size-mb', 1024);
const rounds = arg('rounds', 3);
const noopCount = arg('noop', 100);
const OUT = path.join(ROOT, 'bench/out/offsite');
const AWS = '/usr/bin/aws';

/** Deterministic incompressible bytes (AES-CTR keystream), written in 8 MiB pieces: memory stays flat. */
function writeNoise(file: string, bytes: number, seed: string): string {
  const key = crypto.createHash('sha256').update(seed).digest();
  const c = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'w', 0o600);
  const zero = Buffer.alloc(8 << 20);
  for (let left = bytes; left > 0; left -= zero.length) {
    const piece = c.update(zero.subarray(0, Math.min(zero.length, left)));
    hash.update(piece);
    fs.writeSync(fd, piece);
  }
  fs.closeSync(fd);
  return hash.digest('hex');
}

/** A backup and its manifest in `backupDir`, as backup-* would leave them (the content is not read by a push). */
function backup(backupDir: string, kind: BackupKind, stamp: string, bytes: number): string {
  const name = makeBackupName({ kind, role: 'backup', stamp, codec: 'zstd' });
  const dir = path.join(backupDir, kindDir(kind));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  const sha256 = fs.existsSync(`${file}.manifest.json`) ? JSON.parse(fs.readFileSync(`${file}.manifest.json`, 'utf8')).sha256 : writeNoise(file, bytes, name);
  const t = new Date('2026-01-01T00:00:00Z');
  const m = newManifest({ name, kind, role: 'backup', set: stamp, environment: 'local', codec: 'zstd', size: bytes, sha256, startedAt: t, finishedAt: t, content: {} });
  fs.writeFileSync(`${file}.manifest.json`, manifestText(m));
  return file;
}

function config(dir: string, s3: { endpoint: string; bucket: string }, recipient: string, prefix: string): string {
  const file = path.join(dir, `backup.config.${prefix}.yaml`);
  fs.writeFileSync(
    file,
    [
      'environments:',
      '  local:',
      '    backupDir: ./backups',
      '    offsite:',
      '      cloud:',
      '        kind: s3',
      `        endpoint: ${s3.endpoint}`,
      `        bucket: ${s3.bucket}`,
      `        prefix: ${prefix}`,
      '        forcePathStyle: true',
      `        recipients: [${recipient}]`,
      '        retention: { database: {}, media: {} }',
      '',
    ].join('\n'),
  );
  return file;
}

async function main(): Promise<void> {
  if (!fs.existsSync(AWS)) throw new Error(`${AWS} not found: apt-get install awscli (Debian's; a pyenv shim named aws may come first on PATH)`);
  fs.mkdirSync(OUT, { recursive: true });
  const keyFile = path.join(OUT, 'key.txt');
  if (!fs.existsSync(keyFile)) execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
  const recipient = execFileSync('age-keygen', ['-y', keyFile], { encoding: 'utf8' }).trim();

  const big = path.join(OUT, `big-${sizeMb}`);
  console.error(`preparing a ${sizeMb} MiB backup in ${big} (once)…`);
  const file = backup(path.join(big, 'backups'), 'media', '2026_01_01T00_00_00', sizeMb * 1024 * 1024);

  const s3 = await startS3('bench');
  const awsConfig = path.join(OUT, 'aws-config');
  fs.writeFileSync(awsConfig, '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n');
  const nodeAt = process.argv.indexOf('--node');
  const PATH = nodeAt >= 0 ? `${process.argv[nodeAt + 1]}:${process.env.PATH}` : process.env.PATH;
  const env = { ...process.env, PATH, ...S3_KEYS, AWS_CONFIG_FILE: awsConfig, AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  const version = execFileSync('node', ['--version'], { env, encoding: 'utf8' }).trim();
  const bucketDir = path.join(s3.dir, s3.bucket);
  const clear = () => {
    for (const e of fs.readdirSync(bucketDir)) fs.rmSync(path.join(bucketDir, e), { recursive: true, force: true });
  };
  try {
    const hand: number[] = [];
    const push: number[] = [];
    const rss: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const h = must(
        await time(['sh', '-c', `age -r "$1" < "$2" | ${AWS} s3 cp - "s3://${s3.bucket}/hand/round-${i}" --endpoint-url "$3" --only-show-errors`, 'sh', recipient, file, s3.endpoint], env),
        'age | aws s3 cp',
      );
      hand.push(h.ms);
      clear();
      const p = must(await time(['npx', 'zx', 'scripts/push-offsite.ts', '--config', config(big, s3, recipient, `round-${i}`)], env, ROOT), 'push-offsite');
      push.push(p.ms);
      rss.push(p.nodePeakMiB);
      clear();
      console.error(`round ${i + 1}/${rounds}: hand ${fmt(h.ms)} (${h.cpuS.toFixed(1)} s CPU), push-offsite ${fmt(p.ms)} (${p.cpuS.toFixed(1)} s CPU, ${p.nodePeakMiB.toFixed(0)} MiB peak)`);
    }

    const many = path.join(OUT, `noop-${noopCount}`);
    for (let i = 0; i < noopCount; i++) {
      const stamp = new Date(Date.UTC(2026, 0, 1) + i * 3600_000).toISOString().slice(0, 19).replace(/[-:]/g, '_');
      backup(path.join(many, 'backups'), i % 2 ? 'media' : 'database', stamp, 4096);
    }
    const manyConfig = config(many, s3, recipient, 'noop');
    must(await time(['npx', 'zx', 'scripts/push-offsite.ts', '--config', manyConfig], env, ROOT), 'the first push of the many');
    const noop: number[] = [];
    const launcher: number[] = [];
    for (let i = 0; i < rounds; i++) {
      launcher.push(must(await time(['npx', 'zx', '--version'], env, ROOT), 'npx zx --version').ms);
      noop.push(must(await time(['npx', 'zx', 'scripts/push-offsite.ts', '--config', manyConfig], env, ROOT), 'the no-op push').ms);
    }

    const m = { hand: median(hand), push: median(push), noop: median(noop), launcher: median(launcher) };
    console.log(`\nOffsite push of one ${sizeMb} MiB backup to a local s3rver (medians of ${rounds}, the scripts on Node ${version}):\n`);
    console.log('| | time | ratio | Node peak RSS | target |');
    console.log('| --- | --- | --- | --- | --- |');
    console.log(`| \`age -r KEY < file \\| aws s3 cp - s3://…\` | ${fmt(m.hand)} | 1.00x | | |`);
    console.log(`| \`push-offsite\` | ${fmt(m.push)} | ${(m.push / m.hand).toFixed(2)}x | ${Math.max(...rss).toFixed(0)} MiB | ≤ 1.3x, ≤ 200 MiB |`);
    console.log(`\nNo-op push of ${noopCount} backups (all already there): ${fmt(m.noop)} in total; \`npx zx --version\` alone ${fmt(m.launcher)}; ` + `the push past the launcher: ${fmt(m.noop - m.launcher)} (target ≤ 2 s)`);
  } finally {
    await s3.stop();
  }
}

await main();
