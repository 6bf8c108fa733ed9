// download-backup: copy one backup (and its manifest) from a remote environment's backup tree
// into this machine's, under the environment-prefixed name (`production_backup_…`).
// The remote tree is found by running the remote list-backups; the file streams through `ssh cat`
// into a hidden temporary file while it is hashed here; the remote host hashes its own copy with
// sha256sum at the same time (so backups older than manifests check too). Only a copy whose size
// and sha256 match gets its final name, and it never replaces a file already there.
// An incremental media backup comes with every archive of its chain that is not here yet (the
// full and the incrementals it builds on, each checked the same way), so it restores here.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { FailedError, UsageError } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import type { SshTarget } from '../config/resolve.ts';
import type { ListedBackup } from '../core/listing.ts';
import { chainByNames, linkProblem } from '../core/chains.ts';
import { kindDir, parseBackupName, withEnvPrefix, type BackupKind, type BackupName } from '../core/naming.ts';
import { capture, type Captured } from '../proc/capture.ts';
import { firstError, runPipeline } from '../proc/pipeline.ts';
import { manifestPathFor, MANIFEST_SUFFIX } from '../store/catalog.ts';
import { parseManifestText, readManifest, sha256File } from '../store/manifest.ts';
import { copyMismatch, NameTakenError, writeBackupFile, type Fingerprint } from '../store/writer.ts';
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

/** Pure: the entry of the remote listing for a name, or a usage error that says how to look. */
export function findRemote(listing: ListedBackup[], name: BackupName, where: string): ListedBackup {
  const found = listing.find((b) => b.name === name.name && b.kind === name.kind);
  if (!found) throw new UsageError(`no backup ${name.name} on ${where}; run list-backups there to see the names`);
  if (!path.posix.isAbsolute(found.path) || path.posix.basename(found.path) !== name.name) {
    throw new FailedError(`the remote list-backups gave an unexpected path for ${name.name}: ${found.path}`);
  }
  return found;
}

/**
 * Pure: the entries of the remote listing a restore of `name` needs, oldest first: the backup
 * itself, or for an incremental its whole chain there (found by name, as lib/core/chains does;
 * each link's manifest confirms it once copied). A chain with a gap there cannot be restored
 * anywhere: refused before anything is copied.
 */
export function remoteChain(listing: ListedBackup[], name: BackupName, where: string): ListedBackup[] {
  const point = findRemote(listing, name, where);
  if (name.kind !== 'media' || name.level === 0) return [point];
  const chain = chainByNames(name, listing.map((b) => b.name));
  if (chain.broken) {
    throw new FailedError(`${name.name} on ${where} cannot be restored, so it was not downloaded: its chain is broken there (${chain.broken})`);
  }
  return chain.links.map((l) => findRemote(listing, l, where));
}

/** Pure: the hash in `sha256sum` output, null when it is not there. */
export function parseSha256sum(stdout: string): string | null {
  return /^\\?([0-9a-f]{64}) [ *]/.exec(stdout)?.[1] ?? null;
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
  if (parseManifestText(text)) return text;
  {
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

export interface DownloadedPoint extends Downloaded {
  /** An incremental: the archives it builds on, full first, each downloaded or found here already. */
  chain: Downloaded[];
}

export async function downloadBackup(spec: DownloadSpec): Promise<DownloadedPoint> {
  const where = `${spec.target.target} (${spec.envName})`;
  log.info(`looking for ${spec.name.name} on ${where}`);
  const links = remoteChain(await remoteListing(spec.target), spec.name, where);
  if (links.length > 1) log.info(`${spec.name.name} is an incremental: a restore needs ${links.length - 1} more archive(s) of its chain, from ${links[0]!.name}`);
  const got: Downloaded[] = [];
  for (const remote of links) {
    const name = parseBackupName(remote.name)!;
    if (links.length > 1 && remote.name !== spec.name.name) log.info(`${remote.name}, which ${spec.name.name} builds on`);
    got.push(await downloadOne(spec, name, remote, where));
  }
  // Each copy must be the very archive the next one was made on, as restore-media will insist.
  for (let i = 1; i < got.length; i++) {
    const problem = linkProblem({ name: got[i]!.name, manifest: await readManifest(got[i]!.path).catch(() => null) }, { name: got[i - 1]!.name, sha256: got[i - 1]!.sha256 });
    if (problem) throw new FailedError(`the chain of ${spec.name.name} copied from ${where} does not hold together (${problem}); the copies are kept as they are there; run verify on that host`);
  }
  return { ...got[got.length - 1]!, chain: got.slice(0, -1) };
}

async function downloadOne(spec: DownloadSpec, name: BackupName, remote: ListedBackup, where: string): Promise<Downloaded> {
  const t = spec.target;
  const dir = path.join(spec.backupDir, kindDir(name.kind));
  const finalName = withEnvPrefix(name, spec.envName);
  const finalPath = path.join(dir, finalName);
  // Started now, read after the transfer: the remote host hashes while the copy streams.
  const fingerprint = remoteFingerprint(t, remote.path);
  fingerprint.catch(() => undefined);
  const original = fingerprint.then((f): Fingerprint => ({ size: remote.size, sha256: f.sha256 }));
  original.catch(() => undefined);

  const already = await fsp.lstat(finalPath).catch(() => null);
  if (already) return keepExisting(finalPath, already, original, where);

  let manifestText: string | null = null;
  try {
    const file = await writeBackupFile({
      dir,
      names: { exact: finalName },
      label: `downloading ${name.name}`,
      fill: async (fd) => {
        const transfer = await runPipeline({ stages: [{ name: 'ssh', argv: sshArgv(t, ['cat', '--', remote.path]) }], stdout: fd });
        if (!transfer.failure) return;
        const ssh = transfer.stages[0]!;
        throw new FailedError(
          ssh.code === SSH_LOST
            ? `lost the connection to ${t.target} while downloading ${name.name}; nothing was kept (${firstError(ssh.stderr) || 'ssh exit 255'})`
            : `downloading ${name.name} from ${where} failed; nothing was kept: ${transfer.failure.message}`,
        );
      },
      expect: async () => {
        const want = await original;
        // The server's own manifest must agree with the server's own file, or the backup is damaged there.
        manifestText = (await fingerprint).manifestText;
        const m = manifestText ? parseManifestText(manifestText) : null;
        if (m && (m.sha256 !== want.sha256 || m.size !== want.size)) {
          throw new FailedError(`${name.name} on ${where} no longer matches its manifest (damaged there); nothing was kept; run verify on that host`);
        }
        return want;
      },
      manifest: () => manifestText,
    });
    return { path: file.path, name: file.name, size: file.size, sha256: file.sha256, manifestPath: file.manifestText ? manifestPathFor(file.path) : null, transferred: true };
  } catch (err) {
    // Another download of the same backup finished first: the same file, or a conflict.
    if (err instanceof NameTakenError) return keepExisting(finalPath, await fsp.lstat(finalPath), original, where);
    throw err;
  }
}

/** A file already has the copy's name: fine when it is the same backup, never replaced otherwise. */
async function keepExisting(file: string, st: fs.Stats, original: Promise<Fingerprint>, where: string): Promise<Downloaded> {
  const conflict = (why: string) =>
    new FailedError(`${file} already exists and is not the backup on ${where} (${why}); it is never replaced: move it away to download again`);
  if (!st.isFile()) throw conflict('not a regular file');
  const want = await original;
  const sizeOnly = copyMismatch({ size: want.size, sha256: '' }, { size: st.size, sha256: '' });
  if (sizeOnly) throw conflict(sizeOnly);
  const local = { size: st.size, sha256: await sha256File(file) };
  const mismatch = copyMismatch(want, local);
  if (mismatch) throw conflict(mismatch);
  const manifest = manifestPathFor(file);
  return { path: file, name: path.basename(file), ...local, manifestPath: fs.existsSync(manifest) ? manifest : null, transferred: false };
}
