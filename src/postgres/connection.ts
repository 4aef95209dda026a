import type { ConnectionOptions } from 'node:tls';
import { Client, Pool, type PoolConfig } from 'pg';
import { OpsError } from '../core/errors.js';
import { formatHostPort } from '../core/net-errors.js';
import { REDACTED, redactUrlCredentials, secrets } from '../core/redact.js';
import { silentTracer, type Tracer } from '../core/trace.js';
import type { PostgresConfig } from '../config/schema.js';
import { mapPgError, type PgErrorContext } from './errors.js';
import { configDuration, parseServerUrl, readConfigFile } from '../config/values.js';

export interface CreatePgPoolOptions {
  /** Where the settings live in the config, e.g. `profiles.dev.postgres`; named in error hints. */
  configKey: string;
  /** `--debug`: every statement with its duration (parameters counted, never printed). */
  tracer?: Tracer;
}

type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

/** A profile's postgres section resolved to one set of connection fields. */
export interface PgTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  password: string | undefined;
  sslMode: SslMode;
  /** The key the host came from (url or host), for hints. */
  addressKey: string;
  /** The key the database name came from. */
  databaseKey: string;
}

const DEFAULT_PORT = 5432;
const DEFAULT_USER = 'postgres';
const SSL_MODES: readonly string[] = ['disable', 'require', 'verify-ca', 'verify-full'];

/** Each pool's error context, for pgError(). */
const contexts = new WeakMap<Pool, PgErrorContext>();

/**
 * Builds a pg Pool from a profile's postgres section (url or fields; fields win over URL parts;
 * the role defaults to `postgres` and the database to the role), with TLS (libpq-style
 * sslmode), pool size and idle timeout, a connect timeout, a server-side `statement_timeout` and
 * `application_name: opsctl`. It runs `select 1` before returning, so an unreachable server,
 * a refused password or a missing database fails here as an OpsError naming the address and the
 * config key. Idle-connection errors (a server restart) never crash the process.
 */
export async function createPgPool(config: PostgresConfig, options: CreatePgPoolOptions): Promise<Pool> {
  const tracer = options.tracer ?? silentTracer;
  const { configKey } = options;
  const target = resolvePgTarget(config, configKey);
  secrets.add(target.password);
  const connectTimeoutMs = configDuration(config.connectTimeout, `${configKey}.connectTimeout`);
  const statementTimeoutMs = configDuration(config.statementTimeout, `${configKey}.statementTimeout`);
  const context: PgErrorContext = {
    address: formatHostPort(target.host, target.port),
    configKey,
    addressKey: target.addressKey,
    databaseKey: target.databaseKey,
    user: target.user,
    database: target.database,
    connectTimeoutMs,
    statementTimeoutMs,
  };

  const poolConfig: PoolConfig = {
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database,
    password: target.password,
    ssl: await sslOptions(config, target.sslMode, configKey),
    max: config.pool.max,
    idleTimeoutMillis: configDuration(config.pool.idleTimeout, `${configKey}.pool.idleTimeout`),
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    application_name: 'opsctl',
    // Long backups and restores hold a connection for minutes: notice a dead peer.
    keepAlive: true,
    ...(tracer.enabled ? { Client: tracedClientClass(tracer, describePgTarget(config)) } : {}),
  };
  const pool = new Pool(poolConfig);
  contexts.set(pool, context);
  // An idle client whose server went away emits here; without a listener Node would crash.
  // The next query gets a fresh connection (or a mapped error).
  pool.on('error', (error) => {
    if (tracer.enabled) tracer.record('sql', `idle connection error: ${secrets.redact(error.message)}`);
  });

  try {
    await pool.query('select 1');
    return pool;
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw mapPgError(error, context);
  }
}

/**
 * Maps an error from a pool made by createPgPool (or one of its clients) to an OpsError naming
 * the server and config key, with PostgreSQL's code, detail and hint kept.
 */
export function pgError(pool: Pool, error: unknown): OpsError {
  const context = contexts.get(pool) ?? {
    address: formatHostPort(pool.options.host ?? 'localhost', pool.options.port ?? DEFAULT_PORT),
    configKey: 'postgres',
    addressKey: 'postgres.host',
    databaseKey: 'postgres.database',
    user: pool.options.user ?? DEFAULT_USER,
    database: pool.options.database ?? pool.options.user ?? DEFAULT_USER,
    connectTimeoutMs: pool.options.connectionTimeoutMillis ?? 0,
    statementTimeoutMs: typeof pool.options.statement_timeout === 'number' ? pool.options.statement_timeout : 0,
  };
  return mapPgError(error, context);
}

/** `postgres@127.0.0.1:5432/postgres`: role, address and database, never the password. */
export function describePgTarget(config: PostgresConfig): string {
  try {
    const target = resolvePgTarget(config, 'postgres');
    return `${target.user}@${formatHostPort(target.host, target.port)}/${target.database}`;
  } catch {
    return redactUrlCredentials(config.url ?? config.host ?? '(no address)');
  }
}

/**
 * Reads the URL (`postgres://user:pass@host:port/db?sslmode=…&host=/socket/dir`) and the
 * separate fields into one target; fields win over URL parts.
 */
export function resolvePgTarget(config: PostgresConfig, configKey: string): PgTarget {
  let host: string | undefined;
  let port: number | undefined;
  let user: string | undefined;
  let password: string | undefined;
  let database: string | undefined;
  let sslMode: string | undefined;
  if (config.url !== undefined) {
    const url = parseServerUrl(config.url, ['postgres:', 'postgresql:']);
    if (url === undefined) throw invalidUrl(config.url, configKey);
    host = url.params.get('host') ?? url.host;
    port = url.port;
    user = url.username;
    password = url.password;
    database = url.path === '' ? undefined : url.path;
    sslMode = url.params.get('sslmode') ?? undefined;
  }
  const mode = config.ssl?.mode ?? sslMode ?? 'disable';
  if (!SSL_MODES.includes(mode)) {
    throw new OpsError('CONFIG_INVALID', `${configKey}.url has sslmode=${mode}, which opsctl does not support`, {
      hint: `use one of ${SSL_MODES.join(', ')} (set ${configKey}.ssl.mode)`,
    });
  }
  const resolvedUser = config.user ?? user ?? DEFAULT_USER;
  const fromUrl = (field: unknown) => config.url !== undefined && field === undefined;
  return {
    host: config.host ?? host ?? 'localhost',
    port: config.port ?? port ?? DEFAULT_PORT,
    user: resolvedUser,
    database: config.database ?? database ?? resolvedUser,
    password: config.password ?? password,
    sslMode: mode as SslMode,
    addressKey: fromUrl(config.host) ? `${configKey}.url` : `${configKey}.host`,
    databaseKey: fromUrl(config.database) && database !== undefined ? `${configKey}.url` : `${configKey}.database`,
  };
}

function invalidUrl(url: string, configKey: string): OpsError {
  return new OpsError('CONFIG_INVALID', `${configKey}.url is not a postgres:// URL: ${redactUrlCredentials(url)}`, {
    hint: 'write it like postgres://user@host:5432/dbname (password in the password field)',
  });
}



/**
 * libpq's sslmode in node's terms: `require` encrypts without verifying (unless a CA is given,
 * then it verifies the chain as libpq does), `verify-ca` checks the chain but not the host
 * name, `verify-full` checks both.
 */
async function sslOptions(config: PostgresConfig, mode: SslMode, configKey: string): Promise<false | ConnectionOptions> {
  if (mode === 'disable') return false;
  const section = config.ssl;
  const tls: ConnectionOptions = {};
  if (section?.ca !== undefined) tls.ca = await readConfigFile(section.ca, `${configKey}.ssl.ca`);
  if (section?.cert !== undefined) tls.cert = await readConfigFile(section.cert, `${configKey}.ssl.cert`);
  if (section?.key !== undefined) tls.key = await readConfigFile(section.key, `${configKey}.ssl.key`);
  if (mode === 'require' && tls.ca === undefined) return { ...tls, rejectUnauthorized: false };
  if (mode === 'verify-full') return { ...tls, rejectUnauthorized: true };
  return { ...tls, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

// ---- tracing ------------------------------------------------------------------------------

const MAX_SQL = 240;

/**
 * One trace line for a statement: whitespace collapsed, password literals (`PASSWORD '…'`)
 * hidden, long text clipped, and only the number of parameters: their values may be secrets
 * or personal data.
 */
export function describeSql(text: string, parameterCount: number): string {
  const flat = text.replace(/\s+/g, ' ').trim().replace(/(\bPASSWORD\s+)'(?:[^']|'')*'/gi, `$1'${REDACTED}'`);
  const clipped = flat.length > MAX_SQL ? `${flat.slice(0, MAX_SQL)}…` : flat;
  return parameterCount > 0 ? `${clipped}  [${parameterCount} param${parameterCount === 1 ? '' : 's'}]` : clipped;
}

function statementOf(args: unknown[]): { text: string; count: number } {
  const [first, second] = args;
  if (typeof first === 'string') return { text: first, count: Array.isArray(second) ? second.length : 0 };
  if (first !== null && typeof first === 'object') {
    const config = first as { text?: unknown; values?: unknown };
    const values = Array.isArray(second) ? second : config.values;
    return {
      text: typeof config.text === 'string' ? config.text : '(prepared query)',
      count: Array.isArray(values) ? values.length : 0,
    };
  }
  return { text: String(first), count: 0 };
}

/**
 * A pg Client that records every statement (and connection set-up) with its duration. pg's
 * Pool calls query() with a callback; people call it for a promise; cursors pass a submittable:
 * all three are timed until they finish.
 */
function tracedClientClass(tracer: Tracer, target: string): typeof Client {
  return class TracedClient extends Client {
    override connect(): Promise<Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: Client) => void)): void;
    override connect(callback?: ((err: Error) => void) | ((err: null, c: Client) => void)): Promise<Client> | void {
      const started = performance.now();
      const done = (error?: unknown) =>
        tracer.record('sql', `connect ${target}${error ? ' (failed)' : ''}`, performance.now() - started);
      if (callback !== undefined) {
        const forward = callback as (err: Error | null, c?: Client) => void;
        super.connect((error: Error | null) => {
          done(error ?? undefined);
          forward(error, this);
        });
        return;
      }
      const promise = super.connect();
      promise.then(() => done(), (error: unknown) => done(error));
      return promise;
    }

    // pg's query() has many overloads; this forwards every one of them unchanged.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    override query(...args: any[]): any {
      const { text, count } = statementOf(args);
      const started = performance.now();
      const done = () => tracer.record('sql', describeSql(text, count), performance.now() - started);
      const last = args.at(-1);
      if (typeof last === 'function') {
        args[args.length - 1] = (error: unknown, result: unknown) => {
          done();
          (last as (error: unknown, result: unknown) => void)(error, result);
        };
        return super.query(...(args as Parameters<Client['query']>));
      }
      const result: unknown = super.query(...(args as Parameters<Client['query']>));
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(done, done);
      } else if (result !== null && typeof result === 'object' && typeof (result as { once?: unknown }).once === 'function') {
        const emitter = result as { once(event: string, listener: () => void): void };
        emitter.once('end', done);
        emitter.once('error', done);
      } else {
        done();
      }
      return result;
    }
  };
}

/**
 * The libpq environment for pg_dump and friends from a profile's postgres section: the password
 * travels in PGPASSWORD (never on a command line), TLS settings in PGSSL*.
 */
export function pgToolEnv(config: PostgresConfig, configKey: string, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const target = resolvePgTarget(config, configKey);
  const env: NodeJS.ProcessEnv = {
    PATH: base.PATH,
    HOME: base.HOME,
    LC_ALL: 'C',
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGUSER: target.user,
    PGDATABASE: target.database,
    PGSSLMODE: target.sslMode,
    PGAPPNAME: 'opsctl-backup',
  };
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  if (config.ssl?.ca !== undefined) env.PGSSLROOTCERT = config.ssl.ca;
  if (config.ssl?.cert !== undefined) env.PGSSLCERT = config.ssl.cert;
  if (config.ssl?.key !== undefined) env.PGSSLKEY = config.ssl.key;
  return env;
}
