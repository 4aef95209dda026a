import { describe, expect, it } from 'vitest';
import { redisSchema } from '../../src/config/schema.js';
import { backoffDelay, describeRedisTarget } from '../../src/redis/connection.js';
import { describeCommand, redactCommandArgs } from '../../src/redis/trace.js';

const redis = (input: Record<string, unknown>) => redisSchema.parse(input);

describe('describeRedisTarget', () => {
  it.each([
    [{ url: 'redis://:pw-secret@10.0.0.5:6390/2' }, '10.0.0.5:6390'],
    [{ url: 'rediss://alice:pw-secret@cache.example.com' }, 'cache.example.com:6379'],
    [{ host: '127.0.0.1', port: 6400 }, '127.0.0.1:6400'],
    [{ url: 'redis://[::1]:6379' }, '[::1]:6379'],
    [{ url: 'redis://127.0.0.1:6379', host: 'override.local' }, 'override.local:6379'],
    [
      { mode: 'sentinel', sentinel: { name: 'mymaster', nodes: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }] } },
      'sentinel mymaster via 10.0.0.1:26379,10.0.0.2:26379',
    ],
    [{ mode: 'cluster', cluster: { nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }] } }, 'cluster 10.0.0.1:7000,10.0.0.2:7001'],
  ])('%j → %s, never a password', (input, expected) => {
    const text = describeRedisTarget(redis(input));
    expect(text).toBe(expected);
    expect(text).not.toContain('pw-secret');
  });

  it('hides credentials even for a URL it cannot parse', () => {
    // The schema refuses such a URL; a library caller may still hand one in.
    expect(describeRedisTarget({ ...redis({ host: 'x' }), host: undefined, url: 'http://u:pw-secret@x' })).not.toContain('pw-secret');
  });
});

describe('backoffDelay', () => {
  const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 500 };
  it('doubles from baseDelay, caps at maxDelay and gives up after maxAttempts', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, policy))).toEqual([100, 200, 400, 500, null]);
  });
  it('never retries with maxAttempts 0', () => {
    expect(backoffDelay(1, { ...policy, maxAttempts: 0 })).toBeNull();
  });
});

describe('command tracing', () => {
  it.each([
    ['auth', ['s3cret'], ['****']],
    ['auth', ['alice', 's3cret'], ['alice', '****']],
    ['hello', ['3', 'AUTH', 'alice', 's3cret', 'SETNAME', 'x'], ['3', 'AUTH', 'alice', '****', 'SETNAME', 'x']],
    ['migrate', ['h', '6379', '', '0', '5000', 'AUTH', 's3cret', 'KEYS', 'a'], ['h', '6379', '', '0', '5000', 'AUTH', '****', 'KEYS', 'a']],
    ['migrate', ['h', '6379', 'k', '0', '5000', 'AUTH2', 'alice', 's3cret'], ['h', '6379', 'k', '0', '5000', 'AUTH2', 'alice', '****']],
    ['acl', ['SETUSER', 'alice', 'on', '>s3cret', '~*', '+@all'], ['SETUSER', 'alice', 'on', '>****', '~*', '+@all']],
    ['config', ['SET', 'requirepass', 's3cret'], ['SET', 'requirepass', '****']],
    ['get', ['opsctl:key'], ['opsctl:key']],
  ])('redacts %s %j', (name, args, expected) => {
    expect(redactCommandArgs(name, args)).toEqual(expected);
  });

  it('describes a command on one short line', () => {
    expect(describeCommand('get', ['opsctl:a'])).toBe('GET opsctl:a');
    expect(describeCommand('set', ['k', 'x'.repeat(100), 'EX', 60])).toBe(`SET k ${'x'.repeat(48)}… EX 60`);
    expect(describeCommand('set', ['k', Buffer.from('abc')])).toBe('SET k <3 bytes>');
    expect(describeCommand('set', ['k', 'two words'])).toBe('SET k "two words"');
    expect(describeCommand('del', Array.from({ length: 10 }, (_, i) => `k${i}`))).toBe('DEL k0 k1 k2 k3 k4 k5 k6 k7 … (+2 more)');
    expect(describeCommand('auth', ['alice', 's3cret'])).toBe('AUTH alice ****');
  });
});
