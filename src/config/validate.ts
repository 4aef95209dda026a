import type { z } from 'zod';
import { isSecretKey, redactUrlCredentials } from '../core/redact.js';
import { formatKeyPath, getAtPath, type PathSegment } from './paths.js';
import { configSchema, durationSchema, type OpsConfig } from './schema.js';
import type { ConfigSource } from './source.js';

export type ProblemSeverity = 'error' | 'warning';

/**
 * What kind of problem: `syntax` (the file does not parse), `schema` (a value is wrong),
 * `version` (a migration is due or impossible), `env` (a `${env:NAME}` variable is unset),
 * `secret` (a literal secret is written in the file), `profile` (the requested profile is missing).
 */
export type ProblemKind = 'syntax' | 'schema' | 'version' | 'env' | 'secret' | 'profile';

/** One problem in a configuration file, as `config validate` prints it. Never holds a secret. */
export interface ConfigProblem {
  severity: ProblemSeverity;
  kind: ProblemKind;
  file: string;
  line?: number;
  column?: number;
  /** Dotted key path (`profiles.prod.redis.url`); `(root)` for the file as a whole. */
  path: string;
  /** The whole sentence: what was found and what was expected. */
  message: string;
  expected?: string;
  found?: string;
}

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

export interface ValidationResult {
  /** The parsed configuration (defaults applied) when there is no error. */
  config: OpsConfig | undefined;
  problems: ConfigProblem[];
}

/** Validates plain configuration data against the schema and reports every problem at once. */
export function validateConfigData(data: unknown, source: Pick<ConfigSource, 'filepath' | 'locate'>): ValidationResult {
  const result = configSchema.safeParse(data);
  if (result.success) return { config: result.data, problems: [] };
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue, data)).map(({ path, target, ...rest }) => {
    const position = source.locate(path, target);
    return {
      severity: 'error' as const,
      kind: 'schema' as const,
      file: source.filepath,
      ...(position === undefined ? {} : { line: position.line, column: position.column }),
      path: formatKeyPath(path),
      ...rest,
    };
  });
  return { config: undefined, problems: sortProblems(problems) };
}

/** Problems in file order; those without a position last. */
export function sortProblems<P extends ConfigProblem>(problems: P[]): P[] {
  const order = (p: ConfigProblem) => (p.line ?? Number.MAX_SAFE_INTEGER) * 10_000 + (p.column ?? 0);
  return [...problems].sort((a, b) => order(a) - order(b) || a.path.localeCompare(b.path));
}

/** `file:line:col  key.path  message` — the one-line form used in error messages. */
export function formatProblem(problem: ConfigProblem, file: string = problem.file): string {
  const where = problem.line === undefined ? file : `${file}:${problem.line}:${problem.column ?? 1}`;
  return `${where}  ${problem.path}  ${problem.message}`;
}

interface Described {
  path: PathSegment[];
  target: 'key' | 'value';
  message: string;
  expected?: string;
  found?: string;
}

function describeIssue(issue: Issue, data: unknown): Described[] {
  const path = issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
  const lookup = getAtPath(data, path);
  const key = path.at(-1);
  const found = lookup.found ? describeValue(lookup.value, typeof key === 'string' ? key : undefined) : undefined;
  const missing = (expected: string): Described => ({
    path,
    target: 'value',
    message: `required key "${String(key)}" is missing (expected ${expected})`,
    expected,
    found: 'nothing',
  });
  const mismatch = (expected: string, hint = ''): Described => ({
    path,
    target: 'value',
    message: `expected ${expected}, found ${found ?? 'nothing'}${hint}`,
    expected,
    ...(found === undefined ? {} : { found }),
  });

  switch (issue.code) {
    case 'invalid_type':
      if (!lookup.found) return [missing(typeName(issue.expected))];
      return [mismatch(typeName(issue.expected))];
    case 'invalid_value': {
      const values = issue.values.map((value) => JSON.stringify(value));
      const expected = values.length === 1 ? values[0]! : `one of ${values.join(', ')}`;
      if (!lookup.found) return [missing(expected)];
      const suggestion = typeof lookup.value === 'string' ? closest(lookup.value, issue.values.map(String)) : undefined;
      return [mismatch(expected, suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`)];
    }
    case 'too_small':
    case 'too_big':
      return [mismatch(describeBound(issue))];
    case 'unrecognized_keys': {
      const allowed = objectKeysAt(path);
      return issue.keys.map((unknownKey) => {
        const suggestion = closest(unknownKey, allowed);
        const tail =
          suggestion !== undefined
            ? ` (did you mean "${suggestion}"?)`
            : allowed.length > 0 && allowed.length <= 12
              ? ` (allowed here: ${allowed.join(', ')})`
              : '';
        return {
          path: [...path, unknownKey],
          target: 'key' as const,
          message: `unknown key "${unknownKey}"${tail}`,
          expected: allowed.length > 0 ? `one of the keys ${allowed.join(', ')}` : 'no such key',
          found: `key "${unknownKey}"`,
        };
      });
    }
    case 'invalid_union': {
      if (unwrap(schemaAt(path)) === durationSchema) {
        return [mismatch('a duration such as "500ms", "5s", "1m" or a number of milliseconds')];
      }
      const expected = [
        ...new Set(issue.errors.flatMap((branch) => branch.filter((inner) => inner.code === 'invalid_type').map((inner) => typeName(inner.expected)))),
      ];
      if (!lookup.found) return [missing(expected.join(' or ') || 'a value')];
      return [mismatch(expected.join(' or ') || 'a different value')];
    }
    case 'invalid_key': {
      const reason = issue.issues[0]?.message ?? issue.message;
      return [{ path, target: 'key', message: `invalid name "${String(key)}": ${reason}`, found: `key "${String(key)}"` }];
    }
    case 'invalid_format':
      return [mismatch(issue.format === 'regex' && issue.pattern ? `a string matching ${issue.pattern}` : `a valid ${issue.format}`)];
    case 'custom':
      // Messages written in the schema already say what is expected; add what was found.
      if (issue.message.startsWith('expected ') && found !== undefined) {
        return [{ path, target: 'value', message: `${issue.message}, found ${found}`, expected: issue.message.slice(9), found }];
      }
      return [{ path, target: 'value', message: issue.message }];
    default:
      return [{ path, target: 'value', message: issue.message }];
  }
}

function describeBound(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === 'too_small';
  const limit = Number(small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum);
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case 'string':
      if (small && limit === 1) return 'a non-empty string';
      return `a string of ${small ? 'at least' : 'at most'} ${limit} characters`;
    case 'array':
      return `${small ? 'at least' : 'at most'} ${limit} item${limit === 1 ? '' : 's'}`;
    default:
      return `a number ${small ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<'} ${limit}`;
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  null: 'null',
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

/** How a found value is shown: type and value, but never the value of a secret-named key. */
export function describeValue(value: unknown, key: string | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return 'a mapping';
  if (key !== undefined && isSecretKey(key)) return `a ${typeof value}`;
  if (typeof value === 'string') {
    const text = redactUrlCredentials(value);
    return `string ${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)}`;
  }
  return `${typeof value} ${String(value)}`;
}

// ---- schema navigation, for the keys allowed where an unknown one was found ------------------

interface DefLike {
  type: string;
  innerType?: AnySchema;
  in?: AnySchema;
  shape?: Record<string, AnySchema>;
  valueType?: AnySchema;
  element?: AnySchema;
  options?: AnySchema[];
}

function defOf(schema: AnySchema): DefLike {
  return schema._zod.def as unknown as DefLike;
}

/** Strips optional/default/nullable/pipe wrappers down to the schema that checks the value. */
function unwrap(schema: AnySchema | undefined): AnySchema | undefined {
  let current = schema;
  for (let depth = 0; current !== undefined && depth < 20; depth += 1) {
    const def = defOf(current);
    if (def.innerType !== undefined && ['optional', 'default', 'nullable', 'prefault', 'readonly', 'catch', 'nonoptional'].includes(def.type)) {
      current = def.innerType;
    } else if (def.type === 'pipe' && def.in !== undefined) {
      current = def.in;
    } else {
      return current;
    }
  }
  return current;
}

function schemaAt(path: readonly PathSegment[]): AnySchema | undefined {
  let current: AnySchema | undefined = configSchema;
  for (const segment of path) {
    const schema = unwrap(current);
    if (schema === undefined) return undefined;
    const def = defOf(schema);
    if (def.type === 'object') current = def.shape?.[String(segment)];
    else if (def.type === 'record') current = def.valueType;
    else if (def.type === 'array') current = def.element;
    else return undefined;
  }
  return current;
}

function objectKeysAt(path: readonly PathSegment[]): string[] {
  const schema = unwrap(schemaAt(path));
  if (schema === undefined) return [];
  const def = defOf(schema);
  return def.type === 'object' && def.shape !== undefined ? Object.keys(def.shape) : [];
}

// ---- did you mean ----------------------------------------------------------------------------

/** The candidate closest to `word` when it is plausibly a typo of it (case, a letter or two). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const distance = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase());
    const allowed = Math.max(1, Math.floor(candidate.length / 3));
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** Edit distance where swapping two neighbouring letters counts as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j += 1) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i += 1) {
    const row = rows[i]!;
    const above = rows[i - 1]!;
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
    }
  }
  return rows[a.length]![b.length]!;
}
