import { isPair, isScalar, parseDocument, visit } from 'yaml';
import { REDACTED, isSecretKey, secrets } from '../core/redact.js';
import { hasEnvReference } from './interpolate.js';
import { isPlainObject } from './paths.js';
import type { PostgresConfig, RedisConfig } from './schema.js';
import type { ConfigFormat } from './source.js';

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]*):([^@/\s]+)@/gi;

/**
 * Hides literal passwords in `scheme://user:password@` URLs; a `${env:NAME}` in the password
 * position is kept, since the name is not the secret and tells the reader where it comes from.
 */
export function redactUrl(text: string): string {
  return redactRegistered(
    text.replace(URL_CREDENTIALS, (whole, scheme: string, user: string, password: string) =>
      hasEnvReference(password) ? whole : `${scheme}${user}:${REDACTED}@`,
    ),
  );
}

/**
 * Hides every registered secret. The registry also hides URL passwords, `${env:NAME}` included,
 * so it runs on the text between the references only.
 */
function redactRegistered(text: string): string {
  return text
    .split(/(\$\{env:[^}]*\})/)
    .map((piece, i) => (i % 2 === 1 ? piece : secrets.redact(piece)))
    .join('');
}

/** Deep copy with secrets hidden: secret-named keys, URL passwords, every registered secret. */
export function redactConfigValue<T>(value: T): T {
  const visitValue = (node: unknown, key: string | undefined): unknown => {
    if (typeof node === 'string') {
      if (key !== undefined && isSecretKey(key) && node !== '' && !hasEnvReference(node)) return REDACTED;
      return redactUrl(node);
    }
    if (Array.isArray(node)) return node.map((item) => visitValue(item, key));
    if (isPlainObject(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, visitValue(v, k)]));
    return node;
  };
  return visitValue(value, undefined) as T;
}

/**
 * A configuration file's text with its secrets hidden, for `config show` and `config diff`.
 * YAML keeps its comments and layout; JSON is re-printed. Text that does not parse is redacted
 * line by line, so a broken file in the history can still be shown safely.
 */
export function redactConfigText(text: string, format: ConfigFormat): string {
  try {
    if (format === 'yaml') {
      const doc = parseDocument(text);
      if (doc.errors.length > 0) return redactLines(text);
      visit(doc, {
        Pair(_, pair) {
          if (!isPair(pair) || !isScalar(pair.key) || !isScalar(pair.value)) return;
          const key = String(pair.key.value);
          const value = pair.value.value;
          if (typeof value !== 'string' && typeof value !== 'number') return;
          if (isSecretKey(key) && String(value) !== '' && !hasEnvReference(String(value))) {
            pair.value.value = REDACTED;
            pair.value.type = 'PLAIN';
          }
        },
        Scalar(_, node) {
          if (typeof node.value === 'string') node.value = redactUrl(node.value);
        },
      });
      return redactRegistered(doc.toString());
    }
    if (format === 'json' || format === 'package.json') {
      return redactRegistered(`${JSON.stringify(redactConfigValue(JSON.parse(text) as unknown), null, 2)}\n`);
    }
  } catch {
    return redactLines(text);
  }
  return redactLines(text);
}

const KEY_VALUE_LINE = /^(\s*-?\s*["']?)([A-Za-z0-9_-]+)(["']?\s*[:=]\s*)(.*?)(,?\s*)$/;

function redactLines(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const match = KEY_VALUE_LINE.exec(line);
      if (match && isSecretKey(match[2]!) && match[4] !== '' && !hasEnvReference(match[4]!)) {
        return `${match[1]}${match[2]}${match[3]}${REDACTED}${match[5]}`;
      }
      return redactUrl(line);
    })
    .join('\n');
}

/** One line naming where a profile's Redis is, for listings (credentials hidden). */
export function describeRedisTarget(redis: RedisConfig | undefined): string {
  if (redis === undefined) return '';
  const nodes = (list: readonly { host: string; port: number }[]) => list.map((node) => `${node.host}:${node.port}`).join(',');
  if (redis.mode === 'sentinel') return redis.sentinel ? `sentinel ${redis.sentinel.name}@${nodes(redis.sentinel.nodes)}` : 'sentinel';
  if (redis.mode === 'cluster') return redis.cluster ? `cluster ${nodes(redis.cluster.nodes)}` : 'cluster';
  if (redis.url !== undefined) return redactUrl(redis.url);
  return `${redis.host ?? 'localhost'}:${redis.port ?? 6379}${redis.db === undefined ? '' : `/${redis.db}`}`;
}

/** One line naming where a profile's PostgreSQL is, for listings (credentials hidden). */
export function describePostgresTarget(pg: PostgresConfig | undefined): string {
  if (pg === undefined) return '';
  if (pg.url !== undefined) return redactUrl(pg.url);
  return `${pg.user === undefined ? '' : `${pg.user}@`}${pg.host ?? 'localhost'}:${pg.port ?? 5432}/${pg.database ?? ''}`;
}
