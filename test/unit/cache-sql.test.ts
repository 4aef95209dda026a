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
    // comma joins, with aliases, schemas and quoted identifiers
    ['select * from a, b where a.id = b.id', ['public.a', 'public.b']],
    ['SELECT * FROM a AS x, sales.b y, "Odd Schema"."My ""T""" z WHERE x.id = y.id', ['Odd Schema.My "T"', 'public.a', 'sales.b']],
    ['select * from a x join b y on x.id = y.id, c, d left join e using (id) where true', ['public.a', 'public.b', 'public.c', 'public.d', 'public.e']],
    ['select * from a t(x, y), unnest($1::int[]) u(n), b', ['public.a', 'public.b']],
    ['select * from only a, lateral (select * from b where b.id = a.id) s, c', ['public.a', 'public.b', 'public.c']],
    ['select * from db.sales.orders', ['sales.orders']],
    // subqueries anywhere, set operations, TABLE, parenthesised joins
    ['select (select max(id) from a), x from (select * from b, c) s where exists (select 1 from d) and y in (table e)', ['public.a', 'public.b', 'public.c', 'public.d', 'public.e']],
    ['select id from a union all select id from b, c except (select id from d)', ['public.a', 'public.b', 'public.c', 'public.d']],
    ['table audit.events', ['audit.events']],
    ['select * from (a join b on a.id = b.id) left join (c cross join d) on true', ['public.a', 'public.b', 'public.c', 'public.d']],
    // CTEs: several, with column lists, recursive, materialised, shadowing a table they read
    ['with x(id) as materialized (select id from a), y as (select * from x, b) select * from x, y, c', ['public.a', 'public.b', 'public.c']],
    ['with recursive t as (select 1 as n union all select n + 1 from t, a where n < 5) select * from t', ['public.a']],
    ['with orders as (select * from orders where open) select * from orders', ['public.orders']],
    ['select * from (with a as (select 1) select * from a) s, a', ['public.a']],
    ['with x as (select 1) table x', []],
    // FROM that is not a FROM clause
    ["select extract(year from created_at), substring(name from 2 for 3), trim(both ' ' from note) from items", ['public.items']],
    ['select * from a where a.x is distinct from a.y and a.z is not distinct from 1', ['public.a']],
    ["select e'it\\'s from x' from a", ['public.a']],
    ['select $tag$ from x $tag$ from a', ['public.a']],
    ['select 1', []],
    ['values (1), (2)', []],
    ['select * from rows from (generate_series(1, 2), unnest(array[1])) as t(a, b)', []],
    ['select * from a order by id fetch first 1 rows with ties', ['public.a']],
  ])('%s', (sql, tables) => {
    expect(tablesInSql(normaliseSql(sql))).toEqual({ tables });
  });

  it.each([
    ['select * from', 'ends where a table name is expected'],
    ['select * from a, ', 'ends where a table name is expected'],
    ['select * from $1', '"$1" stands where a table name is expected'],
    ["select * from 'a'", "\"'a'\" stands where a table name is expected"],
    ['select * from (a, )', 'a FROM item is missing before ")"'],
    ['select * from (select 1', 'a parenthesis is not closed'],
    ['select 1) from a', 'a parenthesis is closed that was not opened'],
    ['select * from "a', 'a quoted identifier is not closed'],
    ["select 'a from b", 'a quoted literal is not closed'],
    ['select * from U&"d\\0061t"', 'Unicode-escaped identifiers'],
    ['with 1 as (select 1) select 1', 'a WITH list has "1" where a name is expected'],
  ])('refuses %s rather than guess', (sql, problem) => {
    const found = tablesInSql(normaliseSql(sql));
    expect(found.tables).toBeUndefined();
    expect(found.problem).toContain(problem);
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
