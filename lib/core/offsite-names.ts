// Where copies live at an offsite target, and what a target's listing holds. Every target kind
// has the same layout below its root (an S3 prefix, a folder): `<environment>/<postgres|media>/`,
// holding for each backup
//   <name>.age                     the backup, encrypted (or <name> with encryption: none)
//   <name>.age.sha256              the copy's sha256, in sha256sum's format (`sha256sum -c` works there)
//   <name>.manifest.json.age       its manifest, encrypted too (it names tables)
// A target is as hostile as a backup folder: only names that parse here are ever read, listed or
// removed. Pure, table-tested.
import { kindDir, newestFirst, parseBackupName, type BackupName } from './naming.ts';

export const AGE_SUFFIX = '.age';
export const CHECKSUM_SUFFIX = '.sha256';
export const MANIFEST_PART = '.manifest.json';

export type CopyPart = 'data' | 'checksum' | 'manifest';

/** One object as a target lists it, its key relative to the environment's folder. */
export interface StoredObject {
  key: string;
  size: number;
  modified: Date | null;
}

export interface CopyKeys {
  data: string;
  checksum: string;
  manifest: string;
}

/** Pure: the keys of a backup's copy, relative to the environment's folder. */
export function copyKeys(b: Pick<BackupName, 'name' | 'kind'>, encrypted: boolean): CopyKeys {
  const suffix = encrypted ? AGE_SUFFIX : '';
  const data = `${kindDir(b.kind)}/${b.name}${suffix}`;
  return { data, checksum: data + CHECKSUM_SUFFIX, manifest: `${kindDir(b.kind)}/${b.name}${MANIFEST_PART}${suffix}` };
}

/** Pure: the environment's folder below a target's root (an S3 prefix or a path; '' for none). */
export function envFolder(root: string, env: string): string {
  const r = root.replace(/\/+$/, '');
  return r ? `${r}/${env}` : env;
}

export interface ParsedKey {
  name: BackupName;
  part: CopyPart;
  encrypted: boolean;
}

/**
 * Pure: which copy and which part a key is, or null for anything else (another tool's files, a
 * temporary, a safety snapshot, another environment's copy). Only this environment's own regular
 * backups are ever pushed, so only those parse.
 */
export function parseObjectKey(key: string): ParsedKey | null {
  const m = /^(postgres|media)\/([^/]+)$/.exec(key);
  if (!m) return null;
  const folder = m[1] as 'postgres' | 'media';
  let base = m[2]!;
  let part: CopyPart = 'data';
  if (base.endsWith(CHECKSUM_SUFFIX)) {
    part = 'checksum';
    base = base.slice(0, -CHECKSUM_SUFFIX.length);
  }
  const encrypted = base.endsWith(AGE_SUFFIX);
  if (encrypted) base = base.slice(0, -AGE_SUFFIX.length);
  if (base.endsWith(MANIFEST_PART)) {
    if (part === 'checksum') return null;
    part = 'manifest';
    base = base.slice(0, -MANIFEST_PART.length);
  }
  const name = parseBackupName(base);
  if (!name || name.env !== null || name.role !== 'backup' || kindDir(name.kind) !== folder) return null;
  return { name, part, encrypted };
}

/** Pure: the checksum sidecar's text: sha256sum's line for the copy's file name. */
export function checksumText(sha256: string, dataKey: string): string {
  return `${sha256}  ${dataKey.slice(dataKey.lastIndexOf('/') + 1)}\n`;
}

/** Pure: the hash a sidecar records for `dataKey`, or null when it is not such a line. */
export function parseChecksumText(text: string, dataKey: string): string | null {
  const m = /^([0-9a-f]{64}) [ *](.+)\n?$/.exec(text);
  if (!m || m[2] !== dataKey.slice(dataKey.lastIndexOf('/') + 1)) return null;
  return m[1]!;
}

/** A backup's copy at a target: its data object, and whether its sidecar and manifest are there. */
export interface RemoteCopy extends BackupName {
  /** The data object's key and size (ciphertext). */
  key: string;
  size: number;
  modified: Date | null;
  encrypted: boolean;
  keys: CopyKeys;
  hasChecksum: boolean;
  hasManifest: boolean;
}

export interface TargetListing {
  /** Newest first. */
  copies: RemoteCopy[];
  /** Sidecars and manifests whose copy is not there (an interrupted push or prune). */
  orphans: StoredObject[];
}

/** Pure: a target's objects as copies. A backup present both encrypted and not counts as the encrypted one. */
export function collectCopies(objects: readonly StoredObject[]): TargetListing {
  const byKey = new Map(objects.map((o) => [o.key, o]));
  const copies = new Map<string, RemoteCopy>();
  for (const o of objects) {
    const parsed = parseObjectKey(o.key);
    if (!parsed || parsed.part !== 'data') continue;
    const known = copies.get(parsed.name.name);
    if (known && known.encrypted) continue;
    const keys = copyKeys(parsed.name, parsed.encrypted);
    copies.set(parsed.name.name, {
      ...parsed.name,
      key: o.key,
      size: o.size,
      modified: o.modified,
      encrypted: parsed.encrypted,
      keys,
      hasChecksum: byKey.has(keys.checksum),
      hasManifest: byKey.has(keys.manifest),
    });
  }
  const used = new Set([...copies.values()].flatMap((c) => [c.keys.data, c.keys.checksum, c.keys.manifest]));
  const orphans = objects.filter((o) => {
    const parsed = parseObjectKey(o.key);
    return parsed !== null && parsed.part !== 'data' && !used.has(o.key);
  });
  return { copies: [...copies.values()].sort(newestFirst), orphans };
}
