// upload-backups: copy local backups into a remote environment's backup tree (a new server being
// rebuilt from them). The same script runs on both ends: here it streams each file, followed by
// its manifest, into `ssh … upload-backups --receive <name> --size N --sha256 H` in the remote
// checkout, which resolves its own backup tree from its own config, writes a hidden temporary
// file, checks size and sha256, and only then links it under its name, never over another file.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { resolveBackupArg, type ResolvedBackup } from '../cli/backup-arg.ts';
import { FailedError, UsageError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { SshTarget } from '../config/resolve.ts';
import { humanBytes } from '../core/format.ts';
import { kindDir, parseBackupName, type BackupName } from '../core/naming.ts';
import { runPipeline } from '../proc/pipeline.ts';
import { manifestPathFor } from '../store/catalog.ts';
import { parseManifestText, sha256File } from '../store/manifest.ts';
import { writeBackupFile, type Fingerprint } from '../store/writer.ts';
import { remoteScriptCommand, sshArgv, SSH_LOST } from './ssh.ts';

/** More than any manifest: what follows the backup on stdin is refused beyond this. */
const MANIFEST_MAX = 16 * 1024 * 1024;

/** A local backup named on the command line: a name from the local tree, or a path to one. */
export function resolveUpload(arg: string, backupDir: string): ResolvedBackup {
  const parsed = parseBackupName(path.basename(arg));
  if (!parsed) {
    throw new UsageError(`"${arg}" is not a backup name this tool makes; run list-backups to see the names`);
  }
  return resolveBackupArg(arg, backupDir, parsed.kind);
}

/** Pure: the arguments of the receiving end for one file. */
export function receiveArgs(name: string, f: Fingerprint): string[] {
  return ['--receive', name, '--size', String(f.size), '--sha256', f.sha256];
}

/** Pure: check what the receiving end was told, before it reads anything. */
export function parseReceive(name: string, size: unknown, sha256: unknown): { name: BackupName; expected: Fingerprint } {
  const parsed = name.includes('/') ? null : parseBackupName(name);
  if (!parsed) throw new UsageError(`"${name}" is not a backup name this tool makes`);
  const n = Number(size);
  const hash = typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : null;
  if (typeof size !== 'string' || !/^\d+$/.test(size) || !Number.isSafeInteger(n)) throw new UsageError('--receive needs --size <bytes>');
  if (!hash) throw new UsageError('--receive needs --sha256 <64 hex digits>');
  return { name: parsed, expected: { size: n, sha256: hash } };
}

/**
 * Send local backups to the target, one remote run per file. Returns the first non-zero remote
 * exit code (2 bad name, 1 failed…), after which nothing more is sent; ssh's own failure throws.
 */
export async function sendBackups(t: SshTarget, files: ResolvedBackup[]): Promise<number> {
  for (const file of files) {
    const size = (await fsp.stat(file.path)).size;
    const sha256 = await sha256File(file.path);
    const manifest = manifestPathFor(file.path);
    const withManifest = fs.existsSync(manifest);
    log.info(`uploading ${file.parsed.name} (${humanBytes(size)}${withManifest ? ', with its manifest' : ''}) to ${t.target}`);
    const run = await runPipeline({
      stages: [
        { name: 'cat', argv: ['cat', '--', file.path, ...(withManifest ? [manifest] : [])] },
        {
          name: 'ssh',
          argv: sshArgv(t, remoteScriptCommand(t, 'upload-backups', receiveArgs(file.parsed.name, { size, sha256 }))),
          // The remote run's messages, live.
          onStderrLine: (line) => process.stderr.write(`${line}\n`),
        },
      ],
      stdout: 1,
    });
    // The remote exit status decides: it has checked what arrived. (cat is cut off by a broken
    // pipe when the remote side already had the file and stopped reading.)
    const ssh = run.stages[1]!;
    if (ssh.code === SSH_LOST) {
      throw new FailedError(`lost the connection to ${t.target} while uploading ${file.parsed.name}; the server keeps nothing of it`);
    }
    if (ssh.code !== 0) return ssh.code ?? 1;
  }
  return 0;
}

export interface Received {
  path: string;
  /** False when an identical file was already there (and nothing was read). */
  written: boolean;
}

/** Receiving end, on the target host: the input is the backup, then its manifest (possibly empty). */
export async function receiveBackup(backupDir: string, name: BackupName, expected: Fingerprint, input: AsyncIterable<unknown> = process.stdin): Promise<Received> {
  const dir = path.join(backupDir, kindDir(name.kind));
  const finalPath = path.join(dir, name.name);
  const existing = await fsp.lstat(finalPath).catch(() => null);
  if (existing) {
    // Stop reading: the sender sees the exit status and moves on.
    const same = existing.isFile() && existing.size === expected.size && (await sha256File(finalPath)) === expected.sha256;
    if (!same) throw new FailedError(`${finalPath} already exists here and is a different file; it is never replaced`);
    return { path: finalPath, written: false };
  }
  let manifestText: string | null = null;
  await writeBackupFile({
    dir,
    names: { exact: name.name },
    label: `receiving ${name.name}`,
    // The first `size` bytes are the backup; what follows is its manifest.
    fill: async (fd) => {
      let written = 0;
      const tail: Buffer[] = [];
      let tailBytes = 0;
      for await (const data of input) {
        const chunk = data as Buffer;
        const forFile = Math.min(chunk.length, Math.max(0, expected.size - written));
        for (let off = 0; off < forFile; ) off += fs.writeSync(fd, chunk, off, forFile - off);
        written += forFile;
        if (forFile < chunk.length) {
          tailBytes += chunk.length - forFile;
          if (tailBytes > MANIFEST_MAX) throw new FailedError(`more data than ${name.name} and a manifest arrived; nothing was kept`);
          tail.push(chunk.subarray(forFile));
        }
      }
      if (!tailBytes) return;
      manifestText = Buffer.concat(tail).toString('utf8');
      const m = parseManifestText(manifestText);
      if (!m) throw new FailedError(`the manifest sent with ${name.name} is damaged; nothing was kept`);
      if (m.sha256 !== expected.sha256 || m.size !== expected.size) {
        throw new FailedError(`${name.name} does not match the manifest sent with it; nothing was kept`);
      }
    },
    expect: async () => expected,
    manifest: () => manifestText,
  });
  return { path: finalPath, written: true };
}
