// download-backup: copy one backup (and its manifest) from a remote environment's backup tree
// into this machine's, under the environment-prefixed name (`production_backup_…`).
// The remote tree is found by running the remote list-backups; the file streams through `ssh cat`
// into a hidden temporary file while it is hashed here; the remote host hashes its own copy with
// sha256sum at the same time (so backups older than manifests check too). Only a copy whose size
// and sha256 match gets its final name, and it never replaces a file already there.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { openTemp, publish, sweepStaleTemps, writeFileAtomic } from './atomic.ts';
import { humanBytes, manifestPathFor, MANIFEST_SUFFIX } from './catalog.ts';
import { loadConfigFile, resolveSettings, type SshTarget } from './config.ts';
import { FailedError, UsageError } from './errors.ts';
import type { ListedBackup } from './listing.ts';
import { log } from './log.ts';
import { ManifestSchema, sha256File } from './manifest.ts';
import { kindDir, parseBackupName, withEnvPrefix, type BackupKind, type BackupName } from './naming.ts';
import { runPipeline } from './pipeline.ts';
import { startProgress } from './progress.ts';
import { capture, firstError, type Captured } from './run.ts';
import { remoteScriptCommand, sshArgv, SSH_LOST } from './ssh.ts';

/** Pure: the seed's kind argument (`postgres` or `media`, the folder names of the tree). */
export function parseKindArg(arg: string | undefined): BackupKind {
  if (arg === 'postgres') return 'database';
  if (arg === 'media') return 'media';
  throw new UsageError(`the first argument is the kind of backup: postgres or media, not "${arg ?? ''}"`);
}

/**
 * Pure: the remote backup to copy. Only a bare name of the remote tree is accepted (a path would
 * name a file outside it), of the kind given, and not itself a copy from elsewhere.
 */
export function parseRemoteName(arg: string | undefined, kind: BackupKind): BackupName {
  const example = kind === 'database' ? 'backup_2024_01_15T14_30_00.sql.zst' : 'media_backup_2024_01_15T14_30_00.tar.zst';
  if (!arg || arg.includes('/') || arg.includes('\0')) {
    throw new UsageError(`"${arg ?? ''}" is not a backup name: give a name from the remote list-backups, such as ${example}`);
  }
  const parsed = parseBackupName(arg);
  if (!parsed) throw new UsageError(`"${arg}" is not a backup name this tool makes (expected e.g. ${example})`);
  if (parsed.kind !== kind) {
    throw new UsageError(`"${arg}" is a ${parsed.kind} backup; download it with kind ${kindDir(parsed.kind)}`);
  }
  if (parsed.env) {
    throw new UsageError(`"${arg}" is already a copy from "${parsed.env}"; download the original from that environment`);
  }
  return parsed;
}

/**
 * The backup tree of this machine: the one list-backups and restore-* use by default, i.e. the
 * `local` environment's (BACKUP_DIR, else its backupDir, else ./backups). Downloads land there
 * so that the seed's routine, download then `restore-db production_backup_…`, just works.
 */
export function localBackupDir(configOption: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const { config, configPath } = loadConfigFile(configOption, cwd);
  if (!config || config.environments.local) {
    return resolveSettings({ config, configPath, envName: 'local', env, cwd }).backupDir;
  }
  return path.resolve(cwd, env.BACKUP_DIR || 'backups');
}

/** Pure: the entry of the remote listing for a name, or a usage error that says how to look. */
export function findRemote(listing: ListedBackup[], name: BackupName, where: string): ListedBackup {
  const found = listing.find((b) => b.name === name.name && b.kind === name.kind);
  if (!found) throw new UsageError(`no backup ${name.name} on ${where}; run list-backups there to see the names`);
  if (!path.posix.isAbsolute(found.path) || path.posix.basename(found.path) !== name.name) {
    throw new FailedError(`the remote list-backups gave an unexpected path for ${name.name}: ${found.path}`);
  }
  return found;
}

/** Pure: the hash in `sha256sum` output, null when it is not there. */
export function parseSha256sum(stdout: string): string | null {
  return /^\\?([0-9a-f]{64}) [ *]/.exec(stdout)?.[1] ?? null;
}

export interface Fingerprint {
  size: number;
  sha256: string;
}

/** Pure: why a copy differs from the original, or null when it is the same file. */
export function copyMismatch(original: Fingerprint, copy: Fingerprint): string | null {
  if (copy.size !== original.size) return `${humanBytes(copy.size)} (${copy.size} bytes) instead of ${original.size} bytes`;
  if (copy.sha256 !== original.sha256) return `sha256 ${copy.sha256} instead of ${original.sha256}`;
  return null;
}

/** The stdout of a remote command; ssh's failure, the remote's usage error and the rest explained. */
function remoteOutput(t: SshTarget, what: string, c: Captured): string {
  if (c.code === 0) return c.stdout;
  const why = firstError(c.stderr);
  if (c.code === SSH_LOST) {
    throw new FailedError(`cannot reach ${t.target} or lost the connection (${what}): ${why || 'ssh exit 255'}`);
  }
  const message = `${what} on ${t.target} failed (exit ${c.code})${why ? `: ${why}` : ''}`;
  throw c.code === 2 ? new UsageError(message) : new FailedError(message);
}

async function remoteListing(t: SshTarget): Promise<ListedBackup[]> {
  const out = remoteOutput(t, 'list-backups', await capture(sshArgv(t, remoteScriptCommand(t, 'list-backups', ['--json']))));
  try {
    return JSON.parse(out) as ListedBackup[];
  } catch {
    throw new FailedError(
      `list-backups on ${t.target} printed something that is not its JSON listing (does the remote login shell print to stdout?): ${out.split('\n')[0]?.slice(0, 200)}`,
    );
  }
}

/** Pure: the remote fingerprint command's output: sha256sum's line, then the manifest if any. */
export function parseFingerprint(stdout: string): { sha256: string | null; manifestText: string | null } {
  const newline = stdout.indexOf('\n');
  const rest = newline < 0 ? '' : stdout.slice(newline + 1);
  return { sha256: parseSha256sum(stdout), manifestText: rest.length ? rest : null };
}

/**
 * The remote file's sha256, computed there by sha256sum (old backups have no manifest to trust),
 * and its manifest's text. One session for both: each ssh login costs the remote shell's startup.
 */
async function remoteFingerprint(t: SshTarget, file: string): Promise<{ sha256: string; manifestText: string | null }> {
  const script = 'sha256sum -- "$1" && if [ -e "$1$2" ]; then cat -- "$1$2"; fi';
  const out = remoteOutput(t, `sha256sum of ${file}`, await capture(sshArgv(t, ['sh', '-c', script, 'sh', file, MANIFEST_SUFFIX])));
  const { sha256, manifestText } = parseFingerprint(out);
  if (!sha256) throw new FailedError(`sha256sum on ${t.target} gave no hash for ${file}: ${out.slice(0, 200)}`);
  return { sha256, manifestText: manifestText === null ? null : checkedManifest(manifestText, t, file) };
}

/** The manifest's text when it is one; a damaged one is said and left behind. */
function checkedManifest(text: string, t: SshTarget, file: string): string | null {
  try {
    ManifestSchema.parse(JSON.parse(text));
    return text;
  } catch {
    log.warn(`the manifest of ${path.posix.basename(file)} on ${t.target} is damaged; the backup is copied without it`);
    return null;
  }
}

export interface DownloadSpec {
  target: SshTarget;
  /** The environment's name here: the prefix of the copy. */
  envName: string;
  name: BackupName;
  /** This machine's backup tree. */
  backupDir: string;
}

export interface Downloaded {
  path: string;
  name: string;
  size: number;
  sha256: string;
  manifestPath: string | null;
  /** False when an identical copy was already here. */
  transferred: boolean;
}

/** Thrown by the publish name proposer: the one name a download may take is taken. */
class NameTaken extends Error {}

export async function downloadBackup(spec: DownloadSpec): Promise<Downloaded> {
  const t = spec.target;
  const dir = path.join(spec.backupDir, kindDir(spec.name.kind));
  const finalName = withEnvPrefix(spec.name, spec.envName);
  const finalPath = path.join(dir, finalName);
  const where = `${t.target} (${spec.envName})`;

  log.info(`looking for ${spec.name.name} on ${where}`);
  const remote = findRemote(await remoteListing(t), spec.name, where);
  // Started now, read after the transfer: the remote host hashes while the copy streams.
  const fingerprint = remoteFingerprint(t, remote.path);
  fingerprint.catch(() => undefined);
  const remoteHash = fingerprint.then((f) => f.sha256);
  remoteHash.catch(() => undefined);

  const already = await fsp.lstat(finalPath).catch(() => null);
  if (already) return keepExisting(finalPath, already, remote.size, remoteHash, where);

  await sweepStaleTemps(dir);
  const temp = await openTemp(dir, finalName);
  const hash = crypto.createHash('sha256');
  const progress = startProgress(`downloading ${spec.name.name}`, () => {
    try {
      return fs.fstatSync(temp.fd).size;
    } catch {
      return 0;
    }
  });
  try {
    const transfer = await runPipeline({
      stages: [{ name: 'ssh', argv: sshArgv(t, ['cat', '--', remote.path]) }],
      stdout: fs.createWriteStream(temp.path, { fd: temp.fd, autoClose: false }),
      tap: {
        after: 0,
        stream: new Transform({
          transform(chunk: Buffer, _enc, done) {
            hash.update(chunk);
            done(null, chunk);
          },
        }),
      },
    });
    progress.stop();
    if (!transfer.ok) {
      const ssh = transfer.stages[0]!;
      throw new FailedError(
        ssh.code === SSH_LOST
          ? `lost the connection to ${t.target} while downloading ${spec.name.name}; nothing was kept (${firstError(ssh.stderr) || 'ssh exit 255'})`
          : `downloading ${spec.name.name} from ${where} failed; nothing was kept: ${transfer.failure}`,
      );
    }
    const copy = { size: fs.fstatSync(temp.fd).size, sha256: hash.digest('hex') };
    const original = { size: remote.size, sha256: await remoteHash };
    const mismatch = copyMismatch(original, copy);
    if (mismatch) throw new FailedError(`the copy of ${spec.name.name} does not match the file on ${where}: ${mismatch}; nothing was kept; try again`);
    const { manifestText } = await fingerprint;
    if (manifestText) {
      const m = ManifestSchema.parse(JSON.parse(manifestText));
      if (m.sha256 !== original.sha256 || m.size !== original.size) {
        throw new FailedError(`${spec.name.name} on ${where} no longer matches its manifest (damaged there); nothing was kept; run verify on that host`);
      }
    }
    try {
      await publish(
        temp,
        dir,
        // Only one name will do: a copy never becomes `…-2`, it is the same backup or a conflict.
        (seq) => {
          if (seq > 1) throw new NameTaken();
          return finalName;
        },
        1,
        // The final name is free, so a manifest under it is a leftover of an interrupted run.
        manifestText ? (name) => writeFileAtomic(manifestPathFor(path.join(dir, name)), manifestText) : undefined,
      );
    } catch (err) {
      if (!(err instanceof NameTaken)) throw err;
      await temp.discard();
      return keepExisting(finalPath, await fsp.lstat(finalPath), remote.size, remoteHash, where);
    }
    return { path: finalPath, name: finalName, ...copy, manifestPath: manifestText ? manifestPathFor(finalPath) : null, transferred: true };
  } catch (err) {
    progress.stop();
    await temp.discard();
    if (err instanceof FailedError || err instanceof UsageError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOSPC') throw new FailedError(`downloading ${spec.name.name} failed: no space left on ${dir}; nothing was kept`);
    throw new FailedError(`downloading ${spec.name.name} failed: ${e.message}; nothing was kept`);
  }
}

/** A file already has the copy's name: fine when it is the same backup, never replaced otherwise. */
async function keepExisting(file: string, st: fs.Stats, remoteSize: number, remoteHash: Promise<string>, where: string): Promise<Downloaded> {
  const conflict = (why: string) =>
    new FailedError(`${file} already exists and is not the backup on ${where} (${why}); it is never replaced: move it away to download again`);
  if (!st.isFile()) throw conflict('not a regular file');
  const sizeOnly = copyMismatch({ size: remoteSize, sha256: '' }, { size: st.size, sha256: '' });
  if (sizeOnly) throw conflict(sizeOnly);
  const local = { size: st.size, sha256: await sha256File(file) };
  const mismatch = copyMismatch({ size: remoteSize, sha256: await remoteHash }, local);
  if (mismatch) throw conflict(mismatch);
  const manifest = manifestPathFor(file);
  return {
    path: file,
    name: path.basename(file),
    ...local,
    manifestPath: fs.existsSync(manifest) ? manifest : null,
    transferred: false,
  };
}
