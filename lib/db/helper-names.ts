// Names of the databases the tool makes for itself beside the live one: the scratch database a
// restore loads into, the replaced database it drops afterwards (databaseSafetyCopy: dump), the
// throwaway database of a drill. Each carries the pid of its run, so a run killed before it could
// clean up is recognised by the next. Pure.

/** Postgres limits names to 63 bytes; keep the live name recognisable in helper databases. */
export function helperDbName(live: string, role: 'restoring' | 'replaced' | 'drill', pid = process.pid): string {
  const suffix = `__${role}_${pid}`;
  let base = live;
  while (Buffer.byteLength(base + suffix) > 63) base = base.slice(0, -1);
  return base + suffix;
}

/**
 * Pure: the throwaway databases among `names` that a drill of this host left behind when it was
 * killed (its pid is gone), for the live database `live`.
 */
export function staleDrillDatabases(names: string[], live: string, alive: (pid: number) => boolean, self = process.pid): string[] {
  return names.filter((n) => {
    const m = /__drill_(\d+)$/.exec(n);
    if (!m) return false;
    const pid = Number(m[1]);
    return helperDbName(live, 'drill', pid) === n && pid !== self && !alive(pid);
  });
}
