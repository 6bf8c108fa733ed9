// crontab.example must parse as cron does and call scripts that exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CronExpressionParser, CronFileParser } from 'cron-parser';
import { ROOT } from '../../helpers/cli.ts';

const FILE = path.join(ROOT, 'crontab.example');
const lines = fs.readFileSync(FILE, 'utf8').split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
const jobs = lines.filter((l) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(l));

test('every line parses: variables and five-field schedules', () => {
  const parsed = CronFileParser.parseFileSync(FILE);
  assert.deepEqual(parsed.errors, {});
  assert.equal(parsed.variables.COMPOSE_BACKUP_ON_HOST, '1');
  assert.match(parsed.variables.PATH ?? '', /\/usr\/bin/);
  assert.equal(parsed.expressions.length, jobs.length);
  assert.equal(jobs.length, 3);
});

function nextRuns(expr: string, from: string, n: number): string[] {
  const it = CronExpressionParser.parse(expr, { currentDate: new Date(from), tz: 'UTC', strict: false });
  return Array.from({ length: n }, () => it.next().toISOString() ?? '');
}

test('the seed schedule: daily 02:00, Sundays 03:00, log cleanup monthly', () => {
  const [daily, weekly, cleanup] = jobs.map((j) => j.split(/\s+/).slice(0, 5).join(' '));
  assert.deepEqual(nextRuns(daily!, '2026-11-28T12:00:00Z', 2), ['2026-11-29T02:00:00.000Z', '2026-11-30T02:00:00.000Z']);
  assert.deepEqual(nextRuns(weekly!, '2026-11-28T12:00:00Z', 2), ['2026-11-29T03:00:00.000Z', '2026-12-06T03:00:00.000Z']);
  assert.deepEqual(nextRuns(cleanup!, '2026-11-28T12:00:00Z', 1), ['2026-12-01T04:00:00.000Z']);
});

test('each command cds into the project and names a script that exists', () => {
  for (const job of jobs) {
    const command = job.split(/\s+/).slice(5).join(' ');
    const scripts = [...command.matchAll(/scripts\/([a-z-]+\.ts)/g)].map((m) => m[1]!);
    if (command.startsWith('find ')) {
      assert.match(command, /-name "backup\.log\.\*" -mtime \+90 -delete/);
      continue;
    }
    assert.match(command, /^cd "\$APP" && npx zx /);
    assert.deepEqual(scripts, ['scheduled-backup.ts']);
    for (const s of scripts) assert.ok(fs.existsSync(path.join(ROOT, 'scripts', s)), `scripts/${s} exists`);
    assert.match(command, />> backups\/backup\.log 2>&1$/);
  }
});
