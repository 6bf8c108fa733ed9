// How sizes, ages, durations and counts read in every message, listing and log line. Pure.

/** 1536 → "1.5 KiB". */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** "1.5 GiB (1610612736 bytes)": people read the first, scripts and support the second. */
export function bytesExact(n: number): string {
  return `${humanBytes(n)} (${n} bytes)`;
}

/** "+1.5 MiB", "-12 KiB". */
export function signedBytes(n: number): string {
  return `${n < 0 ? '-' : '+'}${humanBytes(Math.abs(n))}`;
}

/** Age of a backup as "3d 4h", "12m", "5s". */
export function humanAge(from: Date, now: Date): string {
  let s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m`;
  return `${s}s`;
}

/** "1:05" / "1:02:03" for durations. */
export function humanDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** "1 file", "2 files"; irregular plurals given ("1 entry", "2 entries"). */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}

/** `path: message` lines, one per problem (config errors, as changesets words them). */
export function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string; issues?: readonly { message: string }[] }[]): string[] {
  // A bad record key (an environment's or a target's name) carries the key schema's own words inside.
  return issues.map((i) => `${i.path.map(String).join('.') || '(top)'}: ${i.issues?.[0]?.message ?? i.message}`);
}
