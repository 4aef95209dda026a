import { describe, expect, it } from 'vitest';
import { decodeEntry, decodeHeader, encodeEntry } from '../../src/cache/codec.js';
import { CacheKeys, entryHash } from '../../src/cache/keys.js';
import { fingerprintSql, normaliseSql, tablesInSql, uncacheableReason } from '../../src/cache/sql.js';
import { OpsError } from '../../src/core/errors.js';

describe('normaliseSql', () => {
  it.each([
    ['SELECT  *\n FROM t -- c\n WHERE a = $1;', 'select * from t where a = $1'],
    ["select 'A  B' from T", "select 'A  B' from t"],
    ['select /* x */ "Mixed  Name" from t', 'select "Mixed  Name" from t'],
    ["select 'it''s  ok'", "select 'it''s  ok'"],
    ['select $$A  b$$', 'select $$A  b$$'],
  ])('%j → %j', (input, expected) => {
    expect(normaliseSql(input)).toBe(expected);
  });

  it('gives the same fingerprint to the same statement written differently', () => {
    expect(fingerprintSql(normaliseSql('select 1'))).toBe(fingerprintSql(normaliseSql('SELECT 1 ;')));
  });
});

describe('tablesInSql', () => {
  it.each([
    ['select * from orders o join public.users u on u.id = o.user_id', ['public.orders', 'public.users']],
    ['with recent as (select * from sales.orders) select * from recent', ['sales.orders']],
    ['select * from (select 1) x join lateral (select 2) y on true', []],
    ['select * from generate_series(1, 3)', []],
    ["select 'from secret' from items", ['public.items']],
  ])('%s', (sql, tables) => {
    expect(tablesInSql(normaliseSql(sql))).toEqual(tables);
  });
});

describe('uncacheableReason', () => {
  it.each(['select now()', 'select current_date', 'select gen_random_uuid()', 'delete from t', 'select * from t for share', 'insert into t values (1)'])(
    'refuses %s',
    (sql) => expect(uncacheableReason(normaliseSql(sql))).toBeDefined(),
  );
  it.each(['select * from t where note = \'now()\'', 'select nowhere from t', 'values (1)', 'with x as (select 1) select * from x'])('accepts %s', (sql) => {
    expect(uncacheableReason(normaliseSql(sql))).toBeUndefined();
  });
});

describe('entry format v1', () => {
  const meta = { ns: 'default', fp: 'abc', tags: ['t'], at: 1 };
  const rows = [
    { id: 1, at: new Date('2026-11-25T01:02:03.456Z'), blob: Buffer.from([0, 255]), big: 12n, arr: [new Date(0), null], doc: { $d: 'not a date' }, none: null },
    { id: 2, at: null, blob: null, big: null, arr: null, doc: null, none: null },
  ];

  it.each([false, true])('round-trips types (compressed: %s)', (compress) => {
    const value = encodeEntry(meta, rows, { freshUntil: 1234.5, computeMicros: 777, compressAbove: compress ? 0 : 1e9 });
    const decoded = decodeEntry(value);
    expect(decoded.rows).toEqual(rows);
    expect(decoded.meta).toEqual(meta);
    expect(decoded.header).toEqual({ version: 1, deflated: compress, freshUntil: 1234.5, computeMicros: 777 });
  });

  it('refuses another format version', () => {
    const value = encodeEntry(meta, [], { freshUntil: 0, computeMicros: 0, compressAbove: 1e9 });
    value[0] = 9;
    expect(() => decodeHeader(value)).toThrow(OpsError);
  });
});

describe('key layout v1', () => {
  const keys = new CacheKeys('p:');
  it('puts entry and lease in one slot and recognises entry keys', () => {
    const key = keys.entry('users', entryHash('select 1', [1n], 0));
    expect(key).toMatch(/^p:e:users:\{[0-9a-f]{32}\}$/);
    expect(keys.lease(key)).toBe(`${key}:lease`);
    expect(keys.namespaceOf(key)).toBe('users');
    expect(keys.namespaceOf('p:t:x')).toBeUndefined();
    expect(entryHash('select 1', [1], 0)).not.toBe(entryHash('select 1', [1], 1));
    expect(entryHash('select 1', ['1'], 0)).not.toBe(entryHash('select 1', [1], 0));
  });
});
