// The first thing every operation that touches the database does: look at the server once
// (lib/db/survey) and repair what a run killed at the wrong moment left behind — a live database
// that refuses every connection because a restore closed it and died before its swap, scratch and
// replaced databases of dead restores, throwaway databases of dead drills — saying in one line what
// it repaired. The same look gives list-backups and prune the safety databases.
import { errorMessage } from '../cli/errors.ts';
import { log } from '../cli/output.ts';
import { processAlive } from '../proc/pid.ts';
import type { PgConnection } from './pg.ts';
import { parseSafetyDatabaseName, type SafetyDatabase } from './safety-names.ts';
import { psql, targetDatabaseName } from './server.ts';
import { quoteIdent } from './sql.ts';
import { parseSurvey, planRepair, surveySql, type Survey } from './survey.ts';

export interface Looked {
  survey: Survey;
  /** The safety databases of the live one, newest first. */
  safetyDatabases: SafetyDatabase[];
}

/** Survey the server (on the maintenance database: the live one may be refusing connections). */
export async function survey(conn: PgConnection, opts: { sizes?: boolean; live?: string } = {}): Promise<Survey> {
  const live = opts.live ?? (await targetDatabaseName(conn));
  return parseSurvey(await psql(conn, surveySql(live, opts), 'postgres'), live);
}

/** Pure over a survey: the live database's safety databases, newest first. */
export function safetyDatabasesOf(s: Survey): SafetyDatabase[] {
  const found: SafetyDatabase[] = [];
  for (const db of s.others) {
    const parsed = parseSafetyDatabaseName(db.name, s.live);
    if (parsed) found.push({ ...parsed, size: db.size });
  }
  return found.sort((a, b) => b.time.getTime() - a.time.getTime() || b.seq - a.seq);
}

/**
 * Repair the traces of dead runs in `s` and say so in one line. The live database is reopened
 * before anything is dropped: the app is down until it is. Returns the survey as it is now.
 */
export async function repairDatabase(conn: PgConnection, s: Survey): Promise<Survey> {
  const plan = planRepair(s, processAlive);
  if (!plan.drop.length && !plan.reopen) return s;
  const q = (sql: string) => psql(conn, sql, 'postgres');
  const done: string[] = [];
  try {
    if (plan.reopen) {
      await q(`ALTER DATABASE ${quoteIdent(s.live)} WITH ALLOW_CONNECTIONS true`);
      done.push(plan.said[0]!);
    }
    for (const name of plan.drop) {
      await q(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      done.push(plan.said[done.length]!);
    }
  } catch (err) {
    log.warn(`could not repair everything an interrupted run left on the server (${errorMessage(err)}); the next run tries again`);
  } finally {
    if (done.length) log.info(`repaired what an interrupted run left: ${done.join('; ')}`);
  }
  const dropped = new Set(plan.drop);
  return {
    ...s,
    live: s.live,
    liveDb: s.liveDb && plan.reopen && done.length ? { ...s.liveDb, allowsConnections: true } : s.liveDb,
    others: s.others.filter((d) => !dropped.has(d.name)),
  };
}

/** Survey and repair in one go: what backup, list, restore, prune, verify and the scheduled run start with. */
export async function lookAndRepair(conn: PgConnection, opts: { sizes?: boolean; live?: string } = {}): Promise<Looked> {
  const s = await repairDatabase(conn, await survey(conn, opts));
  return { survey: s, safetyDatabases: safetyDatabasesOf(s) };
}
