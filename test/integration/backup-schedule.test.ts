import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { usePostgres } from '../helpers/postgres.js';

const server = usePostgres();
const root = mkdtempSync(join(tmpdir(), 'opsctl-backup-schedule-'));
const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const cli = (argv: string[], signal?: AbortSignal) => runCli(argv, { cwd: root, env, tty: false, ...(signal === undefined ? {} : { signal }) });

/** Runs `backup daemon --json` for `ms`, then stops it as SIGTERM does (the CLI's abort signal). */
async function daemonFor(ms: number): Promise<{ code: number; events: { event: string; schedule: string }[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('SIGTERM')), ms);
  const result = await cli(['backup', 'daemon', '--json'], controller.signal);
  clearTimeout(timer);
  const events = result.stdout
    .split(/\n(?=\{)/)
    .filter((text) => text.trim() !== '')
    .map((text) => JSON.parse(text) as { event?: string; schedule?: string })
    .filter((value): value is { event: string; schedule: string } => value.event !== undefined);
  return { code: result.code, events };
}

function scheduledRuns(): { status: string; label?: string }[] {
  const dir = join(root, 'repo', 'runs');
  return readdirSync(dir).map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as { status: string; label?: string }).filter((run) => run.label === 'schedule:vault-every-second');
}

beforeAll(async () => {
  mkdirSync(join(root, 'secrets'));
  writeFileSync(join(root, 'secrets', 'a.env'), 'A=1\n');
  writeFileSync(
    join(root, 'opsctl.config.yaml'),
    `version: 2\ndefaultProfile: test\nprofiles:\n  test:\n    postgres:\n      url: ${server().url}\n    backup:\n      repository: repo\n      keyFile: key.txt\n      vault:\n        sources:\n          - path: secrets\n      schedules:\n        - { name: vault-every-second, kind: vault, cron: '* * * * * *' }\n        - { name: nightly, kind: postgres-physical, type: incr, cron: '30 3 * * 1-5' }\n`,
  );
  expect((await cli(['backup', 'init', '--generate-key'])).code).toBe(0);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('backup schedule', () => {
  it('list shows the next run times', async () => {
    const result = await cli(['backup', 'schedule', 'list', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as { name: string; next: string[] }[];
    expect(rows.map((row) => row.name)).toEqual(['vault-every-second', 'nightly']);
    const [a, b] = rows[0]!.next.map((at) => Date.parse(at));
    expect(b! - a!).toBe(1000);
    expect(rows[1]!.next[0]).toMatch(/T03:30:00\.000Z$/);
  });

  it('install --systemd prints a service and a timer per schedule', async () => {
    const result = await cli(['backup', 'schedule', 'install', '--systemd', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const { units } = JSON.parse(result.stdout) as { units: { file: string; content: string }[] };
    expect(units.map((unit) => unit.file)).toEqual([
      'opsctl-backup-vault-every-second.service',
      'opsctl-backup-vault-every-second.timer',
      'opsctl-backup-nightly.service',
      'opsctl-backup-nightly.timer',
    ]);
    expect(units[3]!.content).toContain('OnCalendar=Mon..Fri *-*-* 3:30:0 UTC');
    expect(units[2]!.content).toMatch(/ExecStart=opsctl --config \S+ --profile test backup run postgres-physical --type incr --json/);
  });

  it('install --crontab refuses a schedule with seconds', async () => {
    const result = await cli(['backup', 'schedule', 'install', '--crontab']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/"vault-every-second" has 6 fields; crontab takes 5/);
  });
});

describe('backup daemon', () => {
  it('runs a job every second, records each run and stops cleanly on SIGTERM (exit 130)', async () => {
    const { code, events } = await daemonFor(2600);
    expect(code).toBe(130); // like every interrupted command; nothing is left running
    const done = events.filter((event) => event.event === 'done' && event.schedule === 'vault-every-second');
    expect(done.length).toBeGreaterThanOrEqual(2);
    const runs = scheduledRuns();
    expect(runs.filter((run) => run.status === 'ok').length).toBe(done.length);
    expect(runs.filter((run) => run.status === 'running')).toEqual([]);
  });

  it('skips a job another host holds the advisory lock of', async () => {
    const holder = new pg.Client({ connectionString: server().url });
    await holder.connect();
    try {
      await holder.query("select pg_advisory_lock(hashtext('opsctl-backup-schedule:vault-every-second'))");
      const before = scheduledRuns().length;
      const { events } = await daemonFor(1600);
      expect(events.some((event) => event.event === 'skipped')).toBe(true);
      expect(events.some((event) => event.event === 'start')).toBe(false);
      expect(scheduledRuns().length).toBe(before);
    } finally {
      await holder.end();
    }
  });
});
