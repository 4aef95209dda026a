import { describe, expect, it } from 'vitest';
import { doctorExitCode, renderReport } from '../../src/cli/commands/doctor.js';
import { createTheme } from '../../src/cli/ui/theme.js';
import type { Clock } from '../../src/core/clock.js';
import { OpsError } from '../../src/core/errors.js';
import { profileSchema } from '../../src/config/schema.js';
import { toHealthDocument } from '../../src/doctor/health.js';
import { CHECK_NAMES, overallStatus, runDoctor, type DoctorDependencies } from '../../src/doctor/run.js';
import type { Check, DoctorReport } from '../../src/doctor/types.js';

/** A clock that advances 1 ms per reading: durations are deterministic. */
function stepClock(): Clock {
  let tick = 0;
  return { now: () => Date.UTC(2025, 0, 2, 3, 4, 5), monotonic: () => (tick += 1) };
}

function deps(overrides: Partial<DoctorDependencies>): DoctorDependencies {
  const refuse = (what: string) => () => Promise.reject(new Error(`${what} must not be called`));
  return {
    clock: stepClock(),
    loadProfile: refuse('loadProfile'),
    connectRedis: refuse('connectRedis'),
    connectPg: refuse('connectPg'),
    findPgTool: refuse('findPgTool'),
    ...overrides,
  };
}

const profile = (input: Record<string, unknown>) => profileSchema.parse(input);
const ALL_NAMES = Object.values(CHECK_NAMES);

describe('runDoctor without reachable servers', () => {
  it('fails the config check with the remedy to create one, and skips everything else', async () => {
    const report = await runDoctor(deps({
      loadProfile: () => Promise.reject(new OpsError('CONFIG_NOT_FOUND', 'no opsctl configuration found in /tmp/x or its parents')),
    }));
    expect(Object.keys(report.checks)).toEqual(ALL_NAMES);
    const config = report.checks[CHECK_NAMES.config]![0]!;
    expect(config).toMatchObject({ status: 'fail', code: 'CONFIG_NOT_FOUND', time: '2025-01-02T03:04:05.000Z' });
    expect(config.remedy).toContain('opsctl config init');
    expect(config.remedy).toContain('opsctl dev up');
    for (const name of ALL_NAMES.slice(1)) expect(report.checks[name]![0]!.status).toBe('skip');
    expect(report).toMatchObject({ status: 'fail', reachable: {} });
    expect(doctorExitCode(report)).toBe(3);
  });

  it('reports unreachable Redis and PostgreSQL with their messages, skipping dependent checks; exit 4', async () => {
    const report = await runDoctor(deps({
      loadProfile: async () => ({
        name: 'dev',
        filepath: '/tmp/opsctl.config.yaml',
        profile: profile({ redis: { url: 'redis://127.0.0.1:6390' }, postgres: { url: 'postgres://postgres@127.0.0.1:5499/postgres' } }),
      }),
      connectRedis: () => Promise.reject(new OpsError('REDIS_UNREACHABLE', 'cannot connect to Redis at 127.0.0.1:6390: connection refused', {
        hint: 'is the server running? the address comes from profiles.dev.redis.url',
      })),
      connectPg: () => Promise.reject(new OpsError('PG_UNREACHABLE', 'cannot connect to PostgreSQL at 127.0.0.1:5499: connection refused')),
      findPgTool: async (name) => ({ name, path: `/usr/bin/${name}`, version: { major: 15, minor: 4, text: `${name} (PostgreSQL) 15.4` } }),
    }));
    const redis = report.checks[CHECK_NAMES.redisConnection]![0]!;
    expect(redis).toMatchObject({ status: 'fail', code: 'REDIS_UNREACHABLE', componentId: '127.0.0.1:6390' });
    expect(redis.remedy).toContain('profiles.dev.redis.url');
    expect(report.checks[CHECK_NAMES.redisLatency]![0]).toMatchObject({ status: 'skip', message: 'Redis is not reachable' });
    expect(report.checks[CHECK_NAMES.pgVersion]![0]).toMatchObject({ status: 'skip' });
    expect(report.checks[CHECK_NAMES.pgDump]![0]).toMatchObject({ status: 'skip', message: expect.stringContaining('not compared: PostgreSQL is not reachable') });
    expect(report.reachable).toEqual({ redis: false, postgres: false });
    expect(doctorExitCode(report)).toBe(4);
  });

  it('skips a dependency the profile does not configure, with a note; exit 4 when the other is down', async () => {
    const report = await runDoctor(deps({
      loadProfile: async () => ({ name: 'cache', filepath: '/tmp/c.yaml', profile: profile({ redis: { host: '127.0.0.1', port: 6390 } }) }),
      connectRedis: () => Promise.reject(new OpsError('REDIS_UNREACHABLE', 'down')),
    }));
    expect(report.checks[CHECK_NAMES.pgConnection]![0]).toMatchObject({ status: 'skip', message: 'profile "cache" has no postgres section' });
    expect(report.checks[CHECK_NAMES.pgRestore]![0]).toMatchObject({ status: 'skip', message: 'profile "cache" has no postgres section' });
    expect(report.reachable).toEqual({ redis: false });
    expect(doctorExitCode(report)).toBe(4);
  });

  it('fails a missing pg_dump with the package to install', async () => {
    const report = await runDoctor(deps({
      loadProfile: async () => ({ name: 'db', filepath: '/tmp/d.yaml', profile: profile({ postgres: { host: '127.0.0.1' } }) }),
      connectPg: () => Promise.reject(new OpsError('PG_AUTH_FAILED', 'authentication failed for role "postgres" at 127.0.0.1:5432')),
      findPgTool: (name) => Promise.reject(new OpsError('TOOL_NOT_FOUND', `${name} not found on PATH`)),
    }));
    expect(report.checks[CHECK_NAMES.pgDump]![0]).toMatchObject({ status: 'fail', code: 'TOOL_NOT_FOUND', remedy: expect.stringContaining('postgresql-client') });
    expect(report.checks[CHECK_NAMES.pgConnection]![0]).toMatchObject({ status: 'fail', code: 'PG_AUTH_FAILED' });
    expect(doctorExitCode(report)).toBe(4);
  });

  it('warns about a profile with nothing to check', async () => {
    const report = await runDoctor(deps({
      loadProfile: async () => ({ name: 'empty', filepath: '/tmp/e.yaml', profile: profile({}) }),
    }));
    expect(report.checks[CHECK_NAMES.config]![0]).toMatchObject({ status: 'warn' });
    expect(report.status).toBe('warn');
    expect(doctorExitCode(report)).toBe(3);
  });
});

function check(name: string, status: Check['status'], message: string, extra: Partial<Check> = {}): Check {
  return { name, status, message, durationMs: 1.5, componentType: 'datastore', time: '2025-01-02T03:04:05.000Z', ...extra };
}

function reportOf(checks: Check[], reachable: DoctorReport['reachable'] = { redis: true }): DoctorReport {
  const grouped: Record<string, Check[]> = {};
  for (const item of checks) (grouped[item.name] ??= []).push(item);
  return { status: overallStatus(checks), profile: 'dev', checks: grouped, reachable };
}

describe('report rendering', () => {
  const report = reportOf([
    check('config:valid', 'pass', 'profile "dev" from /x/opsctl.config.yaml (redis)', { componentType: 'system' }),
    check('redis:latency', 'pass', 'median 0.3ms over 5 PINGs', { observed: { value: 0.3, unit: 'ms' }, componentId: '127.0.0.1:6379' }),
    check('redis:memory', 'warn', 'no maxmemory set', { remedy: 'set maxmemory', componentId: '10.0.0.1:7000' }),
    check('redis:memory', 'pass', 'using 10% of maxmemory', { componentId: '10.0.0.2:7001' }),
    check('postgres:connection', 'skip', 'profile "dev" has no postgres section'),
  ]);

  it('prints CHECK / STATUS / DETAIL with words, remedies under warnings and a summary, without colour', () => {
    expect(renderReport(report, createTheme(false))).toBe(
      [
        'CHECK                STATUS  DETAIL',
        'config:valid         PASS    profile "dev" from /x/opsctl.config.yaml (redis)',
        'redis:latency        PASS    median 0.3ms over 5 PINGs',
        'redis:memory         WARN    [10.0.0.1:7000] no maxmemory set',
        '                             → set maxmemory',
        'redis:memory         PASS    [10.0.0.2:7001] using 10% of maxmemory',
        'postgres:connection  SKIP    profile "dev" has no postgres section',
        '',
        'WARN: 3 passed, 1 warning, 0 failed, 1 skipped',
        '',
      ].join('\n'),
    );
  });

  it('colours status words only when colour is on, keeping the columns aligned', () => {
    const coloured = renderReport(report, createTheme(true));
    expect(coloured).toContain('\u001b[');
    // eslint-disable-next-line no-control-regex
    expect(coloured.replace(/\u001b\[[0-9;]*m/g, '')).toBe(renderReport(report, createTheme(false)));
  });

  it('indents multi-line details (a config error lists its problems)', () => {
    const text = renderReport(reportOf([check('config:valid', 'fail', 'x.yaml has 2 problems:\n  a\n  b', { remedy: 'fix them' })]), createTheme(false));
    expect(text).toContain('config:valid  FAIL    x.yaml has 2 problems:\n                        a\n                        b\n                      → fix them\n');
  });

  it('maps to the health+json draft: skipped checks keep their key without a status', () => {
    const document = toHealthDocument(report);
    expect(document.status).toBe('warn');
    expect(document.description).toBe('opsctl doctor: profile "dev"');
    expect(document.checks['redis:latency']).toEqual([
      {
        componentId: '127.0.0.1:6379',
        componentType: 'datastore',
        observedValue: 0.3,
        observedUnit: 'ms',
        status: 'pass',
        time: '2025-01-02T03:04:05.000Z',
        output: 'median 0.3ms over 5 PINGs',
        durationMs: 1.5,
      },
    ]);
    expect(document.checks['redis:memory']).toHaveLength(2);
    const skipped = document.checks['postgres:connection']![0]!;
    expect(skipped.skipped).toBe(true);
    expect(skipped.status).toBeUndefined();
  });

  it('exits 0 when only passes and skips, 3 on a warning, 4 when every configured dependency is down', () => {
    expect(doctorExitCode(reportOf([check('a', 'pass', ''), check('b', 'skip', '')]))).toBe(0);
    expect(doctorExitCode(report)).toBe(3);
    expect(doctorExitCode(reportOf([check('a', 'fail', '')], { redis: false, postgres: true }))).toBe(3);
    expect(doctorExitCode(reportOf([check('a', 'fail', '')], { redis: false, postgres: false }))).toBe(4);
  });
});
