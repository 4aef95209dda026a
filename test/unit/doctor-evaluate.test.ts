import { describe, expect, it } from 'vitest';
import {
  compareVersions,
  evaluateEviction,
  evaluateLatency,
  evaluateMemory,
  evaluatePersistence,
  evaluatePgTool,
  evaluateRedisVersion,
  evaluateRole,
  median,
  parseRedisInfo,
} from '../../src/doctor/evaluate.js';

/** Trimmed INFO output of a real redis-server 7.0, with fields overridable per test. */
function infoText(overrides: Record<string, string> = {}): string {
  const fields: Record<string, string> = {
    redis_version: '7.0.15',
    redis_mode: 'standalone',
    used_memory: '1048576',
    maxmemory: '0',
    maxmemory_policy: 'noeviction',
    aof_enabled: '0',
    rdb_last_bgsave_status: 'ok',
    aof_last_write_status: 'ok',
    role: 'master',
    connected_slaves: '0',
    ...overrides,
  };
  const [server, memory, persistence, replication] = [
    ['redis_version', 'redis_mode'],
    ['used_memory', 'maxmemory', 'maxmemory_policy'],
    ['aof_enabled', 'rdb_last_bgsave_status', 'aof_last_write_status'],
    ['role', 'connected_slaves', 'master_host', 'master_port', 'master_link_status'],
  ].map((keys) => keys.filter((key) => fields[key] !== undefined).map((key) => `${key}:${fields[key]}`).join('\r\n'));
  return `# Server\r\n${server}\r\n\r\n# Memory\r\n${memory}\r\n\r\n# Persistence\r\n${persistence}\r\n\r\n# Replication\r\n${replication}\r\n`;
}

const info = (overrides: Record<string, string> = {}) => parseRedisInfo(infoText(overrides));

describe('parseRedisInfo', () => {
  it('reads fields across sections and ignores headers and blank lines', () => {
    const fields = info();
    expect(fields.redis_version).toBe('7.0.15');
    expect(fields.role).toBe('master');
    expect(fields.maxmemory_policy).toBe('noeviction');
    expect(Object.keys(fields).some((key) => key.startsWith('#'))).toBe(false);
  });

  it('keeps colons inside values', () => {
    expect(parseRedisInfo('executable:/usr/bin/redis-server\r\nconfig_file:C:\\redis.conf\r\n').config_file).toBe('C:\\redis.conf');
  });
});

describe('compareVersions', () => {
  it.each([
    ['6.2.0', '6.2.0', 0],
    ['6.10.0', '6.2.1', 1],
    ['6.0.16', '6.2.0', -1],
    ['7', '6.2.0', 1],
    ['6.2', '6.2.0', 0],
    ['255.255.255', '6.2.0', 1],
  ])('%s vs %s → %i', (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected);
  });
});

describe('redis version', () => {
  it.each([
    ['7.2.4', 'pass'],
    ['6.2.0', 'pass'],
    ['6.0.16', 'warn'],
    ['5.0.7', 'warn'],
  ])('Redis %s → %s', (version, status) => {
    const verdict = evaluateRedisVersion(info({ redis_version: version }));
    expect(verdict.status).toBe(status);
    expect(verdict.observed).toEqual({ value: version });
    if (status === 'warn') expect(verdict.remedy).toMatch(/upgrade to Redis 6\.2/);
  });
});

describe('role', () => {
  it('passes a master and counts its replicas', () => {
    expect(evaluateRole(info({ connected_slaves: '2' }), 'profiles.p.redis')).toMatchObject({ status: 'pass', message: 'master, 2 connected replicas' });
  });
  it('warns on a replica, where writes fail', () => {
    const verdict = evaluateRole(info({ role: 'slave', master_host: '10.0.0.1', master_port: '6379', master_link_status: 'up' }), 'profiles.p.redis');
    expect(verdict.status).toBe('warn');
    expect(verdict.message).toContain('replica of 10.0.0.1:6379, link up');
    expect(verdict.remedy).toContain('profiles.p.redis');
  });
});

describe('memory', () => {
  const mib = 1024 * 1024;
  it('warns when no maxmemory is set', () => {
    const verdict = evaluateMemory(info({ maxmemory: '0' }), 0.8, 'k');
    expect(verdict.status).toBe('warn');
    expect(verdict.message).toMatch(/no maxmemory set/);
    expect(verdict.remedy).toMatch(/maxmemory/);
    expect(verdict.observed).toEqual({ value: mib, unit: 'bytes' });
  });
  it.each([
    [50, 'pass'],
    [80, 'pass'],
    [81, 'warn'],
    [99, 'warn'],
  ])('%i%% of maxmemory → %s at a 0.8 threshold', (percent, status) => {
    const verdict = evaluateMemory(info({ used_memory: String(percent * mib), maxmemory: String(100 * mib) }), 0.8, 'profiles.p.doctor.redisMemoryWarnRatio');
    expect(verdict.status).toBe(status);
    expect(verdict.observed).toEqual({ value: percent / 100, unit: 'ratio' });
    if (status === 'warn') expect(verdict.remedy).toContain('profiles.p.doctor.redisMemoryWarnRatio');
  });
});

describe('persistence', () => {
  it.each([
    [{ aof_enabled: '1' }, '', 'pass', /AOF on, RDB off/],
    [{}, '3600 1 300 100', 'pass', /AOF off, RDB save "3600 1 300 100"/],
    [{}, '', 'warn', /all data is lost on restart/],
    [{}, undefined, 'skip', /CONFIG GET refused/],
    [{ aof_enabled: '1' }, undefined, 'pass', /AOF on, RDB schedule unknown/],
    [{ rdb_last_bgsave_status: 'err' }, '60 1', 'fail', /last RDB snapshot failed/],
    [{ rdb_last_bgsave_status: 'err' }, '', 'warn', /lost on restart/],
    [{ aof_enabled: '1', aof_last_write_status: 'err' }, '', 'fail', /last AOF write failed/],
  ] as const)('%j with save %j → %s', (overrides, save, status, message) => {
    const verdict = evaluatePersistence(info(overrides), save);
    expect(verdict.status).toBe(status);
    expect(verdict.message).toMatch(message);
    if (status === 'warn' || status === 'fail') expect(verdict.remedy).toBeDefined();
  });
});

describe('eviction', () => {
  it.each([
    ['0', 'noeviction', 'pass'],
    ['104857600', 'noeviction', 'warn'],
    ['104857600', 'volatile-lru', 'pass'],
    ['104857600', 'allkeys-lfu', 'pass'],
  ])('maxmemory %s with %s → %s', (maxmemory, policy, status) => {
    const verdict = evaluateEviction(info({ maxmemory, maxmemory_policy: policy }));
    expect(verdict.status).toBe(status);
    expect(verdict.observed).toEqual({ value: policy });
  });
});

describe('latency', () => {
  it('judges the median, so one slow sample does not warn', () => {
    expect(median([0.3, 0.2, 400, 0.4, 0.3])).toBe(0.3);
    expect(median([1, 2, 3, 4])).toBe(2.5);
    expect(evaluateLatency([0.3, 0.2, 400, 0.4, 0.3], 50, 'k').status).toBe('pass');
  });
  it('warns above the threshold and names its key', () => {
    const verdict = evaluateLatency([60, 70, 80], 50, 'profiles.p.doctor.redisLatencyWarn');
    expect(verdict.status).toBe('warn');
    expect(verdict.observed).toEqual({ value: 70, unit: 'ms' });
    expect(verdict.remedy).toContain('profiles.p.doctor.redisLatencyWarn');
  });
});

describe('pg_dump / pg_restore against the server', () => {
  const tool = (major: number) => ({ name: 'pg_dump', path: `/usr/lib/postgresql/${major}/bin/pg_dump`, version: { major, minor: 4 } });
  it.each([
    [15, 15, 'pass'],
    [16, 15, 'pass'],
    [13, 15, 'fail'],
  ])('pg_dump %i with server %i → %s', (major, server, status) => {
    const verdict = evaluatePgTool(tool(major), server, '');
    expect(verdict.status).toBe(status);
    if (status === 'fail') expect(verdict.remedy).toContain(`postgresql-client-${server}`);
  });
  it('skips the comparison when the server version is unknown, saying why', () => {
    const verdict = evaluatePgTool(tool(15), undefined, 'PostgreSQL is not reachable');
    expect(verdict.status).toBe('skip');
    expect(verdict.message).toBe('pg_dump 15.4 (/usr/lib/postgresql/15/bin/pg_dump); not compared: PostgreSQL is not reachable');
  });
});
