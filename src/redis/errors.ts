import { OpsError } from '../core/errors.js';
import { classifyNetworkError } from '../core/net-errors.js';
import { formatDuration } from '../core/parse.js';
import { secrets } from '../core/redact.js';

/**
 * Everything needed to turn an ioredis failure into an OpsError an operator can act on. No
 * secret is in here: messages name the address, the user and the config key, never a password.
 */
export interface RedisErrorContext {
  /** `127.0.0.1:6379`, `sentinel mymaster via …`, `cluster …` (see describeRedisTarget). */
  target: string;
  /** The profile's redis section, e.g. `profiles.dev.redis`. */
  configKey: string;
  /** The key the address was read from, e.g. `profiles.dev.redis.url`. */
  addressKey: string;
  /** ACL user (`default` when none is configured). */
  username: string;
  /** Whether a password is configured (to tell "wrong password" from "no password"). */
  hasPassword: boolean;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /**
   * The last connection-level error the client reported (its 'error' events). ioredis replaces
   * the real cause by generic errors ("Connection is closed.", "Reached the max retries per
   * request limit"); this is what the operator needs to see instead.
   */
  lastConnectionError?: unknown;
  /** The node address the last connection error came from (Cluster/Sentinel), when known. */
  lastErrorAddress?: string;
}

// Errors ioredis raises in place of the real cause: the cause is in its 'error' events.
const GENERIC_MESSAGES = [
  /^Reached the max retries per request limit/,
  /^Connection is closed\.?$/,
  /^Stream isn't writeable/,
  /^Cluster isn't ready/,
  /^None of startup nodes is available/,
  /^Failed to refresh slots cache/,
  /^Command aborted due to connection close/,
  /^Cluster is disconnect(ed|ing)/,
];

const SENTINEL_UNREACHABLE = /^All sentinels are unreachable/;

/** The message of any thrown value, with registered secrets and URL passwords removed. */
function safeMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return secrets.redact(text);
}

/** True for ioredis' stand-in errors that carry no cause of their own. */
export function isGenericRedisError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === 'MaxRetriesPerRequestError' || GENERIC_MESSAGES.some((pattern) => pattern.test(error.message));
}

function details(context: RedisErrorContext, cause: string): Record<string, unknown> {
  return { target: context.target, configKey: context.configKey, cause };
}

/** True for the replies that mean "these credentials will never work": retrying is pointless. */
export function isRedisAuthError(error: unknown): boolean {
  return error instanceof Error && /^(WRONGPASS|NOAUTH|NOPERM|ERR invalid (username-)?password)/.test(error.message);
}

/** The OpsError for a connection that saw no answer at all within connectTimeout. */
export function redisConnectTimeout(context: RedisErrorContext): OpsError {
  return new OpsError(
    'REDIS_TIMEOUT',
    `Redis at ${context.target} did not answer within ${formatDuration(context.connectTimeoutMs)}`,
    {
      hint: `is the server overloaded, paused, or behind a firewall that drops packets? the limit is ${context.configKey}.connectTimeout`,
      details: details(context, 'connect timeout'),
    },
  );
}

/**
 * Maps anything ioredis throws (or emits) to an OpsError with a stable code:
 * network failures → REDIS_UNREACHABLE, WRONGPASS/NOAUTH/NOPERM → REDIS_AUTH_FAILED,
 * timeouts → REDIS_TIMEOUT, other replies → REDIS_COMMAND_FAILED. OpsErrors pass through.
 */
export function mapRedisError(error: unknown, context: RedisErrorContext): OpsError {
  if (error instanceof OpsError) return error;
  let real: unknown = error;
  let address = context.target;
  if (isGenericRedisError(error)) {
    const fromCluster = (error as { lastNodeError?: unknown }).lastNodeError;
    real = context.lastConnectionError ?? fromCluster ?? undefined;
    if (context.lastConnectionError !== undefined && context.lastErrorAddress !== undefined) address = context.lastErrorAddress;
    if (real === undefined) {
      return new OpsError('REDIS_UNREACHABLE', `lost the connection to Redis at ${context.target}`, {
        hint: `is the server running? the address comes from ${context.addressKey}`,
        cause: error,
        details: details(context, 'connection closed'),
      });
    }
  }
  return classify(real, context, address, error);
}

function classify(real: unknown, context: RedisErrorContext, address: string, original: unknown): OpsError {
  const cause = real === original ? real : original;
  const network = classifyNetworkError(real);
  if (network !== undefined) {
    if (network.kind === 'timeout') {
      return new OpsError('REDIS_TIMEOUT', `cannot connect to Redis at ${address}: ${network.reason}`, {
        hint: `is a firewall dropping packets, or the server overloaded? the limit is ${context.configKey}.connectTimeout`,
        cause,
        details: details(context, network.code),
      });
    }
    if (network.kind === 'tls') {
      return new OpsError('REDIS_UNREACHABLE', `TLS connection to Redis at ${address} failed: ${network.reason}`, {
        hint: `set ${context.configKey}.tls.ca to the CA that signed the server certificate (and tls.servername if the name differs)`,
        cause,
        details: details(context, network.code),
      });
    }
    return new OpsError('REDIS_UNREACHABLE', `cannot connect to Redis at ${address}: ${network.reason}`, {
      hint: unreachableHint(network.code, context),
      cause,
      details: details(context, network.code),
    });
  }
  const message = safeMessage(real);
  if (SENTINEL_UNREACHABLE.test(message)) return sentinelUnreachable(message, context, cause);
  if (/^Command timed out/.test(message)) {
    return new OpsError('REDIS_TIMEOUT', `Redis at ${address} did not answer within ${formatDuration(context.commandTimeoutMs)}`, {
      hint: `is the server overloaded or paused? the limit is ${context.configKey}.commandTimeout`,
      cause,
      details: details(context, 'command timeout'),
    });
  }
  if (/^(WRONGPASS|ERR invalid (username-)?password)/.test(message)) {
    return new OpsError('REDIS_AUTH_FAILED', `authentication failed for user "${context.username}" at ${address}`, {
      hint: `check ${context.configKey}.password${context.username === 'default' ? '' : ` and ${context.configKey}.username`} (prefer "\${env:REDIS_PASSWORD}" to a value in the file)`,
      cause,
      details: details(context, 'WRONGPASS'),
    });
  }
  if (/^NOAUTH/.test(message)) {
    return new OpsError('REDIS_AUTH_FAILED', `authentication failed for user "${context.username}" at ${address}: the server requires a password`, {
      hint: context.hasPassword
        ? `check ${context.configKey}.password and ${context.configKey}.username`
        : `set ${context.configKey}.password (prefer "\${env:REDIS_PASSWORD}" to a value in the file)`,
      cause,
      details: details(context, 'NOAUTH'),
    });
  }
  if (/^NOPERM/.test(message)) {
    return new OpsError('REDIS_AUTH_FAILED', `user "${context.username}" at ${address} lacks a permission: ${message.replace(/^NOPERM\s*/, '')}`, {
      hint: `grant it with ACL SETUSER on the server, or use another user in ${context.configKey}.username`,
      cause,
      details: details(context, 'NOPERM'),
    });
  }
  if (/^Protocol error/.test(message)) {
    return new OpsError('REDIS_UNREACHABLE', `the server at ${address} does not speak the Redis protocol`, {
      hint: `is ${context.addressKey} the port of another service, or does the server expect TLS (rediss://)?`,
      cause,
      details: details(context, 'protocol'),
    });
  }
  if (/^LOADING/.test(message)) {
    return new OpsError('REDIS_UNREACHABLE', `Redis at ${address} is still loading its dataset into memory`, {
      hint: 'wait until loading completes (INFO persistence shows loading:0), then retry',
      cause,
      details: details(context, 'LOADING'),
    });
  }
  return commandFailed(real, message, context, address, cause);
}

function commandFailed(real: unknown, message: string, context: RedisErrorContext, address: string, cause: unknown): OpsError {
  const command = (real as { command?: { name?: unknown } } | null)?.command?.name;
  const what = typeof command === 'string' ? ` ${command.toUpperCase()}` : '';
  const prefix = /^[A-Z]+/.exec(message)?.[0] ?? 'ERR';
  let hint: string | undefined;
  if (prefix === 'READONLY') hint = `the profile points at a read-only replica: use the master, or mode: sentinel in ${context.configKey}`;
  else if (prefix === 'OOM') hint = 'Redis reached maxmemory and its policy refuses writes: raise maxmemory or choose an evicting maxmemory-policy';
  else if (prefix === 'MISCONF') hint = 'Redis cannot write its snapshot (stop-writes-on-bgsave-error): check its log and free disk space';
  else if (prefix === 'CLUSTERDOWN') hint = 'some hash slots have no master: check CLUSTER INFO on the nodes';
  return new OpsError('REDIS_COMMAND_FAILED', `Redis at ${address} rejected${what}: ${message}`, {
    ...(hint === undefined ? {} : { hint }),
    cause,
    details: details(context, prefix),
  });
}

function unreachableHint(code: string, context: RedisErrorContext): string {
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `check the host name in ${context.addressKey} and DNS`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return `check the network route and firewall to the host in ${context.addressKey}`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `the server closed the connection: does it expect TLS (rediss://)? check ${context.addressKey} and the server log`;
    default:
      return `is the server running? the address comes from ${context.addressKey}`;
  }
}

function sentinelUnreachable(message: string, context: RedisErrorContext, cause: unknown): OpsError {
  const last = /Last error: (.*)$/.exec(message)?.[1];
  const unknownMaster = last === undefined || /No such master/i.test(last);
  const code = last === undefined ? undefined : /\b(E[A-Z_]+)\b/.exec(last)?.[1];
  const network = code === undefined ? undefined : classifyNetworkError({ code });
  let reason: string;
  if (unknownMaster) reason = 'the Sentinels do not know this master name';
  // ioredis replaces the socket error of a Sentinel connection by its generic close message.
  else if (network === undefined && isGenericRedisError(new Error(last))) reason = 'no Sentinel accepted a connection';
  else reason = network?.reason ?? last;
  return new OpsError('REDIS_UNREACHABLE', `cannot reach Redis through ${context.target}: ${reason}`, {
    hint: unknownMaster
      ? `check ${context.configKey}.sentinel.name against SENTINEL MASTERS on the Sentinels`
      : `are the Sentinels running? the addresses come from ${context.configKey}.sentinel.nodes`,
    cause,
    details: details(context, code ?? 'sentinel'),
  });
}
