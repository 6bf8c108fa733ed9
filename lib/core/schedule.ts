// Pure pieces of the scheduled run: what a step's log line says, the summary, whether today
// is a drill day. The effects (lock, pings, backups) are wired in scripts/scheduled-backup.ts.
import { humanBytes, humanDuration } from './format.ts';

export interface StepResult {
  step: string;
  status: 'ok' | 'warning' | 'failed' | 'skipped';
  durationMs: number;
  bytes?: number;
  detail: string;
}

/** Pure: `backup-db ok 0:12 28 MiB backup_….sql.zst`. */
export function stepLine(r: StepResult): string {
  const size = r.bytes !== undefined ? ` ${humanBytes(r.bytes)}` : '';
  return `${r.step} ${r.status} ${humanDuration(r.durationMs)}${size}${r.detail ? ` ${r.detail}` : ''}`;
}

/** Pure: the run's last line, and whether it succeeded. */
export function summarize(results: StepResult[], totalMs: number): { ok: boolean; line: string } {
  const failed = results.filter((r) => r.status === 'failed').map((r) => r.step);
  const warnings = results.filter((r) => r.status === 'warning').map((r) => r.step);
  const bytes = results.reduce((a, r) => a + (r.bytes ?? 0), 0);
  const ok = failed.length === 0;
  const parts = [`summary ${ok ? 'ok' : 'FAILED'}`, humanDuration(totalMs), `${humanBytes(bytes)} written`];
  if (failed.length) parts.push(`failed: ${failed.join(', ')}`);
  if (warnings.length) parts.push(`warnings: ${warnings.join(', ')}`);
  return { ok, line: parts.join(' ') };
}

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

/** Pure: is `now` (UTC) a day the drill runs on, for a setting never | daily | <weekday>. */
export function isDrillDay(setting: string, now: Date): boolean {
  if (setting === 'daily') return true;
  if (setting === 'never') return false;
  return WEEKDAYS[now.getUTCDay()] === setting;
}
