// Compressor command lines. zstd runs multi-threaded (-T0): compression is the stage that
// would otherwise bound a backup's speed. gzip stays available for the seed's .gz habit.
import type { Codec } from './naming.ts';

export function compressArgv(codec: Codec, level: number | null): string[] {
  if (codec === 'zstd') return ['zstd', '-q', '-T0', `-${level ?? 3}`, '-c'];
  return ['gzip', '-c', `-${Math.min(level ?? 6, 9)}`];
}

export function decompressArgv(codec: Codec): string[] {
  return codec === 'zstd' ? ['zstd', '-q', '-d', '-c'] : ['gzip', '-d', '-c'];
}

/** A full decompression test that writes nothing. */
export function testArgv(codec: Codec): string[] {
  return codec === 'zstd' ? ['zstd', '-q', '-t'] : ['gzip', '-t'];
}
