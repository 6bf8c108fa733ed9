#!/usr/bin/env -S npx zx
// Check backups' integrity: one line per backup on stdout, exit 1 if any fails.
// --drill also restores the newest backups into a throwaway database and folder.
import path from 'node:path';
import { runCli } from '../lib/cli/frame.ts';
import { resolveBackupArg } from '../lib/cli/backup-arg.ts';
import { EXIT, UsageError } from '../lib/cli/errors.ts';
import { log, result } from '../lib/cli/output.ts';
import { humanBytes, plural } from '../lib/core/format.ts';
import { parseBackupName } from '../lib/core/naming.ts';
import { formatDrillLine, formatVerifyLine, newestPoints, selectForVerify, withChain, type DrillResult, type VerifyResult } from '../lib/core/verdicts.ts';
import { openConnection } from '../lib/db/pg.ts';
import { lookUpSafetyDatabases } from '../lib/db/safety-dbs.ts';
import { repairMediaOnTheSide } from '../lib/media/repair.ts';
import { runDrill } from '../lib/ops/drill.ts';
import { backupFileAt, mediaBeside, verifyBackup, verifyChains } from '../lib/ops/verify.ts';
import { listAll, type BackupFile } from '../lib/store/catalog.ts';
import type { Settings } from '../lib/config/resolve.ts';
import { collectCopies } from '../lib/core/offsite-names.ts';
import { drillFromTarget, identityFor, oneTarget, selectDeep } from '../lib/ops/offsite.ts';
import { checkTarget } from '../lib/offsite/check.ts';
import { openStore } from '../lib/offsite/store.ts';

/** verify --offsite: the copies at a target against what was pushed; --deep, --drill from it. */
async function verifyOffsite(settings: Settings, flags: Record<string, unknown>, arg: string | undefined): Promise<number> {
  const target = oneTarget(settings, flags.offsite, '--offsite');
  const name = arg === undefined ? null : path.basename(arg);
  if (name !== null && !parseBackupName(name)) throw new UsageError(`"${arg}" is not a backup name this tool makes; run list-backups --offsite ${target.name}`);
  const downloads = Boolean(flags.deep || flags.drill);
  const identity = downloads ? identityFor(target, flags.identity as string | undefined, `verify --offsite ${target.name} --${flags.deep ? 'deep' : 'drill'}`) : null;
  const store = await openStore(target, settings.envName);
  log.info(`checking the copies at ${target.name} (${store.where})${flags.deep ? ', downloading to check deep' : ''}`);
  const pick = (copies: Parameters<typeof selectDeep>[0]) => selectDeep(copies, { name, all: Boolean(flags.all) });
  const checked = await checkTarget(store, settings, { deep: flags.deep ? pick : () => [], identity });
  const shown = name === null ? checked.copies : checked.copies.filter((c) => c.name === name);
  if (name !== null && !shown.length) throw new UsageError(`no copy of ${name} at ${target.name}; run list-backups --offsite ${target.name}`);
  let drill: DrillResult | null = null;
  if (flags.drill) {
    const { copies } = collectCopies(await store.list());
    drill = await drillFromTarget(settings, store, selectDeep(copies, { name, all: false }), identity, copies);
  }
  if (!flags.json) {
    for (const c of shown) result(formatVerifyLine(c));
    for (const m of checked.missing) result(`FAIL  ${m}: pushed from here, no longer at ${target.name}`);
    for (const p of drill?.parts ?? []) result(formatDrillLine(p));
  }
  const failed = shown.filter((c) => !c.ok).length + checked.missing.length;
  const drillFailed = drill ? drill.parts.filter((p) => !p.ok).length : 0;
  const ok = failed === 0 && drillFailed === 0;
  if (flags.json) result(JSON.stringify({ ok, target: checked.target, where: checked.where, copies: shown, missing: checked.missing, drill }, null, 2));
  if (failed) log.error(`${failed} of ${plural(shown.length + checked.missing.length, 'copy', 'copies')} at ${target.name} failed verification`);
  if (drillFailed) log.error(`the restore drill from ${target.name} failed for ${drillFailed} of ${plural(drill!.parts.length, 'backup')}`);
  if (ok) log.success(`${plural(shown.length, 'copy', 'copies')} at ${target.name} verified${flags.deep ? ' (deep)' : ''}${drill ? `, restore drill passed (${drill.parts.length})` : ''}`);
  return ok ? EXIT.ok : EXIT.failed;
}

await runCli(
  {
    name: 'verify',
    summary:
      'Check backups: checksum against the manifest, full decompression, a dump\'s completion footer and contents,\n' +
      'an archive\'s full listing and safety rules. Default: the newest database and media backup of this environment.\n' +
      'An incremental media backup is checked with every archive of its chain, each link against its parent\'s sha256.\n' +
      '--all checks every backup (safety snapshots and downloaded copies too); --drill also restores the newest\n' +
      'backups into a throwaway database and a temporary folder and compares row and file counts.\n' +
      '--offsite <target> checks the copies there against what was pushed (no download); --deep also downloads,\n' +
      'decrypts (--identity) and checks the newest copy of each kind (or the one named, or --all); --drill drills them.',
    usage: '[<backup file or name>] [--all] [--drill] [--offsite <target> [--deep] [--identity <file>]] [--env <name>] [--config <path>] [--json]',
    booleans: ['all', 'drill', 'deep'],
    strings: ['offsite', 'identity'],
    positionals: { min: 0, max: 1 },
    // An identity is a file on this machine, and never leaves it: such a check runs here.
    remote: (flags) => (flags.identity === undefined ? 'dispatch' : 'local'),
  },
  async ({ settings, flags, args, now }) => {
    if (flags.offsite !== undefined) return verifyOffsite(settings, flags, args[0]);
    if (flags.deep || flags.identity !== undefined) throw new UsageError('--deep and --identity go with --offsite <target>');
    // Like every operation that touches the database: repair what a killed run left there, when the
    // server can be reached (verify itself reads only files, so an unreachable one is no failure).
    // The same for the media folder (a restore killed in its swap is completed or rolled back).
    if (!settings.ssh) await Promise.all([lookUpSafetyDatabases(settings.database), repairMediaOnTheSide(settings.media)]);
    const arg = args[0];
    if (arg !== undefined && flags.all) throw new UsageError('give either a backup or --all, not both');
    let targets: BackupFile[];
    /** Where the chains of incrementals checked are looked for. */
    let everything: BackupFile[];
    /** The restore points a drill restores. */
    let points: BackupFile[];
    if (arg !== undefined) {
      // The name says which kind it is (and so which folder a bare name is in).
      const kind = parseBackupName(path.basename(arg))?.kind ?? 'database';
      const named = await backupFileAt(resolveBackupArg(arg, settings.backupDir, kind).path);
      // An incremental is only as good as its chain: every archive it builds on is checked too.
      everything = await mediaBeside(named);
      targets = withChain(named, everything);
      points = [named];
    } else {
      everything = await listAll(settings.backupDir);
      targets = selectForVerify(everything, Boolean(flags.all), now());
      points = newestPoints(everything, now());
    }
    if (!targets.length) {
      log.warn(`nothing to verify: no backups of environment "${settings.envName}" in ${settings.backupDir}`);
      if (flags.json) result(JSON.stringify({ ok: true, backups: [], drill: null }, null, 2));
      return EXIT.ok;
    }

    const checked: VerifyResult[] = [];
    for (const b of targets) {
      log.info(`verifying ${b.name} (${humanBytes(b.size)})`);
      checked.push(await verifyBackup(b));
    }
    // Each incremental against its chain, once every archive was read: a bad link fails the later points too.
    verifyChains(targets.map((item, i) => ({ item, result: checked[i]! })), everything);
    if (!flags.json) for (const r of checked) result(formatVerifyLine(r));

    let drill: DrillResult | null = null;
    if (flags.drill) {
      // A named backup is drilled itself; otherwise the newest of each kind, whatever --all says.
      drill = await runDrill(openConnection(settings.database), points);
      if (!flags.json) for (const p of drill.parts) result(formatDrillLine(p));
    }

    const failed = checked.filter((r) => !r.ok).length;
    const drillFailed = drill ? drill.parts.filter((p) => !p.ok).length : 0;
    const ok = failed === 0 && drillFailed === 0;
    if (flags.json) result(JSON.stringify({ ok, backups: checked, drill }, null, 2));
    if (failed) log.error(`${failed} of ${plural(checked.length, 'backup')} failed verification`);
    if (drillFailed) log.error(`the restore drill failed for ${drillFailed} of ${plural(drill!.parts.length, 'backup')}`);
    if (ok) log.success(`${plural(checked.length, 'backup')} verified${drill ? `, restore drill passed (${drill.parts.length})` : ''}`);
    return ok ? EXIT.ok : EXIT.failed;
  },
);
