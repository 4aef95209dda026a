import { createHash } from 'node:crypto';

/**
 * SQL text handling for the query cache: one normal form per statement (so spacing and comments
 * do not split the cache), the tables a statement reads, and the statements that must not be
 * cached. A light scanner, not a parser: quoted literals and identifiers are kept verbatim,
 * everything else is compared with whitespace and comments removed.
 */

/** Splits SQL into code and quoted parts; `visit` sees each code run, quoted runs are kept as is. */
function mapCode(sql: string, visit: (code: string) => string): string {
  let out = '';
  let code = '';
  let index = 0;
  while (index < sql.length) {
    const char = sql[index]!;
    const next = sql[index + 1];
    if (char === '-' && next === '-') {
      const end = sql.indexOf('\n', index);
      index = end === -1 ? sql.length : end + 1;
      code += ' ';
      continue;
    }
    if (char === '/' && next === '*') {
      const end = sql.indexOf('*/', index + 2);
      index = end === -1 ? sql.length : end + 2;
      code += ' ';
      continue;
    }
    const dollar = char === '$' ? /^\$[A-Za-z_]*\$/.exec(sql.slice(index)) : null;
    if (char === "'" || char === '"' || dollar !== null) {
      const close = dollar !== null ? dollar[0] : char;
      let end = sql.indexOf(close, index + close.length);
      // '' and "" escape the quote inside a literal or identifier.
      while (dollar === null && end !== -1 && sql[end + 1] === close) end = sql.indexOf(close, end + 2);
      end = end === -1 ? sql.length : end + close.length;
      out += visit(code) + sql.slice(index, end);
      code = '';
      index = end;
      continue;
    }
    code += char;
    index += 1;
  }
  return out + visit(code);
}

/** Whitespace collapsed, comments dropped, code lower-cased, no trailing `;`: one text per statement. */
export function normaliseSql(sql: string): string {
  return mapCode(sql, (code) => code.replace(/\s+/g, ' ').toLowerCase())
    .trim()
    .replace(/\s*;$/, '')
    .trim();
}

/** Code only (literals blanked): what the table and volatility checks look at. */
function codeOnly(normalised: string): string {
  return normalised.replace(/'(?:[^']|'')*'|\$[A-Za-z_]*\$[\s\S]*?\$[A-Za-z_]*\$/g, "''");
}

/** A short stable id of the statement's text (without parameters), for per-query statistics. */
export function fingerprintSql(normalised: string): string {
  return createHash('sha1').update(normalised).digest('hex').slice(0, 16);
}

const VOLATILE_FUNCTIONS = [
  'now',
  'clock_timestamp',
  'statement_timestamp',
  'transaction_timestamp',
  'timeofday',
  'random',
  'setseed',
  'gen_random_uuid',
  'uuid_generate_v1',
  'uuid_generate_v4',
  'nextval',
  'currval',
  'lastval',
  'setval',
  'pg_sleep',
  'txid_current',
  'pg_current_xact_id',
  'pg_advisory_lock',
  'pg_try_advisory_lock',
];
const VOLATILE_KEYWORDS = ['current_timestamp', 'current_date', 'current_time', 'localtime', 'localtimestamp'];
const VOLATILE_CALL = new RegExp(`\\b(${VOLATILE_FUNCTIONS.join('|')})\\s*\\(`);
const VOLATILE_WORD = new RegExp(`\\b(${VOLATILE_KEYWORDS.join('|')})\\b`);
const READ_START = /^(select|with|values|table)\b/;
const WRITES = /\b(insert|update|delete|merge|for update|for share|for no key update|for key share)\b/;

/**
 * Why a statement cannot be cached, or undefined when it can: a volatile function (its result
 * changes on every run), or not a plain read.
 */
export function uncacheableReason(normalised: string): string | undefined {
  const code = codeOnly(normalised);
  if (!READ_START.test(code)) return 'it is not a read (only SELECT, WITH, VALUES and TABLE statements are cached)';
  const call = VOLATILE_CALL.exec(code) ?? VOLATILE_WORD.exec(code);
  if (call !== null) return `it calls ${call[1]}, whose result changes on every run`;
  const write = WRITES.exec(code);
  if (write !== null) return `it writes or locks rows (${write[1]})`;
  return undefined;
}

const TABLE_REFERENCE = /\b(?:from|join)\s+((?:"[^"]+"|[a-z_][\w$]*)(?:\s*\.\s*(?:"[^"]+"|[a-z_][\w$]*))?)/g;
const CTE_NAME = /(?:\bwith(?:\s+recursive)?|,)\s*([a-z_][\w$]*)\s+as\s*(?:not\s+)?(?:materialized\s+)?\(/g;
const NOT_TABLES = new Set(['lateral', 'unnest', 'generate_series', 'only']);

/**
 * The tables a read statement names after FROM and JOIN, schema-qualified (`public.orders` when
 * no schema is written), without CTE names and set-returning functions. Comma joins
 * (`from a, b`) only yield their first table: declare `tables` for those.
 */
export function tablesInSql(normalised: string): string[] {
  const code = codeOnly(normalised);
  const ctes = new Set([...code.matchAll(CTE_NAME)].map((match) => match[1]!));
  const tables = new Set<string>();
  for (const match of code.matchAll(TABLE_REFERENCE)) {
    const after = code.slice(match.index + match[0].length).trimStart();
    if (after.startsWith('(')) continue;
    const name = match[1]!.replace(/\s+/g, '');
    if (ctes.has(name) || NOT_TABLES.has(name)) continue;
    tables.add(qualifyTable(name));
  }
  return [...tables].sort();
}

/** `orders` → `public.orders`; quotes removed (trigger payloads carry bare names). */
export function qualifyTable(name: string): string {
  const parts = name.split('.').map((part) => part.replace(/^"|"$/g, ''));
  return parts.length === 1 ? `public.${parts[0]}` : `${parts[0]}.${parts[1]}`;
}
