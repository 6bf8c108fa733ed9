// backup-db's half: pg_dump streamed into the compressor and into a new backup file, with Node
// reading the dump as it goes by (the relay of lib/proc/pipeline's tap) to record its table of
// contents, rows per table and completion footer without a second pass.
import type { Settings } from '../config/resolve.ts';
import { failure, FailedError } from '../cli/errors.ts';
import { compressArgv } from '../core/codec.ts';
import type { BackupRole } from '../core/naming.ts';
import { pipelineError, runPipeline } from '../proc/pipeline.ts';
import { which } from '../proc/which.ts';
import { writeNewBackup, type WrittenBackup } from '../store/writer.ts';
import { DumpScanner, FOOTER, type DumpInfo } from './dump-scanner.ts';
import { dumpArgv, type PgConnection } from './pg.ts';
import { repairDatabase, survey } from './repair.ts';
import { databaseSizeBytes, preflight } from './server.ts';

export interface DbBackupOptions {
  settings: Settings;
  conn: PgConnection;
  stamp: string;
  seq: number;
  role?: BackupRole;
  /** Dump another database than the connection's (the live one during a restore). */
  database?: string;
}

export async function backupDatabase(opts: DbBackupOptions): Promise<WrittenBackup> {
  const { settings, conn } = opts;
  const label = opts.role === 'snapshot' ? 'safety copy of the database' : 'database backup';
  let dbName: string;
  try {
    // What a killed restore left (a live database refusing connections) is repaired before the dump.
    const surveyed = survey(conn);
    await preflight(conn, surveyed);
    const s = await repairDatabase(conn, await surveyed);
    dbName = opts.database ?? s.live;
  } catch (err) {
    throw failure(label, err);
  }
  return writeNewBackup({
    backupDir: settings.backupDir,
    kind: 'database',
    role: opts.role ?? 'backup',
    codec: settings.compression,
    stamp: opts.stamp,
    seq: opts.seq,
    environment: settings.envName,
    label,
    diskMargin: settings.diskMargin,
    // Plain dumps of typical app databases compress to about a third of their on-disk size or
    // less; without an earlier backup to go by, that is the estimate (0 if the size is unknown).
    sizeFallback: {
      basis: 'database size / 3',
      estimate: async () => Math.ceil((await databaseSizeBytes(conn, opts.database).catch(() => 0)) / 3),
    },
    fill: async (fd) => {
      const scanner = new DumpScanner();
      const res = await runPipeline({
        stages: [
          { name: 'pg_dump', argv: dumpArgv(conn.target, opts.database, which('stdbuf')), env: conn.env },
          { name: settings.compression, argv: compressArgv(settings.compression, settings.compressionLevel) },
        ],
        stdout: fd,
        tap: { after: 0, look: (chunk) => scanner.push(chunk) },
      });
      if (res.failure) throw pipelineError(label, res.failure);
      const info = scanner.finish();
      if (info.bytes === 0) throw new FailedError(`${label} failed: pg_dump produced no output`, { what: label });
      if (!info.complete) throw new FailedError(`${label} failed: the dump ends without "${FOOTER}"; it is incomplete`, { what: label });
      return { database: dumpManifest(info, dbName) };
    },
  });
}

function dumpManifest(info: DumpInfo, name: string | null) {
  return {
    name,
    serverVersion: info.serverVersion,
    pgDumpVersion: info.pgDumpVersion,
    dumpBytes: info.bytes,
    rows: info.rows,
    toc: info.toc,
  };
}
