import { OpsError } from '../core/errors.js';
import { classifyNetworkError } from '../core/net-errors.js';
import { formatDuration } from '../core/parse.js';
import { secrets } from '../core/redact.js';

/**
 * Everything needed to turn a pg failure into an OpsError an operator can act on. No secret
 * is in here: messages name the address, role, database and config key, never a password.
 */
export interface PgErrorContext {
  /** `127.0.0.1:5432` (or the socket directory and port). */
  address: string;
  /** The profile's postgres section, e.g. `profiles.dev.postgres`. */
  configKey: string;
  /** Where the host came from: `profiles.dev.postgres.url` or `….host`. */
  addressKey: string;
  /** Where the database name came from. */
  databaseKey: string;
  user: string;
  database: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

/** The fields PostgreSQL sends with an error (pg's DatabaseError), kept for `--json`. */
export interface PgErrorFields {
  code: string;
  severity?: string;
  detail?: string;
  hint?: string;
  position?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The server's error fields, when `error` came from PostgreSQL (has a SQLSTATE). */
export function pgErrorFields(error: unknown): PgErrorFields | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const source = error as Record<string, unknown>;
  if (typeof source.code !== 'string' || !SQLSTATE.test(source.code) || !('severity' in source)) return undefined;
  const fields: PgErrorFields = { code: source.code };
  for (const key of ['severity', 'detail', 'hint', 'position', 'where', 'schema', 'table', 'column', 'constraint'] as const) {
    const value = source[key];
    if (typeof value === 'string' && value !== '') fields[key] = secrets.redact(value);
  }
  return fields;
}

function safeMessage(error: unknown): string {
  return secrets.redact(error instanceof Error ? error.message : String(error));
}

/**
 * Maps anything pg throws to an OpsError with a stable code: network failures → PG_UNREACHABLE,
 * timeouts → PG_TIMEOUT, 28P01/28000 → PG_AUTH_FAILED, 3D000 → PG_DATABASE_MISSING, other
 * server errors → PG_QUERY_FAILED with the server's code, detail and hint. OpsErrors pass through.
 */
export function mapPgError(error: unknown, context: PgErrorContext): OpsError {
  if (error instanceof OpsError) return error;
  const base = { address: context.address, configKey: context.configKey };
  const network = classifyNetworkError(error);
  if (network !== undefined) {
    if (network.kind === 'timeout') return connectTimeout(context, error);
    if (network.kind === 'tls') {
      return new OpsError('PG_UNREACHABLE', `TLS connection to PostgreSQL at ${context.address} failed: ${network.reason}`, {
        hint: `set ${context.configKey}.ssl.ca to the CA that signed the server certificate, or use ssl.mode require (no verification)`,
        cause: error,
        details: { ...base, cause: network.code },
      });
    }
    return new OpsError('PG_UNREACHABLE', `cannot connect to PostgreSQL at ${context.address}: ${network.reason}`, {
      hint: network.code === 'ENOTFOUND' || network.code === 'EAI_AGAIN'
        ? `check the host name in ${context.addressKey} and DNS`
        : `is the server running? the address comes from ${context.addressKey}`,
      cause: error,
      details: { ...base, cause: network.code },
    });
  }

  const fields = pgErrorFields(error);
  const message = safeMessage(error);
  if (fields === undefined) return clientSide(error, message, context);

  const server = { ...base, ...fields };
  switch (fields.code) {
    case '28P01':
      return new OpsError('PG_AUTH_FAILED', `authentication failed for role "${context.user}" at ${context.address}`, {
        hint: `check ${context.configKey}.password and .user (prefer "\${env:PGPASSWORD}" to a value in the file)`,
        cause: error,
        details: server,
      });
    case '28000':
      // pg_hba.conf has no line for us, or the role does not exist: the server's text says which.
      return new OpsError('PG_AUTH_FAILED', `PostgreSQL at ${context.address} refused role "${context.user}": ${message}`, {
        hint: /pg_hba/.test(message)
          ? `allow this client in the server's pg_hba.conf, or use the ssl mode it requires (${context.configKey}.ssl.mode)`
          : `check ${context.configKey}.user, or create the role on the server`,
        cause: error,
        details: server,
      });
    case '3D000':
      return new OpsError('PG_DATABASE_MISSING', `database "${context.database}" does not exist at ${context.address}`, {
        hint: `create it (createdb ${context.database}) or fix ${context.databaseKey}`,
        cause: error,
        details: server,
      });
    case '57014':
      if (/statement timeout/.test(message)) {
        return new OpsError('PG_TIMEOUT', `PostgreSQL cancelled a statement after ${formatDuration(context.statementTimeoutMs)} (statement_timeout)`, {
          hint: `raise ${context.configKey}.statementTimeout if this statement is expected to be slow`,
          cause: error,
          details: server,
        });
      }
      break;
    case '53300':
    case '57P01':
    case '57P02':
    case '57P03':
      // Too many connections, shutting down, starting up: the server exists but takes nobody.
      return new OpsError('PG_UNREACHABLE', `PostgreSQL at ${context.address} does not accept connections: ${message}`, {
        hint: fields.hint ?? 'wait for the server to finish starting (or stopping), or free connections, then retry',
        cause: error,
        details: server,
      });
    default:
      if (fields.code.startsWith('08')) {
        return new OpsError('PG_UNREACHABLE', `connection to PostgreSQL at ${context.address} failed: ${message}`, {
          hint: `is the server healthy? the address comes from ${context.addressKey}`,
          cause: error,
          details: server,
        });
      }
  }
  const hint = fields.hint ?? fields.detail;
  return new OpsError('PG_QUERY_FAILED', `PostgreSQL error ${fields.code}: ${message}`, {
    ...(hint === undefined ? {} : { hint }),
    cause: error,
    details: server,
  });
}

function connectTimeout(context: PgErrorContext, cause: unknown): OpsError {
  return new OpsError('PG_TIMEOUT', `PostgreSQL at ${context.address} did not answer within ${formatDuration(context.connectTimeoutMs)}`, {
    hint: `is the server overloaded, or a firewall dropping packets? the limit is ${context.configKey}.connectTimeout`,
    cause,
    details: { address: context.address, configKey: context.configKey, cause: 'connect timeout' },
  });
}

/** Errors raised by pg itself, before or without a server answer. */
function clientSide(error: unknown, message: string, context: PgErrorContext): OpsError {
  const base = { address: context.address, configKey: context.configKey };
  if (/timeout expired|connection timeout|timeout exceeded when trying to connect/i.test(message)) return connectTimeout(context, error);
  if (/password must be a string/i.test(message)) {
    return new OpsError('PG_AUTH_FAILED', `authentication failed for role "${context.user}" at ${context.address}: the server requires a password`, {
      hint: `set ${context.configKey}.password (prefer "\${env:PGPASSWORD}" to a value in the file)`,
      cause: error,
      details: { ...base, cause: 'no password' },
    });
  }
  if (/does not support SSL/.test(message)) {
    return new OpsError('PG_UNREACHABLE', `PostgreSQL at ${context.address} does not support SSL connections`, {
      hint: `set ${context.configKey}.ssl.mode to disable, or enable ssl on the server`,
      cause: error,
      details: { ...base, cause: 'no ssl' },
    });
  }
  if (/^Connection terminated/.test(message)) {
    return new OpsError('PG_UNREACHABLE', `PostgreSQL at ${context.address} closed the connection unexpectedly`, {
      hint: 'the server may be restarting or have crashed: check its log',
      cause: error,
      details: { ...base, cause: 'connection terminated' },
    });
  }
  return new OpsError('PG_QUERY_FAILED', `PostgreSQL client error: ${message}`, {
    cause: error,
    details: { ...base },
  });
}
