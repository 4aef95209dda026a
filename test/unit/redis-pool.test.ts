import { describe, expect, it } from 'vitest';
import { ReplyError } from 'ioredis';
import { redisSchema } from '../../src/config/schema.js';
import { OpsError } from '../../src/core/errors.js';
import { clusterRetryBudget } from '../../src/redis/connection.js';
import { classifyRedisFailure, runRead, runWrite } from '../../src/redis/failover-policy.js';
import { createRedisManager } from '../../src/redis/pool.js';

function reply(message: string): Error {
  return new ReplyError(message);
}

describe('classifyRedisFailure', () => {
  it('calls refused and never-written commands not-executed', () => {
    for (const message of [
      "Stream isn't writeable and enableOfflineQueue options is false",
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'MOVED 3999 127.0.0.1:6381',
      'ASK 3999 127.0.0.1:6381',
      "READONLY You can't write against a read only replica.",
      'LOADING Redis is loading the dataset in memory',
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no',
      'Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down',
    ]) {
      expect(classifyRedisFailure(reply(message)), message).toBe('not-executed');
    }
  });

  it('calls a lost answer uncertain', () => {
    for (const message of ['Command timed out', 'Connection is closed.', 'Reached the max retries per request limit (which is 0). Refer to "maxRetriesPerRequest" option for details.']) {
      expect(classifyRedisFailure(new Error(message)), message).toBe('uncertain');
    }
    expect(classifyRedisFailure(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe('uncertain');
    expect(classifyRedisFailure(new Error('Too many Cluster redirections. Last error: Error: Connection is closed.'))).toBe('uncertain');
  });

  it('calls the server meaning it final', () => {
    expect(classifyRedisFailure(reply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe('final');
    expect(classifyRedisFailure(reply('NOPERM this user has no permissions'))).toBe('final');
    expect(classifyRedisFailure(new OpsError('CONFIG_INVALID', 'x'))).toBe('final');
    expect(classifyRedisFailure('not an error')).toBe('final');
  });
});

describe('clusterRetryBudget', () => {
  it('retries CLUSTERDOWN/TRYAGAIN for the whole failoverTimeout, never resends a lost command', () => {
    const budget = clusterRetryBudget(10_000);
    expect(budget.retryDelayOnFailover).toBe(0);
    expect(budget.maxRedirections! * budget.retryDelayOnClusterDown!).toBeGreaterThanOrEqual(10_000);
    expect(clusterRetryBudget(500).maxRedirections).toBe(16);
  });
});

/** A stand-in with only what run() touches: `status`. No server needed for these. */
function fakeClient(status: string): never {
  return { status, connect: () => Promise.resolve() } as never;
}

describe('runRead / runWrite without a server', () => {
  it('retries a read through a lost answer, but fails a write as REDIS_WRITE_UNCERTAIN at once', async () => {
    const client = fakeClient('ready');
    let reads = 0;
    const value = await runRead(client, async () => {
      reads += 1;
      if (reads < 3) throw new Error('Command timed out');
      return 'v';
    });
    expect(value).toBe('v');
    expect(reads).toBe(3);

    let writes = 0;
    const error = await runWrite(client, async () => {
      writes += 1;
      throw new Error('Connection is closed.');
    }).catch((e: unknown) => e as OpsError);
    expect(writes).toBe(1);
    expect(error).toBeInstanceOf(OpsError);
    expect((error as OpsError).code).toBe('REDIS_WRITE_UNCERTAIN');
    expect((error as OpsError).exitCode).toBe(1);
  });

  it('retries a write that the server refused (not executed) until it succeeds', async () => {
    let writes = 0;
    const result = await runWrite(fakeClient('ready'), async () => {
      writes += 1;
      if (writes < 3) throw reply('CLUSTERDOWN The cluster is down');
      return 'OK';
    });
    expect(result).toBe('OK');
    expect(writes).toBe(3);
  });

  it('gives up after timeoutMs naming the failoverTimeout key, and never calls fn while disconnected', async () => {
    let calls = 0;
    const started = performance.now();
    const error = await runWrite(fakeClient('reconnecting'), async () => {
      calls += 1;
      return 'never';
    }, { timeoutMs: 200, configKey: 'profiles.prod.redis' }).catch((e: unknown) => e as OpsError);
    expect(calls).toBe(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(error).toBeInstanceOf(OpsError);
    expect((error as OpsError).hint).toContain('profiles.prod.redis.failoverTimeout');
  });

  it('stops when the signal is aborted', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const error = await runRead(fakeClient('connecting'), async () => 'x', { signal: controller.signal }).catch((e: unknown) => e as OpsError);
    expect((error as OpsError).code).toBe('INTERRUPTED');
  });
});

describe('createRedisManager settings', () => {
  it('reads pool limits and failoverTimeout from the profile, with defaults', () => {
    const manager = createRedisManager(redisSchema.parse({ host: 'localhost' }), { configKey: 'profiles.dev.redis' });
    expect(manager.settings).toEqual({ max: 10, acquireTimeoutMs: 5000, idleTimeoutMs: 30_000 });
    expect(manager.failoverTimeoutMs).toBe(10_000);
    const tuned = createRedisManager(redisSchema.parse({ host: 'localhost', pool: { max: 3, acquireTimeout: '1s' }, failoverTimeout: '30s' }), { configKey: 'p' });
    expect(tuned.settings).toEqual({ max: 3, acquireTimeoutMs: 1000, idleTimeoutMs: 30_000 });
    expect(tuned.failoverTimeoutMs).toBe(30_000);
  });
});
