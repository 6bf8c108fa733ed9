// Backup file names: the only files the tool ever modifies or deletes are the ones whose
// names parse here. Everything is pure; `now` comes from the caller.

export type BackupKind = 'database' | 'media';
/** A regular backup, or the safety copy a restore takes of what it replaces. */
export type BackupRole = 'backup' | 'snapshot';
export type Codec = 'zstd' | 'gzip';

export interface BackupName {
  name: string;
  kind: BackupKind;
  role: BackupRole;
  /** UTC time the backup (or its set) started, to the second. */
  time: Date;
  /** `YYYY_MM_DDTHH_MM_SS`, shared by the two halves of a set. */
  stamp: string;
  /** 1, or 2, 3… when several backups started in the same second. */
  seq: number;
  codec: Codec;
  /** The environment a downloaded copy came from (`production_backup_…`), else null. */
  env: string | null;
  /**
   * Media backups only: 0 for a full archive, N for the Nth incremental of a chain
   * (`media_backup_<stamp>.incN.tar.zst`, built on the archive of level N-1 before it).
   */
  level: number;
}

const STAMP = '(\\d{4})_(\\d{2})_(\\d{2})T(\\d{2})_(\\d{2})_(\\d{2})';
const SEQ = '(?:-([2-9]|[1-9]\\d+))?';
/** An incremental media archive's level: `.inc1`, `.inc2`… (a full has none). */
const LEVEL = '(?:\\.inc([1-9]\\d*))?';
const EXT = { zstd: 'zst', gzip: 'gz' } as const;
const CODEC_BY_EXT: Record<string, Codec> = { zst: 'zstd', gz: 'gzip' };

/** Environment names double as file-name prefixes, so they may not contain `_`. */
export const ENV_NAME = /^[a-z][a-z0-9-]*$/;
/** Prefixes that would make a name ambiguous (`media_backup_…`, `temp_before_restore_…`). */
export const RESERVED_ENV_NAMES = ['media', 'temp'];

// The three shapes the tool makes. `media_backup_` must be tried as a whole before a
// prefix is considered, or `media_backup_…` would read as environment "media".
const SHAPES = `(?:(backup)_${STAMP}${SEQ}\\.sql|(media_backup)_${STAMP}${SEQ}${LEVEL}\\.tar|(temp_before_restore)_${STAMP}${SEQ}\\.(sql|tar))\\.(zst|gz)`;
const BARE = new RegExp(`^${SHAPES}$`);
const PREFIXED = new RegExp(`^([a-z][a-z0-9-]*)_${SHAPES}$`);

export function formatStamp(date: Date): string {
  // `YYYY_MM_DDTHH_MM_SS` in UTC: the ISO form with its separators swapped.
  return date.toISOString().slice(0, 19).replace(/[-:]/g, '_');
}

export function parseStamp(stamp: string): Date | null {
  const m = new RegExp(`^${STAMP}$`).exec(stamp);
  if (!m) return null;
  return fromParts(m.slice(1, 7));
}

function fromParts(parts: (string | undefined)[]): Date | null {
  const [y, mo, d, h, mi, s] = parts.map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Reject impossible dates such as 2026_02_30 rather than silently rolling them over.
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  return date;
}

export function parseBackupName(name: string): BackupName | null {
  let env: string | null = null;
  let m = BARE.exec(name);
  let groups: (string | undefined)[];
  if (m) {
    groups = m.slice(1);
  } else {
    m = PREFIXED.exec(name);
    if (!m) return null;
    env = m[1] ?? null;
    if (env && RESERVED_ENV_NAMES.includes(env)) return null;
    groups = m.slice(2);
  }
  // groups: [backup, 6 stamp, seq] [media_backup, 6 stamp, seq, level] [temp, 6 stamp, seq, ext] [codec]
  let kind: BackupKind;
  let level = 0;
  let role: BackupRole = 'backup';
  let stampParts: (string | undefined)[];
  let seqText: string | undefined;
  if (groups[0]) {
    kind = 'database';
    stampParts = groups.slice(1, 7);
    seqText = groups[7];
  } else if (groups[8]) {
    kind = 'media';
    stampParts = groups.slice(9, 15);
    seqText = groups[15];
    level = groups[16] ? Number(groups[16]) : 0;
    if (!Number.isSafeInteger(level)) return null;
  } else {
    role = 'snapshot';
    kind = groups[25] === 'sql' ? 'database' : 'media';
    stampParts = groups.slice(18, 24);
    seqText = groups[24];
  }
  const codec = CODEC_BY_EXT[groups[26] ?? ''];
  const time = fromParts(stampParts);
  if (!time || !codec) return null;
  return {
    name,
    kind,
    role,
    time,
    stamp: stampParts.slice(0, 3).join('_') + 'T' + stampParts.slice(3).join('_'),
    seq: seqText ? Number(seqText) : 1,
    codec,
    env,
    level,
  };
}

export interface NameParts {
  kind: BackupKind;
  role: BackupRole;
  stamp: string;
  seq?: number;
  codec: Codec;
  env?: string | null;
  /** Media backups: the incremental level (0 or absent: a full). */
  level?: number;
}

export function makeBackupName(p: NameParts): string {
  const base =
    p.role === 'snapshot' ? 'temp_before_restore' : p.kind === 'database' ? 'backup' : 'media_backup';
  const ext = p.kind === 'database' ? 'sql' : 'tar';
  const seq = p.seq && p.seq > 1 ? `-${p.seq}` : '';
  const prefix = p.env ? `${p.env}_` : '';
  const level = p.kind === 'media' && p.role === 'backup' && p.level ? `.inc${p.level}` : '';
  return `${prefix}${base}_${p.stamp}${seq}${level}.${ext}.${EXT[p.codec]}`;
}

/** The folder of the backup tree that holds a kind. */
export function kindDir(kind: BackupKind): 'postgres' | 'media' {
  return kind === 'database' ? 'postgres' : 'media';
}

/** The same backup as another environment's copy (`production_backup_…`). */
export function withEnvPrefix(b: BackupName, env: string): string {
  return makeBackupName({ ...b, env });
}

/** Identifies the set a backup belongs to: both halves of one backup-full share it. */
export function setKey(b: Pick<BackupName, 'stamp' | 'seq'>): string {
  return b.seq > 1 ? `${b.stamp}-${b.seq}` : b.stamp;
}

/** Newest first; same second ordered by sequence number. */
export function newestFirst(a: Pick<BackupName, 'time' | 'seq' | 'name'>, b: Pick<BackupName, 'time' | 'seq' | 'name'>): number {
  return b.time.getTime() - a.time.getTime() || b.seq - a.seq || (a.name < b.name ? -1 : 1);
}

/** Temporary files of a run in progress: hidden, never parse as a backup. */
export function tempName(finalName: string, token: string): string {
  return `.${finalName}.partial-${token}`;
}
