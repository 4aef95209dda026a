import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseSize } from '../../src/core/parse.js';
import { SecretRegistry, redactUrlCredentials, redactValue } from '../../src/core/redact.js';
import { OpsError } from '../../src/core/errors.js';
import { ERROR_CODES } from '../../src/core/error-codes.js';

describe('durations and sizes', () => {
  it.each([
    ['250ms', 250], ['5s', 5000], ['1m30s', 90_000], ['2h', 7_200_000], ['7d', 604_800_000], ['1500', 1500], [42, 42],
    ['5 s', undefined], ['abc', undefined], ['', undefined], ['1x', undefined], [-1, undefined],
  ])('parseDuration(%j) = %j', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it('formats durations', () => {
    expect([formatDuration(12.34), formatDuration(1500), formatDuration(90_000)]).toEqual(['12.3ms', '1.5s', '1m30s']);
  });

  it.each([['512MiB', 536_870_912], ['1.5GB', 1_500_000_000], ['4096', 4096], ['10 kib', 10_240], ['1PB', undefined]])(
    'parseSize(%j) = %j',
    (input, expected) => expect(parseSize(input)).toBe(expected),
  );
});

describe('redaction', () => {
  it('hides URL passwords but keeps the user', () => {
    expect(redactUrlCredentials('connect redis://app:s3cr3t@db:6379/0 and postgres://u:p%40ss@h/db')).toBe(
      'connect redis://app:****@db:6379/0 and postgres://u:****@h/db',
    );
  });

  it('hides secret-named keys at any depth and keeps env references', () => {
    expect(
      redactValue({ redis: { password: 'hunter22', url: 'redis://:pw@h:1' }, pg: { password: '${env:PGPASSWORD}' }, apiKey: 'k-123', port: 5 }),
    ).toEqual({ redis: { password: '****', url: 'redis://:****@h:1' }, pg: { password: '${env:PGPASSWORD}' }, apiKey: '****', port: 5 });
  });

  it('replaces registered secret values wherever they appear', () => {
    const registry = new SecretRegistry();
    registry.add('correct-horse');
    registry.add('ab'); // too short to be a plausible secret: ignored
    expect(registry.redact('AUTH default correct-horse failed (ab)')).toBe('AUTH default **** failed (ab)');
  });
});

describe('errors', () => {
  it('takes the exit code from the catalogue and serialises without the cause', () => {
    const error = new OpsError('REDIS_UNREACHABLE', 'cannot connect', { hint: 'start it', cause: new Error('ECONNREFUSED') });
    expect(error.exitCode).toBe(4);
    expect(error.toJSON()).toEqual({ code: 'REDIS_UNREACHABLE', message: 'cannot connect', hint: 'start it' });
  });

  it('gives every catalogue entry an exit code, a summary, causes and fixes', () => {
    for (const info of Object.values(ERROR_CODES)) {
      expect([1, 2, 3, 4, 130]).toContain(info.exitCode);
      expect(info.summary.length).toBeGreaterThan(0);
      expect(info.causes.length).toBeGreaterThan(0);
      expect(info.fixes.length).toBeGreaterThan(0);
    }
  });
});
