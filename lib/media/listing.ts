// What is inside a media archive, read through GNU tar's own listing rather than a tar parser
// of ours. Pure: one listing line → entry, entry → why it is unsafe, and the counters and
// scanners that a whole listing feeds, one line at a time (lib/media/check runs tar).
import type { Fingerprint } from '../store/writer.ts';
import { SNAPSHOT_BEGIN, SNAPSHOT_END, WORK_PREFIXES } from './tar.ts';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface ArchiveEntry {
  type: EntryType;
  /** The member name as stored (decoded to UTF-8; `./a/b`, `a/b/`, …). */
  path: string;
  /** Target of a symlink or hardlink, else null. */
  linkTarget: string | null;
  /** Bytes of a regular file; 0 for everything else (devices list major,minor there). */
  size: number;
  /** Permission bits (including setuid/setgid/sticky). */
  mode: number;
  /** As listed: `YYYY-MM-DD HH:MM:SS[.nnnnnnnnn]`. */
  mtime: string;
}

const TYPES: Record<string, EntryType> = {
  '-': 'file',
  d: 'dir',
  l: 'symlink',
  h: 'hardlink',
  c: 'char',
  b: 'block',
  p: 'fifo',
};

// type+mode, owner, size (or major,minor), date, time; then the quoted name.
const HEAD = /^(\S)([-rwxsStT]{9})\S*\s+\S+\s+(\d+|\d+,\s*\d+)\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s+"/;

/** Pure: one line of `tar -tvv --quoting-style=c --full-time --numeric-owner` (or `tar -cvv` stderr). */
export function parseListingLine(line: string): ArchiveEntry | null {
  const m = HEAD.exec(line);
  if (!m) return null;
  const [, typeChar, perms, sizeText, mtime] = m as unknown as [string, string, string, string, string];
  const name = readQuoted(line, m[0].length);
  if (!name) return null;
  let rest = line.slice(name.end);
  let linkTarget: string | null = null;
  const type = TYPES[typeChar] ?? 'other';
  if (rest.startsWith(' -> "') || rest.startsWith(' link to "')) {
    const target = readQuoted(line, name.end + rest.indexOf('"') + 1);
    if (!target) return null;
    linkTarget = target.text;
    rest = line.slice(target.end);
  }
  if (rest.trim() !== '') return null;
  if ((type === 'symlink' || type === 'hardlink') && linkTarget === null) return null;
  return {
    type,
    path: name.text,
    linkTarget,
    size: /^\d+$/.test(sizeText) ? Number(sizeText) : 0,
    mode: parsePerms(perms),
    mtime,
  };
}

function parsePerms(p: string): number {
  let mode = 0;
  const bit = (i: number, on: string, v: number) => {
    if (on.includes(p[i]!)) mode |= v;
  };
  bit(0, 'r', 0o400); bit(1, 'w', 0o200); bit(2, 'xs', 0o100); bit(2, 'sS', 0o4000);
  bit(3, 'r', 0o040); bit(4, 'w', 0o020); bit(5, 'xs', 0o010); bit(5, 'sS', 0o2000);
  bit(6, 'r', 0o004); bit(7, 'w', 0o002); bit(8, 'xt', 0o001); bit(8, 'tT', 0o1000);
  return mode;
}

const SIMPLE_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, '"': 34, '?': 63, "'": 39 };

/** Reads a C-quoted string whose opening quote is just before `start`; returns the text and the index after the closing quote. */
function readQuoted(line: string, start: number): { text: string; end: number } | null {
  const bytes: number[] = [];
  let i = start;
  while (i < line.length) {
    const ch = line[i]!;
    if (ch === '"') return { text: Buffer.from(bytes).toString('utf8'), end: i + 1 };
    if (ch === '\\') {
      const next = line[i + 1];
      if (next === undefined) return null;
      const oct = /^[0-7]{1,3}/.exec(line.slice(i + 1, i + 4));
      if (oct) {
        bytes.push(parseInt(oct[0], 8) & 0xff);
        i += 1 + oct[0].length;
        continue;
      }
      const simple = SIMPLE_ESCAPES[next];
      if (simple === undefined) return null;
      bytes.push(simple);
      i += 2;
      continue;
    }
    // A raw (non-C-locale) listing may carry UTF-8 as is.
    for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
    i += 1;
  }
  return null;
}

/** Pure: the components of a member name or link target, without `.` and empty parts. */
export function pathParts(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Pure: why unpacking this entry could write or point outside the media folder, or null when
 * it is safe. Link targets are judged lexically, which is only sound when `..` never follows a
 * name (`a/..` depends on whether `a` is itself a link), so such targets are refused; a tree
 * archived by tar never has them.
 */
export function unsafeReason(e: ArchiveEntry): string | null {
  if (e.path.startsWith('/')) return `absolute path "${e.path}"`;
  if (e.path.split('/').includes('..')) return `path contains ".."`;
  // The restore's own work entries: an archive made by this tool never holds them at its top.
  const top = pathParts(e.path)[0] ?? '';
  if (WORK_PREFIXES.some((p) => top.startsWith(p))) return `a name reserved for the restore's work ("${top}")`;
  if (e.type === 'char' || e.type === 'block') return `device node (${e.type === 'char' ? 'character' : 'block'} special)`;
  if (e.type === 'fifo') return 'named pipe (fifo)';
  if (e.type === 'other') return 'unsupported entry type';
  if (e.type !== 'symlink' && e.type !== 'hardlink') return null;
  const target = e.linkTarget ?? '';
  const kind = e.type;
  if (target === '') return `${kind} with an empty target`;
  if (target.startsWith('/')) return `${kind} to absolute target "${target}"`;
  const parts = pathParts(target);
  const firstName = parts.findIndex((c) => c !== '..');
  if (firstName !== -1 && parts.slice(firstName).includes('..')) return `${kind} target "${target}" has ".." after a name`;
  const climbs = firstName === -1 ? parts.length : firstName;
  // Symlinks resolve from their own folder, hardlinks from the archive root.
  const depth = kind === 'symlink' ? pathParts(e.path).length - 1 : 0;
  if (climbs > depth) return `${kind} pointing outside the media folder ("${target}")`;
  if (kind === 'hardlink' && !parts.length) return 'hardlink to the archive root';
  return null;
}

/**
 * Pure: why one line of an incremental archive's folder record is unsafe, or null. `tar -t -G`
 * prints, under each folder, what it held (`Y name` in this archive, `N name` not, `D name` a
 * folder) and what was renamed (`R ./old`, `T ./new`), which an extraction with
 * --listed-incremental applies: deletions only ever remove what is on disk in that folder, but
 * the names and rename paths come from the archive and are judged like member names. tar prints
 * them unquoted, so a name with a line break arrives as several lines, each judged on its own:
 * a piece that is not a record line is refused, never guessed at.
 */
export function unsafeFolderRecord(line: string): string | null {
  const m = /^([YNDRT]) (.*)$/.exec(line);
  if (!m) return `folder record not understood: ${JSON.stringify(line.slice(0, 200))}`;
  const [, code, name] = m as unknown as [string, string, string];
  if (code === 'R' || code === 'T') {
    if (name.startsWith('/')) return `rename record with an absolute path "${name}"`;
    if (name.split('/').includes('..')) return `rename record path contains ".."`;
    const top = pathParts(name)[0];
    if (!top) return 'rename record of the archive root';
    if (WORK_PREFIXES.some((p) => top.startsWith(p))) return `rename record of a name reserved for the restore's work ("${top}")`;
    return null;
  }
  if (name === '' || name === '.' || name === '..' || name.includes('/')) return `folder record of the name "${name}"`;
  return null;
}

export interface ArchiveCheck {
  ok: boolean;
  /** Why the archive could not be read to its end (corrupt, truncated), else null. */
  failure: string | null;
  /** Which part could not read it: the decompressor (the compressed stream is damaged) or tar (the archive). */
  failedStage: 'decompress' | 'tar' | null;
  /** `entry "./x": reason` for the first unsafe entry, else null. */
  unsafe: string | null;
  entries: number;
  files: number;
  directories: number;
  /** Sum of the regular files' sizes. */
  bytes: number;
  /** Entries with the setuid or setgid bit (which a restore clears). */
  setIds: number;
  /** Size and sha256 of the bytes read, when the read reached the end. */
  read: Fingerprint | null;
}

export type CheckTotals = Pick<ArchiveCheck, 'entries' | 'files' | 'directories' | 'bytes' | 'setIds'>;

/**
 * Pure: the checks of a chain's archives added up (one archive: its own counts). A file an
 * incremental changed counts once in each archive that holds it: what is unpacked, not what ends up.
 */
export function sumChecks(checks: readonly ArchiveCheck[]): CheckTotals {
  const total: CheckTotals = { entries: 0, files: 0, directories: 0, bytes: 0, setIds: 0 };
  for (const c of checks) for (const k of Object.keys(total) as (keyof CheckTotals)[]) total[k] += c[k];
  return total;
}

/** What a listing adds up to, counted the way people count: hardlinks are files, the root is not a folder. */
export class EntryCounts {
  entries = 0;
  files = 0;
  directories = 0;
  bytes = 0;

  add(e: ArchiveEntry): void {
    this.entries++;
    if (e.type === 'file' || e.type === 'hardlink') {
      this.files++;
      this.bytes += e.size;
    } else if (e.type === 'dir' && pathParts(e.path).length > 0) this.directories++;
  }
}

/** Counts entries and remembers the first unsafe one, line by line. */
export class ListingScanner extends EntryCounts {
  unsafe: string | null = null;
  /** Symlinks seen so far (normalized): nothing may be unpacked through them. */
  private readonly links = new Set<string>();
  /** Listing lines that did not parse (each makes the archive unsafe). */
  unparsed = 0;
  /** Entries with the setuid or setgid bit. */
  setIds = 0;
  /** Inside a folder's record (incremental archives, listed with -G), up to the next empty line. */
  private inRecord = false;
  private lastWasDir = false;

  line(line: string): ArchiveEntry | null {
    if (!line) {
      this.inRecord = false;
      this.lastWasDir = false;
      return null;
    }
    if (this.inRecord || (this.lastWasDir && /^[YNDRT] /.test(line))) {
      this.inRecord = true;
      const reason = unsafeFolderRecord(line);
      if (reason && !this.unsafe) this.unsafe = reason;
      return null;
    }
    const e = parseListingLine(line);
    this.lastWasDir = e?.type === 'dir';
    if (!e) {
      // A line we cannot read may be an entry we cannot judge: refuse rather than guess.
      this.unparsed++;
      if (!this.unsafe) this.unsafe = `listing line not understood: ${JSON.stringify(line.slice(0, 200))}`;
      return null;
    }
    this.add(e);
    if (e.mode & 0o6000 && e.type !== 'symlink') this.setIds++;
    if (!this.unsafe) {
      const reason = unsafeReason(e) ?? this.throughLink(e.path) ?? (e.type === 'hardlink' ? this.throughLink(e.linkTarget ?? '', true) : null);
      if (reason) this.unsafe = `entry "${e.path}": ${reason}`;
    }
    if (e.type === 'symlink') this.links.add(pathParts(e.path).join('/'));
    return e;
  }

  /**
   * An archive made by tar never holds a path below one of its own symlinks; a crafted one
   * uses that to write where the link points (`a -> /etc`, then `a/passwd`).
   */
  private throughLink(p: string, whole = false): string | null {
    if (!this.links.size) return null;
    const parts = pathParts(p);
    const upto = whole ? parts.length : parts.length - 1;
    for (let i = 1; i <= upto; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.links.has(prefix)) return `${whole ? 'hardlink target' : 'path'} goes through the archive's symlink "${prefix}"`;
    }
    return null;
  }
}

/** What tar said while archiving: counts from its listing, and its own messages. */
export class CreateLog extends EntryCounts {
  /** `tar: …` lines, and the create script's own errors (warnings when tar exits 0 or 1, errors when it exits 2). */
  messages: string[] = [];
  /** What the create script left out (special files), one line each, for the manifest. */
  notes: string[] = [];
  /** The last line that was neither (`service "django" is not running`, a shell's complaint). */
  other: string | null = null;
  /**
   * A special file that is in the archive all the same (it appeared while tar ran, or its path
   * holds a line break): restore-media would refuse the whole archive, so the backup must fail.
   */
  special: string | null = null;
  private dropped = 0;
  /** tar's new snapshot file (incremental mode), as handed back on stderr; null until it was. */
  snapshot: Buffer | null = null;
  private snapshotParts: Buffer[] | null = null;

  line = (line: string): void => {
    if (this.snapshotParts) {
      if (line === SNAPSHOT_END) {
        this.snapshot = Buffer.concat(this.snapshotParts);
        this.snapshotParts = null;
      } else this.snapshotParts.push(Buffer.from(line, 'base64'));
      return;
    }
    if (line === SNAPSHOT_BEGIN) {
      this.snapshotParts = [];
      return;
    }
    if (!line) return;
    const ours = /^compose-backup: (warning: )?(.*)$/.exec(line);
    if (ours) {
      if (ours[1]) this.keep(this.notes, ours[2]!);
      else this.keep(this.messages, ours[2]!);
      return;
    }
    // tar names itself as invoked ("tar: …", "/usr/bin/tar: …").
    const m = /^(?:\S*\/)?tar: (.*)$/.exec(line);
    if (m) {
      if (/Exiting with failure status/.test(line)) return;
      this.keep(this.messages, `tar: ${m[1]}`);
      return;
    }
    const e = parseListingLine(line);
    if (e) {
      this.add(e);
      if (!this.special && (e.type === 'fifo' || e.type === 'char' || e.type === 'block' || e.type === 'other')) this.special = e.path;
    } else this.other = line.trim().slice(0, 500) || this.other;
  };

  private keep(list: string[], text: string): void {
    if (this.messages.length + this.notes.length < 100) list.push(text);
    else this.dropped++;
  }

  /** Messages for the manifest (what was left out, then tar's), with a count of those left out. */
  warnings(): string[] {
    const all = [...this.notes, ...this.messages];
    return this.dropped ? [...all, `… and ${this.dropped} more`] : all;
  }
}
