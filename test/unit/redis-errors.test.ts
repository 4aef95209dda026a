import { describe, expect, it } from 'vitest';
import { OpsError } from '../../src/core/errors.js';
import { secrets } from '../../src/core/redact.js';
import { isRedisAuthError, mapRedisError, redisConnectTimeout, type RedisErrorContext } from '../../src/redis/errors.js';

const context: RedisErrorContext = {
  target: '127.0.0.1:6390',
  configKey: 'profiles.dev.redis',
  addressKey: 'profiles.dev.redis.url',
  username: 'default',
  hasPassword: true,
  connectTimeoutMs: 5000,
  commandTimeoutMs: 2000,
};

function sysError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function reply(message: string, command?: string): Error {
  const error = new Error(message);
  error.name = 'ReplyError';
  return command === undefined ? error : Object.assign(error, { command: { name: command, args: ['secret-arg'] } });
}

describe('mapRedisError', () => {
  it.each([
    ['ECONNREFUSED', 'connection refused', /is the server running\? the address comes from profiles\.dev\.redis\.url/],
    ['ENOTFOUND', 'host name not found', /check the host name in profiles\.dev\.redis\.url/],
    ['EAI_AGAIN', 'DNS lookup failed (temporary failure)', /DNS/],
    ['EHOSTUNREACH', 'host unreachable', /network route and firewall/],
  ])('maps %s to REDIS_UNREACHABLE naming host:port and the config key', (code, reason, hint) => {
    const error = mapRedisError(sysError(code, `connect ${code} 127.0.0.1:6390`), context);
    expect(error.code).toBe('REDIS_UNREACHABLE');
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe(`cannot connect to Redis at 127.0.0.1:6390: ${reason}`);
    expect(error.hint).toMatch(hint);
  });

  it('finds the code inside an AggregateError (Node tries every address of a name)', () => {
    const aggregate = new AggregateError([sysError('ECONNREFUSED', 'connect ECONNREFUSED ::1:6390')], '');
    expect(mapRedisError(aggregate, context).code).toBe('REDIS_UNREACHABLE');
  });

  it('maps WRONGPASS to REDIS_AUTH_FAILED without any password', () => {
    secrets.add('hunter2-password');
    const error = mapRedisError(reply('WRONGPASS invalid username-password pair or user is disabled.'), { ...context, username: 'alice' });
    expect(error.code).toBe('REDIS_AUTH_FAILED');
    expect(error.message).toBe('authentication failed for user "alice" at 127.0.0.1:6390');
    expect(error.hint).toContain('profiles.dev.redis.password and profiles.dev.redis.username');
    expect(JSON.stringify(error.toJSON())).not.toContain('hunter2');
  });

  it('tells "no password configured" from "wrong password" on NOAUTH', () => {
    const error = mapRedisError(reply('NOAUTH Authentication required.'), { ...context, hasPassword: false });
    expect(error.code).toBe('REDIS_AUTH_FAILED');
    expect(error.hint).toMatch(/^set profiles\.dev\.redis\.password/);
  });

  it('maps NOPERM to REDIS_AUTH_FAILED quoting what is missing', () => {
    const error = mapRedisError(reply("NOPERM User bob has no permissions to run the 'info' command"), { ...context, username: 'bob' });
    expect(error.code).toBe('REDIS_AUTH_FAILED');
    expect(error.message).toContain('user "bob" at 127.0.0.1:6390 lacks a permission');
    expect(error.message).toContain("'info'");
  });

  it('maps command and connect timeouts to REDIS_TIMEOUT naming the config key', () => {
    const command = mapRedisError(new Error('Command timed out'), context);
    expect(command.code).toBe('REDIS_TIMEOUT');
    expect(command.message).toBe('Redis at 127.0.0.1:6390 did not answer within 2s');
    expect(command.hint).toContain('profiles.dev.redis.commandTimeout');
    const connect = mapRedisError(sysError('ETIMEDOUT', 'connect ETIMEDOUT'), context);
    expect(connect.code).toBe('REDIS_TIMEOUT');
    expect(connect.hint).toContain('profiles.dev.redis.connectTimeout');
    expect(redisConnectTimeout(context).message).toBe('Redis at 127.0.0.1:6390 did not answer within 5s');
  });

  it('surfaces the last real cause instead of ioredis stand-in errors', () => {
    const maxRetries = Object.assign(new Error('Reached the max retries per request limit (which is 0). Refer to "maxRetriesPerRequest" option for details.'), {
      name: 'MaxRetriesPerRequestError',
    });
    const withCause = mapRedisError(maxRetries, { ...context, lastConnectionError: sysError('ECONNRESET', 'read ECONNRESET') });
    expect(withCause.code).toBe('REDIS_UNREACHABLE');
    expect(withCause.message).toBe('cannot connect to Redis at 127.0.0.1:6390: connection reset by the server');
    expect(withCause.cause).toBe(maxRetries);
    expect(withCause.message).not.toMatch(/max retries/);

    const closed = mapRedisError(new Error('Connection is closed.'), context);
    expect(closed.code).toBe('REDIS_UNREACHABLE');
    expect(closed.message).toBe('lost the connection to Redis at 127.0.0.1:6390');
  });

  it('uses the node error a Cluster wraps, with the node address when known', () => {
    const allFailed = Object.assign(new Error('Failed to refresh slots cache.'), { lastNodeError: sysError('ECONNREFUSED', 'x') });
    expect(mapRedisError(allFailed, { ...context, target: 'cluster a:7000' }).message).toBe('cannot connect to Redis at cluster a:7000: connection refused');
    const fromNode = mapRedisError(new Error('Connection is closed.'), {
      ...context,
      lastConnectionError: sysError('ECONNREFUSED', 'x'),
      lastErrorAddress: '10.0.0.2:7001',
    });
    expect(fromNode.message).toBe('cannot connect to Redis at 10.0.0.2:7001: connection refused');
  });

  it('explains a Sentinel failure with its last error, or an unknown master name', () => {
    const unreachable = mapRedisError(
      new Error('All sentinels are unreachable and retry is disabled. Last error: connect ECONNREFUSED 127.0.0.1:26379'),
      { ...context, target: 'sentinel mymaster via 127.0.0.1:26379' },
    );
    expect(unreachable.code).toBe('REDIS_UNREACHABLE');
    expect(unreachable.message).toBe('cannot reach Redis through sentinel mymaster via 127.0.0.1:26379: connection refused');
    expect(unreachable.hint).toContain('profiles.dev.redis.sentinel.nodes');
    const unknownMaster = mapRedisError(new Error('All sentinels are unreachable and retry is disabled.'), context);
    expect(unknownMaster.hint).toContain('profiles.dev.redis.sentinel.name');
  });

  it('maps other replies to REDIS_COMMAND_FAILED with the command name but not its arguments', () => {
    const error = mapRedisError(reply("READONLY You can't write against a read only replica.", 'set'), context);
    expect(error.code).toBe('REDIS_COMMAND_FAILED');
    expect(error.message).toBe("Redis at 127.0.0.1:6390 rejected SET: READONLY You can't write against a read only replica.");
    expect(error.message).not.toContain('secret-arg');
    expect(error.hint).toMatch(/replica/);
  });

  it('says a non-Redis port is not Redis', () => {
    const error = mapRedisError(new Error('Protocol error, got "H" as reply type byte. Please report this.'), context);
    expect(error.code).toBe('REDIS_UNREACHABLE');
    expect(error.message).toContain('does not speak the Redis protocol');
  });

  it('passes OpsErrors through untouched', () => {
    const original = new OpsError('CONFIG_INVALID', 'bad');
    expect(mapRedisError(original, context)).toBe(original);
  });

  it('recognises credential errors, which are never retried', () => {
    expect(isRedisAuthError(reply('WRONGPASS invalid'))).toBe(true);
    expect(isRedisAuthError(reply('NOAUTH Authentication required.'))).toBe(true);
    expect(isRedisAuthError(sysError('ECONNREFUSED', 'x'))).toBe(false);
  });
});
