// Fixtures of the prune planning and report tables (test/unit/core/prune-*.test.ts): catalog
// entries made from names alone, retention policies, safety databases.
import assert from 'node:assert/strict';
import path from 'node:path';
import { defaultEnvironment } from '../../lib/config/schema.ts';
import { parseBackupName } from '../../lib/core/naming.ts';
import type { Retention } from '../../lib/core/prune-plan.ts';
import { parseSafetyDatabaseName, safetyDatabaseName, type SafetyDatabase } from '../../lib/db/safety-names.ts';
import type { BackupFile } from '../../lib/store/catalog.ts';

export const NOW = new Date('2026-12-31T12:00:00Z');
export const DIR = '/bk';

/** A catalog entry as lib/store/catalog would list it, from its name alone. */
export function file(name: string, opts: { size?: number; manifest?: boolean } = {}): BackupFile {
  const parsed = parseBackupName(name);
  assert.ok(parsed, `fixture name ${name} parses`);
  const p = path.join(DIR, parsed.kind === 'database' ? 'postgres' : 'media', name);
  return { ...parsed, path: p, size: opts.size ?? 100, mtime: parsed.time, manifestPath: opts.manifest ? `${p}.manifest.json` : null };
}

export const retention = (over: Partial<Retention> = {}): Retention => ({ database: {}, media: {}, snapshots: {}, ...over });

/** The built-in retention (config/schema's defaults). */
export const DEFAULT_RETENTION = defaultEnvironment().retention;

export const db = (stamp: string, seq = '') => `backup_${stamp}${seq}.sql.zst`;
export const media = (stamp: string) => `media_backup_${stamp}.tar.zst`;

/** A safety database of `live`, as the server survey would list it. */
export function sdb(stamp: string, seq = 1, live = 'shop', size: number | null = 1024): SafetyDatabase {
  const parsed = parseSafetyDatabaseName(safetyDatabaseName(live, stamp, seq), live);
  assert.ok(parsed);
  return { ...parsed, size };
}
