// One look at the server's databases that concern this environment: the live one (does it take
// connections?), the safety databases restores kept, and the helper databases runs make for
// themselves (`<db>__restoring_<pid>`, `__replaced_<pid>`, `__drill_<pid>`), with the note a
// restore leaves on its scratch database before it closes the live one. From that, which traces
// of a killed run to repair. Pure: the SQL, the parsing and the plan; lib/db/repair runs them.
import { helperDbName } from './helper-names.ts';
import { SAFETY_INFIX } from './safety-names.ts';
import { quoteLiteral } from './sql.ts';

export interface SurveyedDatabase {
  name: string;
  /** datallowconn. */
  allowsConnections: boolean;
  /** The database's comment (COMMENT ON DATABASE), or null. */
  comment: string | null;
  /** Bytes on the server, when asked for and readable. */
  size: number | null;
}

export interface Survey {
  /** `server_version_num` and `server_version`, as the server says them. */
  serverVersionNum: string;
  serverVersion: string;
  live: string;
  /** The live database's row, or null when it does not exist. */
  liveDb: SurveyedDatabase | null;
  /** Databases whose names carry a helper or safety infix (the live one excluded). */
  others: SurveyedDatabase[];
}

const HELPER_INFIXES = ['__restoring_', '__replaced_', '__drill_'];

/**
 * The SQL of the survey, as one JSON row (any name survives the trip through psql). Sizes walk a
 * database's files, so only the few safety databases are measured, and only when asked.
 */
export function surveySql(live: string, opts: { sizes?: boolean } = {}): string {
  const size = opts.sizes ? `CASE WHEN strpos(datname, '${SAFETY_INFIX}') > 0 AND has_database_privilege(oid, 'CONNECT') THEN pg_database_size(oid) END` : 'NULL';
  const infixes = [...HELPER_INFIXES, SAFETY_INFIX].map((i) => `strpos(datname, '${i}') > 0`).join(' OR ');
  return (
    `SELECT json_build_object('num', current_setting('server_version_num'), 'version', current_setting('server_version'), 'dbs', ` +
    `(SELECT coalesce(json_agg(json_build_object('name', datname, 'allow', datallowconn, ` +
    `'comment', shobj_description(oid, 'pg_database'), 'size', ${size})), '[]') ` +
    `FROM pg_database WHERE datname = ${quoteLiteral(live)} OR ${infixes}))`
  );
}

/** Pure: the survey's output. */
export function parseSurvey(out: string, live: string): Survey {
  const doc = JSON.parse(out) as { num: string; version: string; dbs: { name: string; allow: boolean; comment: string | null; size: number | string | null }[] };
  const dbs = doc.dbs.map((r) => ({ name: r.name, allowsConnections: r.allow, comment: r.comment, size: r.size === null ? null : Number(r.size) }));
  return { serverVersionNum: doc.num, serverVersion: doc.version, live, liveDb: dbs.find((d) => d.name === live) ?? null, others: dbs.filter((d) => d.name !== live) };
}

/**
 * The note a restore leaves on its scratch database just before it closes the live one to new
 * connections: if the run dies before the swap, the next run knows it was this run that closed it.
 */
export function closedNote(live: string, pid: number): string {
  return JSON.stringify({ composeBackup: 'closed connections', database: live, pid });
}

/** Pure: the database a scratch database's note says its run closed, or null. */
export function parseClosedNote(comment: string | null): { database: string; pid: number } | null {
  if (!comment) return null;
  try {
    const v = JSON.parse(comment) as { composeBackup?: unknown; database?: unknown; pid?: unknown };
    if (v.composeBackup === 'closed connections' && typeof v.database === 'string' && typeof v.pid === 'number') return { database: v.database, pid: v.pid };
  } catch {
    // Someone else's comment.
  }
  return null;
}

export interface RepairPlan {
  /** Helper databases of dead runs of this host, to drop. */
  drop: string[];
  /** Whether the live database must take connections again (a dead restore closed it). */
  reopen: boolean;
  /** What will be repaired, as phrases for one line. */
  said: string[];
}

/**
 * Pure: the traces of killed runs, for the live database `live`. Only exact helper names of `live`
 * whose pid is gone (not this run) count; the live database is reopened only when a dead run's
 * scratch database carries the note that this run closed it (never a database an admin closed).
 */
export function planRepair(survey: Survey, alive: (pid: number) => boolean, self = process.pid): RepairPlan {
  const plan: RepairPlan = { drop: [], reopen: false, said: [] };
  for (const db of survey.others) {
    const m = /__(restoring|replaced|drill)_(\d+)$/.exec(db.name);
    if (!m) continue;
    const role = m[1] as 'restoring' | 'replaced' | 'drill';
    const pid = Number(m[2]);
    if (helperDbName(survey.live, role, pid) !== db.name || pid === self || alive(pid)) continue;
    plan.drop.push(db.name);
    const what = role === 'restoring' ? 'scratch database' : role === 'replaced' ? 'replaced database' : 'drill database';
    plan.said.push(`${what} "${db.name}" of run ${pid} dropped`);
    const note = role === 'restoring' ? parseClosedNote(db.comment) : null;
    if (note && note.database === survey.live && note.pid === pid && survey.liveDb && !survey.liveDb.allowsConnections) plan.reopen = true;
  }
  if (plan.reopen) plan.said.unshift(`connections to "${survey.live}" allowed again`);
  return plan;
}
