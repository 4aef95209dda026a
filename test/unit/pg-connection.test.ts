import { describe, expect, it } from 'vitest';
import { postgresSchema } from '../../src/config/schema.js';
import { describePgTarget, describeSql, resolvePgTarget } from '../../src/postgres/connection.js';

const pg = (input: Record<string, unknown>) => postgresSchema.parse(input);

describe('resolvePgTarget', () => {
  it('reads every part of a URL', () => {
    expect(resolvePgTarget(pg({ url: 'postgres://app:p%40ss@db.example.com:6543/app%20db?sslmode=require' }), 'profiles.prod.postgres')).toEqual({
      host: 'db.example.com',
      port: 6543,
      user: 'app',
      database: 'app db',
      password: 'p@ss',
      sslMode: 'require',
      addressKey: 'profiles.prod.postgres.url',
      databaseKey: 'profiles.prod.postgres.url',
    });
  });

  it('lets fields override URL parts (a password from ${env:…} beside a URL)', () => {
    const target = resolvePgTarget(pg({ url: 'postgresql://app@db:5432/app', password: 'from-env', database: 'other' }), 'k');
    expect(target).toMatchObject({ host: 'db', user: 'app', password: 'from-env', database: 'other', databaseKey: 'k.database' });
  });

  it('defaults the role to postgres and the database to the role', () => {
    expect(resolvePgTarget(pg({ host: '127.0.0.1' }), 'k')).toMatchObject({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres', sslMode: 'disable', addressKey: 'k.host' });
    expect(resolvePgTarget(pg({ host: '127.0.0.1', user: 'app' }), 'k').database).toBe('app');
  });

  it('takes a socket directory from ?host=', () => {
    expect(resolvePgTarget(pg({ url: 'postgres:///app?host=/var/run/postgresql' }), 'k')).toMatchObject({ host: '/var/run/postgresql', database: 'app' });
  });

  it('refuses sslmodes it cannot honour', () => {
    expect(() => resolvePgTarget(pg({ url: 'postgres://h/db?sslmode=prefer' }), 'k')).toThrow(/sslmode=prefer/);
  });
});

describe('describePgTarget', () => {
  it('names role, address and database without the password', () => {
    const text = describePgTarget(pg({ url: 'postgres://postgres:pw-secret@127.0.0.1:5432/postgres' }));
    expect(text).toBe('postgres@127.0.0.1:5432/postgres');
    expect(describePgTarget(pg({ host: '::1', port: 5433, user: 'app' }))).toBe('app@[::1]:5433/app');
  });
});

describe('describeSql', () => {
  it('collapses whitespace and counts parameters without printing them', () => {
    expect(describeSql('select *\n  from t\n where id = $1 and name = $2', 2)).toBe('select * from t where id = $1 and name = $2  [2 params]');
    expect(describeSql('select 1', 0)).toBe('select 1');
    expect(describeSql('select $1', 1)).toBe('select $1  [1 param]');
  });

  it('hides password literals', () => {
    expect(describeSql("ALTER ROLE app WITH PASSWORD 'it''s-secret'", 0)).toBe("ALTER ROLE app WITH PASSWORD '****'");
    expect(describeSql("create role x login encrypted password 'abc'", 0)).toBe("create role x login encrypted password '****'");
  });

  it('clips long statements', () => {
    const text = describeSql(`select ${'x, '.repeat(200)}1`, 0);
    expect(text.length).toBe(241);
    expect(text.endsWith('…')).toBe(true);
  });
});
