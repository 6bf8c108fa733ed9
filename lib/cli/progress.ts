// Progress for people at a terminal: bytes, rate and elapsed time on one rewritten line.
// Without a terminal (cron) it prints nothing, so logs hold one line per step.
import { humanBytes, humanDuration } from '../core/format.ts';

export interface Progress {
  stop(): void;
}

/** `size()` reports bytes done so far (usually the growing output file). */
export function startProgress(label: string, size: () => number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { stop() {} };
  const started = Date.now();
  const draw = () => {
    const elapsed = Date.now() - started;
    const bytes = size();
    const rate = elapsed > 0 ? (bytes * 1000) / elapsed : 0;
    stream.write(`\r\x1b[K${label}: ${humanBytes(bytes)}  ${humanBytes(Math.round(rate))}/s  ${humanDuration(elapsed)}`);
  };
  const timer = setInterval(draw, 250);
  return {
    stop() {
      clearInterval(timer);
      stream.write('\r\x1b[K');
    },
  };
}
