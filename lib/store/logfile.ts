// The scheduled run's backup.log: one UTC-stamped line per message, rotated monthly or by size.
// Rotation renames (backup.log -> backup.log.1 -> backup.log.2 …), so every rotated file keeps its
// mtime and the crontab's `find … -name "backup.log.*" -mtime +90 -delete` keeps working.
// Only `<name>.<N>` files are ever renamed or deleted; anything else in the folder is left alone.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { redact } from '../cli/output.ts';

/** "2026-11-29T02:00:03Z message", always one line. */
export function formatLogLine(when: Date, message: string): string {
  const stamp = when.toISOString().slice(0, 19) + 'Z';
  return `${stamp} ${oneLine(message)}`;
}

function oneLine(text: string): string {
  // Same separator as lib/log.ts uses for multi-line messages.
  return text.replace(/(?:\r\n|\r|\n)+$/, '').replace(/\r\n|\r|\n/g, ' | ');
}

/** Year and month as one comparable number, in UTC. */
function monthIndex(d: Date): number {
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/**
 * Rotate `logPath` when it is larger than maxBytes or was last written in an earlier UTC month than
 * `now`. Keeps `keep` rotated files (default 24). Returns the rotated file's path, or null.
 */
export async function rotateIfNeeded(logPath: string, opts: { maxBytes: number; now: Date; keep?: number }): Promise<string | null> {
  const keep = opts.keep ?? 24;
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be a whole number of at least 1, got ${keep}`);
  let st;
  try {
    st = await fsp.stat(logPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  // An empty log has nothing worth a numbered file.
  if (!st.isFile() || st.size === 0) return null;
  const tooBig = st.size > opts.maxBytes;
  const newMonth = monthIndex(st.mtime) < monthIndex(opts.now);
  if (!tooBig && !newMonth) return null;

  const dir = path.dirname(logPath);
  const base = path.basename(logPath);
  const numbered = await rotatedNumbers(dir, base);
  // Highest first, so that no rename lands on a file still to be moved.
  for (const n of numbered.sort((a, b) => b - a)) {
    const from = path.join(dir, `${base}.${n}`);
    if (n >= keep) await fsp.rm(from, { force: true });
    else await fsp.rename(from, path.join(dir, `${base}.${n + 1}`));
  }
  const rotated = path.join(dir, `${base}.1`);
  await fsp.rename(logPath, rotated);
  return rotated;
}

/** N of every `<base>.<N>` in dir (N a positive whole number without leading zeros). */
async function rotatedNumbers(dir: string, base: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await fsp.readdir(dir)) {
    if (!name.startsWith(`${base}.`)) continue;
    const suffix = name.slice(base.length + 1);
    if (/^[1-9]\d{0,8}$/.test(suffix)) out.push(Number(suffix));
  }
  return out;
}

/**
 * Append lines (one write, then fsync). A new file is created readable by its owner only. Lines pass
 * through redact() again: a file outlives the terminal, so a secret must not reach it by any path.
 */
export async function appendLog(logPath: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const text = lines.map((line) => redact(oneLine(line))).join('\n') + '\n';
  const fh = await fsp.open(logPath, 'a', 0o600);
  try {
    await fh.appendFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The last maxBytes of the file ('' when it does not exist), starting on a whole UTF-8 character. */
export async function readTail(logPath: string, maxBytes: number): Promise<string> {
  if (!(maxBytes > 0)) return '';
  let fh;
  try {
    fh = await fsp.open(logPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, Math.floor(maxBytes));
    const buf = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const { bytesRead } = await fh.read(buf, read, length - read, size - length + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    let start = 0;
    // Skip the continuation bytes of a character cut by the window.
    while (start < read && ((buf[start] ?? 0) & 0xc0) === 0x80) start++;
    return buf.subarray(start, read).toString('utf8');
  } finally {
    await fh.close();
  }
}
