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

/** The tables a read statement reads, or why they could not be told. */
export type TablesInSql = { tables: string[]; problem?: undefined } | { tables?: undefined; problem: string };

interface Token {
  kind: 'word' | 'identifier' | 'literal' | 'parameter' | 'number' | 'symbol';
  /** Words lower-cased (as normalised), identifiers without their quotes. */
  text: string;
}

const WORD = /[\p{L}_][\p{L}\p{N}_$]*/uy;
const NUMBER = /(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?/y;
const PARAMETER = /\$\d+/y;
const DOLLAR_QUOTE = /\$(?:[\p{L}_][\p{L}\p{N}_]*)?\$/uy;

function sticky(pattern: RegExp, text: string, index: number): string | undefined {
  pattern.lastIndex = index;
  return pattern.exec(text)?.[0];
}

/** Tokens of normalised SQL, or what prevents reading them. */
function tokenize(sql: string): Token[] | string {
  const tokens: Token[] = [];
  let index = 0;
  while (index < sql.length) {
    const char = sql[index]!;
    if (/\s/.test(char)) {
      index += 1;
      continue;
    }
    if (char === "'") {
      // E'…' strings escape with a backslash, all others by doubling the quote.
      const backslashes = sql[index - 1] === 'e' && !/[\p{L}\p{N}_$]/u.test(sql[index - 2] ?? ' ');
      let end = index + 1;
      for (;;) {
        if (end >= sql.length) return 'a quoted literal is not closed';
        if (backslashes && sql[end] === '\\') end += 2;
        else if (sql[end] === "'" && sql[end + 1] === "'") end += 2;
        else if (sql[end] === "'") break;
        else end += 1;
      }
      tokens.push({ kind: 'literal', text: sql.slice(index, end + 1) });
      index = end + 1;
      continue;
    }
    if (char === '"') {
      if (sql.endsWith('u&', index)) return 'Unicode-escaped identifiers (U&"…") are not read';
      let end = index + 1;
      while (end < sql.length && !(sql[end] === '"' && sql[end + 1] !== '"')) end += sql[end] === '"' ? 2 : 1;
      if (end >= sql.length) return 'a quoted identifier is not closed';
      tokens.push({ kind: 'identifier', text: sql.slice(index + 1, end).replaceAll('""', '"') });
      index = end + 1;
      continue;
    }
    const dollar = char === '$' ? sticky(DOLLAR_QUOTE, sql, index) : undefined;
    if (dollar !== undefined) {
      const end = sql.indexOf(dollar, index + dollar.length);
      if (end === -1) return 'a dollar-quoted literal is not closed';
      tokens.push({ kind: 'literal', text: sql.slice(index, end + dollar.length) });
      index = end + dollar.length;
      continue;
    }
    const word = sticky(WORD, sql, index);
    const parameter = word === undefined ? sticky(PARAMETER, sql, index) : undefined;
    const number = word === undefined && parameter === undefined ? sticky(NUMBER, sql, index) : undefined;
    const token: Token =
      word !== undefined ? { kind: 'word', text: word } : parameter !== undefined ? { kind: 'parameter', text: parameter } : number !== undefined ? { kind: 'number', text: number } : { kind: 'symbol', text: char };
    tokens.push(token);
    index += token.text.length;
  }
  return tokens;
}

/** Words that end a FROM list (or follow a FROM item) at the same level. */
const CLAUSE_END = new Set(['where', 'group', 'having', 'window', 'order', 'limit', 'offset', 'fetch', 'for', 'union', 'intersect', 'except', 'returning', 'into', ';']);
/** Words that cannot name a table where a FROM item is expected. */
const NOT_A_TABLE = new Set(['select', 'where', 'group', 'having', 'order', 'limit', 'offset', 'union', 'intersect', 'except', 'on', 'using', 'join', 'as', 'from', 'values', 'with']);
const QUERY_START = new Set(['select', 'with', 'values', 'table']);

/**
 * Where the scan is in one parenthesised level: `other` (select list, conditions…), `item` (a FROM
 * item is expected: after FROM, JOIN or a comma of a FROM list), `after` (after a FROM item:
 * aliases, join conditions, commas), `with` (inside a WITH list, `step` says where).
 */
interface Level {
  /** A query (the statement, a subquery, a join in parentheses), not an expression. */
  query: boolean;
  mode: 'other' | 'item' | 'after' | 'with';
  step?: 'name' | 'columns' | 'body' | 'next';
  tokens: number;
  /** CTE names visible in this query and those nested in it. */
  ctes: Set<string>;
  cte?: string;
  recursive?: boolean;
  /** This level is the body of that CTE: the name becomes visible when it closes. */
  bodyOf?: string;
  /** The parent's mode (and WITH step) to resume when this level closes. */
  resume?: { mode: Level['mode']; step?: Level['step'] };
}

/**
 * The tables a read statement reads, schema-qualified (`public.orders` when no schema is
 * written): every FROM and JOIN item, comma joins included, at every level (subqueries, CTE
 * bodies, set operations), without CTE names and set-returning functions. A scanner of the FROM
 * grammar, not a full parser: when it meets something it does not understand where a table is
 * expected, it says so (`problem`) rather than return a shorter list.
 */
export function tablesInSql(normalised: string): TablesInSql {
  const tokens = tokenize(normalised);
  if (typeof tokens === 'string') return { problem: tokens };
  const tables = new Set<string>();
  const levels: Level[] = [{ query: true, mode: 'other', tokens: 0, ctes: new Set() }];
  const word = (index: number): string | undefined => (tokens[index]?.kind === 'word' ? tokens[index].text : undefined);
  const isName = (token: Token | undefined): boolean => token !== undefined && (token.kind === 'identifier' || (token.kind === 'word' && !NOT_A_TABLE.has(token.text)));
  const isCte = (name: string): boolean => levels.some((level) => level.ctes.has(name));
  /** FROM in `a is [not] distinct from b` is an operator, not a clause. */
  const distinctFrom = (index: number): boolean => word(index - 1) === 'distinct' && (word(index - 2) === 'is' || (word(index - 2) === 'not' && word(index - 3) === 'is'));

  for (let index = 0; index < tokens.length; index += 1) {
    const token = tokens[index]!;
    const level = levels.at(-1)!;
    const text = token.kind === 'word' || token.kind === 'symbol' ? token.text : '';
    level.tokens += 1;
    if (text === '(') {
      const opensQuery = QUERY_START.has(word(index + 1) ?? '');
      const child: Level = { query: opensQuery, mode: 'other', tokens: 0, ctes: new Set(), resume: { mode: level.mode, step: level.step } };
      if (level.mode === 'item') {
        // A subquery, or a join in parentheses: its items are FROM items of this level.
        child.query = true;
        child.mode = opensQuery ? 'other' : 'item';
        child.resume = { mode: 'after' };
      } else if (level.mode === 'with' && level.step === 'body') {
        child.bodyOf = level.cte;
        child.resume = { mode: 'with', step: 'next' };
      } else if (level.mode === 'with' && level.step === 'columns') {
        child.resume = { mode: 'with', step: 'body' };
      }
      levels.push(child);
      continue;
    }
    if (text === ')') {
      if (levels.length === 1) return { problem: 'a parenthesis is closed that was not opened' };
      if (level.mode === 'item') return { problem: 'a FROM item is missing before ")"' };
      levels.pop();
      const parent = levels.at(-1)!;
      if (level.bodyOf !== undefined) parent.ctes.add(level.bodyOf);
      parent.mode = level.resume!.mode;
      parent.step = level.resume!.step;
      continue;
    }
    if (!level.query) continue;
    if (level.mode === 'with') {
      if (level.step === 'name') {
        if (text === 'recursive') level.recursive = true;
        else if (token.kind === 'word' || token.kind === 'identifier') {
          level.cte = token.text;
          level.step = 'columns';
          if (level.recursive === true) level.ctes.add(token.text);
        } else return { problem: `a WITH list has "${token.text}" where a name is expected` };
      } else if (level.step === 'columns' && text === 'as') level.step = 'body';
      else if (level.step === 'next' && text === ',') level.step = 'name';
      // The statement after the list: TABLE names a table, SELECT and VALUES scan on.
      else if (level.step === 'next' && QUERY_START.has(text)) level.mode = text === 'table' ? 'item' : 'other';
      // Otherwise: `not materialized`, SEARCH/CYCLE clauses.
      continue;
    }
    if (level.mode === 'item') {
      if (text === 'only' || text === 'lateral') continue;
      if (text === 'rows' && word(index + 1) === 'from') {
        index += 1;
        continue;
      }
      if (!isName(token)) return { problem: `"${token.text}" stands where a table name is expected` };
      const parts = [token.text];
      while (tokens[index + 1]?.text === '.' && isName(tokens[index + 2])) {
        parts.push(tokens[index + 2]!.text);
        index += 2;
      }
      level.mode = 'after';
      if (tokens[index + 1]?.text === '(') continue; // a function: no table
      if (parts.length === 1 && isCte(parts[0]!)) continue;
      tables.add(parts.length === 1 ? `public.${parts[0]}` : `${parts.at(-2)}.${parts.at(-1)}`);
      continue;
    }
    if (text === 'from' && !distinctFrom(index)) level.mode = 'item';
    else if (text === 'join' || (text === 'table' && level.tokens === 1)) level.mode = 'item';
    else if (text === 'with' && level.tokens === 1) {
      level.mode = 'with';
      level.step = 'name';
    } else if (level.mode === 'after') {
      if (text === ',') level.mode = 'item';
      else if (CLAUSE_END.has(text)) level.mode = 'other';
    }
  }
  if (levels.length > 1) return { problem: 'a parenthesis is not closed' };
  if (levels[0]!.mode === 'item') return { problem: 'the statement ends where a table name is expected' };
  return { tables: [...tables].sort() };
}

/** `orders` → `public.orders`; quotes removed (trigger payloads carry bare names). */
export function qualifyTable(name: string): string {
  const parts = name.split('.').map((part) => part.replace(/^"|"$/g, ''));
  return parts.length === 1 ? `public.${parts[0]}` : `${parts[0]}.${parts[1]}`;
}
