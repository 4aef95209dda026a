import { describe, expect, it } from 'vitest';
import { OpsError } from '../../src/core/errors.js';
import { mapPgError, pgErrorFields, type PgErrorContext } from '../../src/postgres/errors.js';

const context: PgErrorContext = {
  address: '127.0.0.1:5433',
  configKey: 'profiles.dev.postgres',
  addressKey: 'profiles.dev.postgres.url',
  databaseKey: 'profiles.dev.postgres.database',
  user: 'app',
  database: 'appdb',
  connectTimeoutMs: 5000,
  statementTimeoutMs: 30_000,
};

/** What pg's DatabaseError carries: the server's fields. */
function serverError(code: string, message: string, extra: Record<string, string> = {}): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR', ...extra });
}

function sysError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('mapPgError', () => {
  it('maps a refused connection to PG_UNREACHABLE naming host:port and the config key', () => {
    const error = mapPgError(sysError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5433'), context);
    expect(error.code).toBe('PG_UNREACHABLE');
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe('cannot connect to PostgreSQL at 127.0.0.1:5433: connection refused');
    expect(error.hint).toBe('is the server running? the address comes from profiles.dev.postgres.url');
  });

  it('maps DNS failures to PG_UNREACHABLE with a DNS hint', () => {
    const error = mapPgError(sysError('ENOTFOUND', 'getaddrinfo ENOTFOUND db.invalid'), context);
    expect(error.code).toBe('PG_UNREACHABLE');
    expect(error.hint).toMatch(/host name in profiles\.dev\.postgres\.url/);
  });

  it.each([
    ['timeout expired'],
    ['Connection terminated due to connection timeout'],
    ['timeout exceeded when trying to connect'],
  ])('maps "%s" to PG_TIMEOUT naming connectTimeout', (message) => {
    const error = mapPgError(new Error(message), context);
    expect(error.code).toBe('PG_TIMEOUT');
    expect(error.message).toBe('PostgreSQL at 127.0.0.1:5433 did not answer within 5s');
    expect(error.hint).toContain('profiles.dev.postgres.connectTimeout');
  });

  it('maps 28P01 to PG_AUTH_FAILED naming the role, never a password', () => {
    const error = mapPgError(serverError('28P01', 'password authentication failed for user "app"'), context);
    expect(error.code).toBe('PG_AUTH_FAILED');
    expect(error.message).toBe('authentication failed for role "app" at 127.0.0.1:5433');
    expect(error.hint).toContain('profiles.dev.postgres.password');
  });

  it('maps 28000 (pg_hba) to PG_AUTH_FAILED quoting the server', () => {
    const error = mapPgError(
      serverError('28000', 'no pg_hba.conf entry for host "10.0.0.9", user "app", database "appdb", no encryption'),
      context,
    );
    expect(error.code).toBe('PG_AUTH_FAILED');
    expect(error.message).toContain('no pg_hba.conf entry');
    expect(error.hint).toMatch(/pg_hba\.conf/);
  });

  it('maps a missing password to PG_AUTH_FAILED', () => {
    const error = mapPgError(new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), context);
    expect(error.code).toBe('PG_AUTH_FAILED');
    expect(error.message).toContain('the server requires a password');
  });

  it('maps 3D000 to PG_DATABASE_MISSING (exit 4) naming the key to fix', () => {
    const error = mapPgError(serverError('3D000', 'database "appdb" does not exist'), context);
    expect(error.code).toBe('PG_DATABASE_MISSING');
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe('database "appdb" does not exist at 127.0.0.1:5433');
    expect(error.hint).toBe('create it (createdb appdb) or fix profiles.dev.postgres.database');
  });

  it('maps a statement timeout to PG_TIMEOUT but a user cancel to PG_QUERY_FAILED', () => {
    expect(mapPgError(serverError('57014', 'canceling statement due to statement timeout'), context).code).toBe('PG_TIMEOUT');
    expect(mapPgError(serverError('57014', 'canceling statement due to user request'), context).code).toBe('PG_QUERY_FAILED');
  });

  it('maps "starting up" and "too many clients" to PG_UNREACHABLE', () => {
    expect(mapPgError(serverError('57P03', 'the database system is starting up'), context).code).toBe('PG_UNREACHABLE');
    expect(mapPgError(serverError('53300', 'sorry, too many clients already'), context).code).toBe('PG_UNREACHABLE');
  });

  it("keeps the server's code, detail and hint for other errors", () => {
    const error = mapPgError(
      serverError('23505', 'duplicate key value violates unique constraint "users_pkey"', {
        detail: 'Key (id)=(1) already exists.',
        constraint: 'users_pkey',
        table: 'users',
      }),
      context,
    );
    expect(error.code).toBe('PG_QUERY_FAILED');
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe('PostgreSQL error 23505: duplicate key value violates unique constraint "users_pkey"');
    expect(error.hint).toBe('Key (id)=(1) already exists.');
    expect(error.details).toMatchObject({ code: '23505', constraint: 'users_pkey', table: 'users', detail: 'Key (id)=(1) already exists.' });

    const withHint = mapPgError(serverError('42883', 'function nope() does not exist', { hint: 'No function matches the given name.' }), context);
    expect(withHint.hint).toBe('No function matches the given name.');
  });

  it('passes OpsErrors through and reads server fields only from server errors', () => {
    const original = new OpsError('CONFIG_INVALID', 'bad');
    expect(mapPgError(original, context)).toBe(original);
    expect(pgErrorFields(sysError('ECONNREFUSED', 'x'))).toBeUndefined();
    expect(pgErrorFields(serverError('42P01', 'relation "x" does not exist'))).toEqual({ code: '42P01', severity: 'ERROR' });
  });
});
