// The file argument of restore-* and verify: a bare backup name from the backup tree (as the
// seed takes) or a path to a file whose own name is a backup name. Anything else is refused
// with exit 2 before anything is touched.
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors.ts';
import { kindDir, parseBackupName, type BackupKind, type BackupName } from '../core/naming.ts';

export interface ResolvedBackup {
  path: string;
  parsed: BackupName;
}

/** Pure part: decide which file an argument names, without touching the disk. */
export function interpretBackupArg(arg: string, backupDir: string, kind: BackupKind): ResolvedBackup {
  if (arg.includes('\0')) throw new UsageError('the backup name contains a NUL byte; give a backup file name such as backup_2024_01_15T14_30_00.sql.gz');
  if (arg === '') throw new UsageError('no backup given; run list-backups to see the names');
  const base = path.basename(arg);
  const parsed = parseBackupName(base);
  const example = kind === 'database' ? 'backup_2024_01_15T14_30_00.sql.zst' : 'media_backup_2024_01_15T14_30_00.tar.zst';
  if (!parsed) {
    throw new UsageError(`"${arg}" is not a backup name this tool makes (expected e.g. ${example}); run list-backups to see the names`);
  }
  if (parsed.kind !== kind) {
    throw new UsageError(`"${base}" is a ${parsed.kind} backup, not a ${kind} backup`);
  }
  const isBare = !arg.includes('/');
  if (isBare) return { path: path.join(backupDir, kindDir(kind), base), parsed };
  return { path: path.resolve(arg), parsed };
}

/** Resolve and check the file exists as a regular file. */
export function resolveBackupArg(arg: string | undefined, backupDir: string, kind: BackupKind): ResolvedBackup {
  const r = interpretBackupArg(arg ?? '', backupDir, kind);
  let st: fs.Stats;
  try {
    st = fs.statSync(r.path);
  } catch {
    throw new UsageError(`no such backup: ${r.path}; run list-backups to see what exists`);
  }
  if (!st.isFile()) throw new UsageError(`${r.path} is not a regular file`);
  return r;
}
