// Fixtures for the offsite tests: age keys made by age-keygen, and small backups with real
// manifests made without a database (random bytes, zstd-compressed), in a backup tree.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { kindDir, makeBackupName, type BackupKind } from '../../lib/core/naming.ts';
import { manifestText, newManifest } from '../../lib/store/manifest.ts';
import { tempDir } from './cli.ts';

export interface AgeKeys {
  identityFile: string;
  recipient: string;
}

/** A fresh X25519 identity (its file 0600) and its public key. */
export function ageKeys(): AgeKeys {
  const dir = tempDir('cbt-age-');
  const identityFile = path.join(dir, 'key.txt');
  execFileSync('age-keygen', ['-o', identityFile], { stdio: 'ignore' });
  fs.chmodSync(identityFile, 0o600);
  const recipient = execFileSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).trim();
  return { identityFile, recipient };
}

export interface MadeBackup {
  name: string;
  path: string;
  kind: BackupKind;
  bytes: Buffer;
}

/** A backup file (zstd of `plainBytes` random bytes) and its manifest, as backup-* would leave them. */
export function makeBackup(backupDir: string, kind: BackupKind, stamp: string, plainBytes = 64 * 1024): MadeBackup {
  const name = makeBackupName({ kind, role: 'backup', stamp, codec: 'zstd' });
  const dir = path.join(backupDir, kindDir(kind));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bytes = execFileSync('zstd', ['-q', '-1', '-c'], { input: crypto.randomBytes(plainBytes), maxBuffer: 1 << 30 });
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes, { mode: 0o600 });
  const started = new Date(`${stamp.slice(0, 10).replaceAll('_', '-')}T${stamp.slice(11).replaceAll('_', ':')}Z`);
  const manifest = newManifest({
    name,
    kind,
    role: 'backup',
    set: stamp,
    environment: 'local',
    codec: 'zstd',
    size: bytes.length,
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    startedAt: started,
    finishedAt: started,
    content: kind === 'media' ? { media: { files: 1, directories: 1, bytes: plainBytes, warnings: [] } } : {},
  });
  fs.writeFileSync(`${file}.manifest.json`, manifestText(manifest), { mode: 0o600 });
  return { name, path: file, kind, bytes };
}

export function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** Flip one byte of a file in place (a disk or a storage service gone bad); by default in its middle. */
export function flipByte(file: string, offset?: number): void {
  const fd = fs.openSync(file, 'r+');
  const at = offset ?? Math.floor(fs.fstatSync(fd).size / 2);
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    fs.writeSync(fd, b, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}
