// Names of safety databases. With `restore.databaseSafetyCopy: keep` (the default) restore-db
// keeps the database it replaces, renamed `<live>_temp_before_restore_<UTC stamp>[_N]` (the seed's
// safety copy name, as a database). Pure: naming, exact matching, the listing query; the server
// side is lib/db/safety-dbs.
import crypto from 'node:crypto';
import { parseStamp } from '../core/naming.ts';

export const SAFETY_INFIX = '_temp_before_restore_';
/** PostgreSQL's NAMEDATALEN - 1: longer names are cut by the server, silently. */
export const MAX_NAME_BYTES = 63;
const STAMP = '\\d{4}_\\d{2}_\\d{2}T\\d{2}_\\d{2}_\\d{2}';
const SHAPE = new RegExp(`^([^]*)${SAFETY_INFIX}(${STAMP})(?:_([2-9]|[1-9]\\d+))?$`);
const HASH_CHARS = 6;

export interface SafetyDatabase {
  name: string;
  stamp: string;
  /** 1, or 2, 3, … for restores in the same second. */
  seq: number;
  time: Date;
  /** Bytes on the server, when asked for and readable; else null. */
  size: number | null;
}

/** Pure: `text` cut to at most `max` UTF-8 bytes, never inside a character. */
export function clipBytes(text: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * Pure: the name the replaced database `live` gets. The stamp and sequence are never cut; a live
 * name too long for the rest is cut by bytes and ends with a short hash of the whole name, so two
 * long live names that share their first bytes never share safety names (prune tells them apart).
 */
export function safetyDatabaseName(live: string, stamp: string, seq = 1): string {
  if (!parseStamp(stamp)) throw new Error(`safety database name: "${stamp}" is not a stamp`);
  if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`safety database name: bad sequence ${seq}`);
  const tail = `${SAFETY_INFIX}${stamp}${seq > 1 ? `_${seq}` : ''}`;
  const room = MAX_NAME_BYTES - Buffer.byteLength(tail);
  if (Buffer.byteLength(live) <= room) return live + tail;
  const mark = `_${crypto.createHash('sha256').update(live).digest('hex').slice(0, HASH_CHARS)}`;
  return clipBytes(live, room - mark.length) + mark + tail;
}

/**
 * Pure: `name` read as a safety database of `live`, or null. Exact: the name must be the one
 * safetyDatabaseName gives for its stamp and sequence, so another live database's safety copies
 * (`shop2_temp_before_restore_…` for `shop`) and any other name never match.
 */
export function parseSafetyDatabaseName(name: string, live: string): Omit<SafetyDatabase, 'size'> | null {
  const m = SHAPE.exec(name);
  if (!m) return null;
  const stamp = m[2]!;
  const time = parseStamp(stamp);
  if (!time) return null;
  const seq = m[3] ? Number(m[3]) : 1;
  if (!Number.isSafeInteger(seq) || safetyDatabaseName(live, stamp, seq) !== name) return null;
  return { name, stamp, seq, time };
}

/** Pure: the first free safety name for a restore of `live` at `stamp` (same second: `_2`, `_3`, …). */
export function nextSafetyDatabaseName(live: string, stamp: string, taken: Iterable<string>): string {
  const names = new Set(taken);
  for (let seq = 1; ; seq++) {
    const name = safetyDatabaseName(live, stamp, seq);
    if (!names.has(name)) return name;
  }
}

/**
 * Pure: SQL giving, as one JSON row (so any name survives the trip through psql), the databases
 * whose names contain the safety infix, with their sizes when asked (a size walks the
 * database's files, so only these few are measured).
 */
export function infixDatabasesSql(opts: { sizes?: boolean } = {}): string {
  const size = opts.sizes ? `CASE WHEN has_database_privilege(oid, 'CONNECT') THEN pg_database_size(oid) END` : 'NULL';
  return (
    `SELECT coalesce(json_agg(json_build_object('name', datname, 'size', ${size})), '[]') ` +
    `FROM pg_database WHERE strpos(datname, '${SAFETY_INFIX}') > 0`
  );
}

/** Pure: the rows of infixDatabasesSql's output. */
export function parseInfixRows(out: string): { name: string; size: number | null }[] {
  const rows = JSON.parse(out || '[]') as { name: string; size: number | string | null }[];
  return rows.map((r) => ({ name: r.name, size: r.size === null ? null : Number(r.size) }));
}
