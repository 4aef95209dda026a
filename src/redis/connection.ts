import { createConnection } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Command, Redis, ReplyError, type ClusterOptions, type RedisOptions } from 'ioredis';
import { OpsError } from '../core/errors.js';
import { formatHostPort } from '../core/net-errors.js';
import { redactUrlCredentials, secrets } from '../core/redact.js';
import { silentTracer, type Tracer } from '../core/trace.js';
import type { RedisConfig } from '../config/schema.js';
import { isGenericRedisError, isRedisAuthError, mapRedisError, redisConnectTimeout, type RedisErrorContext } from './errors.js';
import { describeCommand } from './trace.js';
import { configDuration, parseServerUrl, readConfigFile } from '../config/values.js';

export type RedisClient = Redis | Cluster;

export interface CreateRedisClientOptions {
  /** Where the settings live in the config, e.g. `profiles.dev.redis`; named in error hints. */
  configKey: string;
  /** `--debug`: every command with its duration (credentials redacted). */
  tracer?: Tracer;
  /**
   * Return without connecting; the first command connects. Commands issued before that first
   * connection wait for it (they were never sent, so nothing can be applied twice).
   */
  lazy?: boolean;
  /**
   * A dedicated connection (from the pool): blocking commands (BLPOP, XREAD BLOCK …) are
   * exempt from commandTimeout, which would cut them off, and bounded instead by their own
   * timeout plus a grace period (a timeout of 0, "forever", is cut at commandTimeout).
   */
  dedicated?: boolean;
}

const DEFAULT_PORT = 6379;

/** Each client's error context (target, config keys, last connection error) for redisError(). */
const contexts = new WeakMap<RedisClient, RedisErrorContext>();

/**
 * Builds an ioredis client from a profile's redis section: standalone (url or host/port),
 * Sentinel or Cluster, with TLS, ACL user, timeouts and bounded reconnection. Unless `lazy`,
 * it connects and sends one PING, so an unreachable server or a wrong password fails here as
 * an OpsError (REDIS_UNREACHABLE / REDIS_AUTH_FAILED / REDIS_TIMEOUT) naming the address and
 * the config key. The whole connection phase is bounded by `connectTimeout`.
 *
 * Fields given beside a `url` (username, password, db) override the URL's.
 */
export async function createRedisClient(config: RedisConfig, options: CreateRedisClientOptions): Promise<RedisClient> {
  const tracer = options.tracer ?? silentTracer;
  const lazy = options.lazy === true;
  const plan = await planConnection(config, options.configKey, lazy, options.dedicated === true);
  const client = plan.create();
  const context = plan.context;
  contexts.set(client, context);
  if (options.dedicated === true) exemptBlockingCommands(client);
  if (client instanceof Cluster) markUnsentCommands(client);

  // Always listen: without a listener ioredis prints "[ioredis] Unhandled error event" and the
  // operator sees a stack instead of our message. The last real cause is kept for mapping.
  client.on('error', (error: unknown) => {
    // A generic wrapper (ClusterAllFailedError) must not hide the node error it wraps.
    const real = isGenericRedisError(error) ? (error as { lastNodeError?: unknown }).lastNodeError : error;
    if (real !== undefined && real !== null && !isGenericRedisError(real)) {
      context.lastConnectionError = real;
      context.lastErrorAddress = undefined;
    }
    if (tracer.enabled) tracer.record('redis', `connection error: ${secrets.redact(String((error as Error)?.message ?? error))}`);
  });
  client.on('node error', (error: unknown, address: string) => {
    if (isGenericRedisError(error)) return;
    context.lastConnectionError = error;
    context.lastErrorAddress = address;
  });
  client.on('ready', () => {
    context.lastConnectionError = undefined;
    context.lastErrorAddress = undefined;
    // A lazy client queues commands only until its first connection; from then on a command
    // issued while disconnected fails at once instead of being sent later, unseen.
    if (lazy) client.options.enableOfflineQueue = false;
  });
  if (tracer.enabled) {
    client.on('reconnecting', (delay: number) => tracer.record('redis', `reconnecting to ${context.target} in ${delay}ms`));
    traceCommands(client, tracer);
  }
  if (lazy) return client;

  try {
    const started = performance.now();
    await establish(client, context);
    await client.ping();
    if (tracer.enabled) tracer.record('redis', `connected to ${context.target}`, performance.now() - started);
    return client;
  } catch (error) {
    client.disconnect();
    // Cluster and Sentinel connect through helper connections whose socket errors ioredis
    // drops; asking the seed addresses directly recovers the cause ("connection refused").
    if (lacksRealCause(error, context)) {
      const probe = await probeSeeds(plan.seeds, Math.min(context.connectTimeoutMs, 2000));
      if (probe !== undefined) throw mapRedisError(probe.error, { ...context, target: probe.address });
    }
    throw mapRedisError(error, context);
  }
}

/**
 * Maps an error thrown by a command of a client made by createRedisClient to an OpsError
 * naming the server and config key, with the last real connection error in place of ioredis'
 * generic "Connection is closed." / "Reached the max retries per request limit".
 */
export function redisError(client: RedisClient, error: unknown): OpsError {
  const context = contexts.get(client) ?? fallbackContext(client);
  return mapRedisError(error, context);
}

/** The target without secrets: `127.0.0.1:6379`, `sentinel mymaster via a:26379,b:26379`, `cluster a:7000,b:7001`. */
export function describeRedisTarget(config: RedisConfig): string {
  if (config.mode === 'sentinel' && config.sentinel !== undefined) {
    return `sentinel ${config.sentinel.name} via ${config.sentinel.nodes.map((n) => formatHostPort(n.host, n.port)).join(',')}`;
  }
  if (config.mode === 'cluster' && config.cluster !== undefined) {
    return `cluster ${config.cluster.nodes.map((n) => formatHostPort(n.host, n.port)).join(',')}`;
  }
  try {
    const address = standaloneAddress(config, 'redis');
    return formatHostPort(address.host, address.port);
  } catch {
    return redactUrlCredentials(config.url ?? config.host ?? '(no address)');
  }
}

/**
 * Reconnection delay for attempt `n` (1-based): baseDelay doubled each attempt, capped at
 * maxDelay; `null` (give up) after maxAttempts. Deterministic on purpose: the CLI holds one
 * connection, so there is no herd to spread out.
 */
export function backoffDelay(attempt: number, policy: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number }): number | null {
  if (attempt > policy.maxAttempts) return null;
  return Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
}

/**
 * ioredis Cluster's retry settings, chosen for failovers (see docs/redis-failover.md):
 * - CLUSTERDOWN / TRYAGAIN (the command was refused, not executed) are retried every 100 ms for
 *   up to failoverTimeout, which must outlast cluster-node-timeout plus the replica election;
 *   the ioredis default (16 redirections × 100 ms = 1.6 s) gives up long before a real
 *   cluster (node timeout 15 s) has promoted a replica. MOVED/ASK share the same budget.
 * - A command whose connection closed after it was written is never resent
 *   (retryDelayOnFailover 0): the dead primary may have executed and replicated it.
 */
export function clusterRetryBudget(failoverTimeoutMs: number): Pick<ClusterOptions, 'maxRedirections' | 'retryDelayOnClusterDown' | 'retryDelayOnTryAgain' | 'retryDelayOnMoved' | 'retryDelayOnFailover'> {
  const delay = 100;
  return {
    retryDelayOnClusterDown: delay,
    retryDelayOnTryAgain: delay,
    retryDelayOnMoved: 0,
    retryDelayOnFailover: 0,
    maxRedirections: Math.max(16, Math.ceil(failoverTimeoutMs / delay)),
  };
}

/** A connection to one Sentinel for SUBSCRIBE (+switch-master), made from the profile. */
export async function createSentinelSubscriber(
  config: RedisConfig,
  node: { host: string; port: number },
  options: { configKey: string },
): Promise<Redis> {
  const sentinel = config.sentinel;
  if (sentinel === undefined) throw new OpsError('CONFIG_INVALID', `${options.configKey}.sentinel is missing`, { hint: 'mode: sentinel needs a sentinel section' });
  const tls = await tlsOptions(config, options.configKey, false);
  const maxDelayMs = configDuration(config.retry.maxDelay, `${options.configKey}.retry.maxDelay`);
  const client = new Redis({
    host: node.host,
    port: node.port,
    username: sentinel.username,
    password: sentinel.password,
    connectTimeout: configDuration(config.connectTimeout, `${options.configKey}.connectTimeout`),
    // A watcher must outlive a Sentinel restart: keep trying, at most maxDelay apart.
    retryStrategy: (attempt) => Math.min(100 * attempt, maxDelayMs),
    // SUBSCRIBE is idempotent: queueing and re-subscribing after a reconnect is what we want.
    enableOfflineQueue: true,
    autoResubscribe: true,
    maxRetriesPerRequest: null,
    lazyConnect: true,
    connectionName: 'opsctl-failover-watch',
    ...(tls === undefined ? {} : { tls }),
  });
  return client;
}

/** `host:port` of the server a standalone/Sentinel client is connected to right now. */
export function connectedAddress(client: Redis): string | undefined {
  const stream = client.stream as { remoteAddress?: string; remotePort?: number } | undefined;
  if (client.status !== 'ready' || stream?.remoteAddress === undefined || stream.remotePort === undefined) return undefined;
  return formatHostPort(stream.remoteAddress.replace(/^::ffff:/, ''), stream.remotePort);
}

/**
 * Closes a client now, without reconnecting: also when the server is hung (SIGSTOP) and would
 * never answer a polite close. Commands in flight fail with "Connection is closed."; none is
 * resent. Used to retire a connection to a primary that a failover replaced.
 */
export function closeNow(client: Redis): void {
  const stream = client.stream as { destroy?: () => void } | undefined;
  client.disconnect();
  stream?.destroy?.();
}

// ---- planning -----------------------------------------------------------------------------

interface ConnectionPlan {
  context: RedisErrorContext;
  /** Sentinel or Cluster seed addresses, probed when ioredis hides why they failed. */
  seeds: { host: string; port: number }[];
  create(): RedisClient;
}

interface StandaloneAddress {
  host: string;
  port: number;
  db: number | undefined;
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
  /** The key the host came from (url or host), for hints. */
  addressKey: string;
}


/** Reads the URL (if any) and the separate fields; fields win over URL parts. */
function standaloneAddress(config: RedisConfig, configKey: string): StandaloneAddress {
  let host: string | undefined;
  let port: number | undefined;
  let db: number | undefined;
  let username: string | undefined;
  let password: string | undefined;
  let tls = false;
  if (config.url !== undefined) {
    const url = parseServerUrl(config.url, ['redis:', 'rediss:']);
    if (url === undefined) throw invalidUrl(config.url, configKey);
    tls = url.protocol === 'rediss:';
    host = url.host;
    port = url.port;
    if (url.path !== '') {
      if (!/^\d+$/.test(url.path)) throw invalidUrl(config.url, configKey);
      db = Number(url.path);
    }
    username = url.username;
    password = url.password;
  }
  return {
    host: config.host ?? host ?? 'localhost',
    port: config.port ?? port ?? DEFAULT_PORT,
    db: config.db ?? db,
    username: config.username ?? username,
    password: config.password ?? password,
    tls,
    addressKey: config.url !== undefined && config.host === undefined ? `${configKey}.url` : `${configKey}.host`,
  };
}

function invalidUrl(url: string, configKey: string): OpsError {
  return new OpsError('CONFIG_INVALID', `${configKey}.url is not a redis:// or rediss:// URL: ${redactUrlCredentials(url)}`, {
    hint: 'write it like redis://host:6379/0 or rediss://user@host:6380 (password in the password field)',
  });
}


async function tlsOptions(config: RedisConfig, configKey: string, fromUrl: boolean): Promise<ConnectionOptions | undefined> {
  const section = config.tls;
  // An explicit tls section decides; otherwise rediss:// turns TLS on with default verification.
  if (section === undefined) return fromUrl ? {} : undefined;
  if (!section.enabled) return undefined;
  const tls: ConnectionOptions = { rejectUnauthorized: section.rejectUnauthorized };
  if (section.ca !== undefined) tls.ca = await readConfigFile(section.ca, `${configKey}.tls.ca`);
  if (section.cert !== undefined) tls.cert = await readConfigFile(section.cert, `${configKey}.tls.cert`);
  if (section.key !== undefined) tls.key = await readConfigFile(section.key, `${configKey}.tls.key`);
  if (section.servername !== undefined) tls.servername = section.servername;
  return tls;
}

async function planConnection(config: RedisConfig, configKey: string, lazy: boolean, dedicated: boolean): Promise<ConnectionPlan> {
  const connectTimeoutMs = configDuration(config.connectTimeout, `${configKey}.connectTimeout`);
  const commandTimeoutMs = configDuration(config.commandTimeout, `${configKey}.commandTimeout`);
  const failoverTimeoutMs = configDuration(config.failoverTimeout, `${configKey}.failoverTimeout`);
  const policy = {
    maxAttempts: config.retry.maxAttempts,
    baseDelayMs: configDuration(config.retry.baseDelay, `${configKey}.retry.baseDelay`),
    maxDelayMs: configDuration(config.retry.maxDelay, `${configKey}.retry.maxDelay`),
  };
  const retryStrategy = (attempt: number) => backoffDelay(attempt, policy);
  const target = describeRedisTarget(config);

  const common: RedisOptions = {
    username: config.username,
    password: config.password,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    retryStrategy,
    // A command in flight when the connection drops is failed at once (with the real cause,
    // see redisError) instead of waiting through the reconnection attempts.
    maxRetriesPerRequest: 0,
    // A command issued while disconnected fails immediately rather than waiting in a queue:
    // ioredis would send a queued command after reconnecting even if its caller had already
    // given up on it (commandTimeout), so a write reported as failed could still be applied.
    enableOfflineQueue: lazy,
    // Never resend a command that was written but not answered before the connection dropped:
    // the server may have executed it, and INCR/EVALSHA/LPUSH applied twice silently would
    // corrupt rate-limit counters, queues and audit entries. The caller gets an error instead.
    autoResendUnfulfilledCommands: false,
    // Connect explicitly below so failures surface as errors here, not as events later.
    lazyConnect: true,
    // ioredis keeps a 2 s timer after closing a socket that never connected, which held every
    // command against an unreachable server open for 2 s after it had already failed.
    disconnectTimeout: 100,
    // CLIENT LIST on the server shows who we are.
    connectionName: 'opsctl',
    // A READONLY reply means we still talk to a demoted primary (it was paused or partitioned
    // during a failover): reconnect, which asks the Sentinels again. The refused command was
    // not executed; runWrite/runRead retry it, plain callers get the error.
    reconnectOnError: (error: Error) => (/^READONLY/.test(error.message) ? 1 : false),
    // Dedicated connections: the safety net for blocking commands (see exemptBlockingCommands).
    ...(dedicated ? { blockingTimeout: commandTimeoutMs } : {}),
  };

  if (config.mode === 'sentinel' && config.sentinel !== undefined) {
    const sentinel = config.sentinel;
    const tls = await tlsOptions(config, configKey, false);
    const context = errorContext(config, configKey, target, `${configKey}.sentinel.nodes`, config.username, config.password, connectTimeoutMs, commandTimeoutMs);
    return {
      context,
      seeds: sentinel.nodes,
      create: () =>
        new Redis({
          ...common,
          db: config.db,
          sentinels: sentinel.nodes.map((node) => ({ host: node.host, port: node.port })),
          name: sentinel.name,
          role: 'master',
          sentinelUsername: sentinel.username,
          sentinelPassword: sentinel.password,
          sentinelRetryStrategy: retryStrategy,
          // One tls section: it applies to the Sentinels and to the master they point at.
          ...(tls === undefined ? {} : { tls, sentinelTLS: tls, enableTLSForSentinelMode: true }),
        }),
    };
  }

  if (config.mode === 'cluster' && config.cluster !== undefined) {
    const nodes = config.cluster.nodes.map((node) => ({ host: node.host, port: node.port }));
    const tls = await tlsOptions(config, configKey, false);
    const context = errorContext(config, configKey, target, `${configKey}.cluster.nodes`, config.username, config.password, connectTimeoutMs, commandTimeoutMs);
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...common, ...(tls === undefined ? {} : { tls }) },
      clusterRetryStrategy: retryStrategy,
      enableOfflineQueue: lazy,
      lazyConnect: true,
      slotsRefreshTimeout: commandTimeoutMs,
      ...clusterRetryBudget(failoverTimeoutMs),
    };
    return { context, seeds: nodes, create: () => new Cluster(nodes, clusterOptions) };
  }

  const address = standaloneAddress(config, configKey);
  const tls = await tlsOptions(config, configKey, address.tls);
  const context = errorContext(config, configKey, target, address.addressKey, address.username, address.password, connectTimeoutMs, commandTimeoutMs);
  return {
    context,
    seeds: [],
    create: () =>
      new Redis({
        ...common,
        host: address.host,
        port: address.port,
        db: address.db,
        username: address.username,
        password: address.password,
        ...(tls === undefined ? {} : { tls }),
      }),
  };
}

function errorContext(
  config: RedisConfig,
  configKey: string,
  target: string,
  addressKey: string,
  username: string | undefined,
  password: string | undefined,
  connectTimeoutMs: number,
  commandTimeoutMs: number,
): RedisErrorContext {
  // Register the password so that no driver message, trace line or child output can leak it.
  secrets.add(password);
  if (config.mode === 'sentinel') secrets.add(config.sentinel?.password);
  return {
    target,
    configKey,
    addressKey,
    username: username ?? 'default',
    hasPassword: password !== undefined && password !== '',
    connectTimeoutMs,
    commandTimeoutMs,
  };
}

function fallbackContext(client: RedisClient): RedisErrorContext {
  const options = client instanceof Redis ? client.options : undefined;
  return {
    target: options === undefined ? 'cluster' : formatHostPort(options.host ?? 'localhost', options.port ?? DEFAULT_PORT),
    configKey: 'redis',
    addressKey: 'redis.url',
    username: options?.username ?? 'default',
    hasPassword: options?.password !== undefined,
    connectTimeoutMs: options?.connectTimeout ?? 10_000,
    commandTimeoutMs: options?.commandTimeout ?? 0,
  };
}

// ---- connecting ---------------------------------------------------------------------------

/**
 * Connects and waits for 'ready'. ioredis reports the real cause of a failed attempt as an
 * 'error' event and rejects connect() with a generic "Connection is closed.", then retries by
 * itself (retryStrategy); this waits until ready, until the retries are exhausted ('end'), until
 * the credentials are refused (retrying cannot help), or until connectTimeout has passed.
 */
function establish(client: RedisClient, context: RedisErrorContext): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      finish(context.lastConnectionError === undefined ? redisConnectTimeout(context) : mapRedisError(context.lastConnectionError, context));
    }, context.connectTimeoutMs);
    const onReady = () => finish();
    const onEnd = () => finish(context.lastConnectionError ?? new Error('Connection is closed.'));
    const onError = (error: unknown) => {
      if (isRedisAuthError(error)) finish(error);
    };
    const onNodeError = (error: unknown) => {
      if (isRedisAuthError(error)) finish(error);
    };
    function finish(error?: unknown): void {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      client.off('error', onError);
      client.off('node error', onNodeError);
      if (error === undefined) resolve();
      else reject(error);
    }
    client.once('ready', onReady);
    client.once('end', onEnd);
    client.on('error', onError);
    client.on('node error', onNodeError);
    // Its rejection carries no cause (see above): the listeners decide the outcome.
    client.connect().catch(() => undefined);
  });
}

/** True when all ioredis said was a stand-in ("Connection is closed."), with no cause behind it. */
function lacksRealCause(error: unknown, context: RedisErrorContext): boolean {
  if (error instanceof OpsError || !(error instanceof Error)) return false;
  if (isGenericRedisError(error)) return context.lastConnectionError === undefined;
  const last = /Last error: (.*)$/.exec(error.message)?.[1];
  return last !== undefined && isGenericRedisError(new Error(last));
}

/** TCP-connects to each seed (in parallel) and returns the first socket error, if any. */
async function probeSeeds(seeds: readonly { host: string; port: number }[], timeoutMs: number): Promise<{ error: Error; address: string } | undefined> {
  const results = await Promise.all(
    seeds.map(
      (seed) =>
        new Promise<{ error: Error; address: string } | undefined>((resolve) => {
          const socket = createConnection({ host: seed.host, port: seed.port });
          const done = (error?: Error) => {
            socket.destroy();
            resolve(error === undefined ? undefined : { error, address: formatHostPort(seed.host, seed.port) });
          };
          socket.setTimeout(timeoutMs, () => done());
          socket.once('connect', () => done());
          socket.once('error', (error) => done(error));
        }),
    ),
  );
  return results.find((result) => result !== undefined);
}

// ---- dedicated connections --------------------------------------------------------------

/**
 * ioredis applies commandTimeout to every command, so `BLPOP key 10` on a 5 s commandTimeout
 * fails after 5 s. On a dedicated connection a blocking command is sent without it; ioredis'
 * blockingTimeout (set in planConnection) bounds it by its own timeout + 100 ms instead.
 * Cluster: the per-node connections are wrapped as they appear.
 */
function exemptBlockingCommands(client: RedisClient): void {
  const wrap = (node: Redis) => {
    const sender = node as unknown as CommandSender;
    const original = sender.sendCommand.bind(node) as CommandSender['sendCommand'];
    sender.sendCommand = (command, ...rest) => {
      if (!Command.checkFlag('BLOCKING_COMMANDS', command.name)) return original(command, ...rest);
      const saved = node.options.commandTimeout;
      // sendCommand reads the option synchronously; restoring it at once affects nothing else.
      node.options.commandTimeout = undefined;
      try {
        return original(command, ...rest);
      } finally {
        node.options.commandTimeout = saved;
      }
    };
  };
  if (client instanceof Cluster) client.on('+node', wrap);
  else wrap(client);
}

// ---- commands never sent (Cluster) ------------------------------------------------------

const unsentErrors = new WeakSet<Error>();
// Commands one of whose attempts was written to a node and lost its answer: never "unsent".
const lostCommands = new WeakSet<Command>();
const watchedCommands = new WeakSet<Command>();

/**
 * True for an error of a command that was never written to a socket: safe to retry even if
 * the command is not idempotent. Only Cluster clients can tell (see markUnsentCommands).
 */
export function wasNeverSent(error: unknown): boolean {
  return error instanceof Error && unsentErrors.has(error);
}

interface QueueView {
  /** Commands written to the socket, awaiting their reply (ioredis internals). */
  commandQueue?: { peekBack(): { command: Command } | undefined };
}

/**
 * The Cluster client rejects a command for a node that is still connecting, or whose
 * connection has ended, with the same "Connection is closed." as a command whose answer was
 * lost. During a primary's death this tells them apart, so runWrite can wait for the promotion
 * instead of reporting every write as uncertain:
 * - each attempt written to a node socket gets a wrapper that, if the attempt ends without a
 *   reply (closed, timed out), marks the command as lost;
 * - when the command finally fails, an error without a reply for a command never lost is
 *   handed over as a new error marked as never sent.
 */
function markUnsentCommands(cluster: Cluster): void {
  const sender = cluster as unknown as CommandSender;
  const original = sender.sendCommand.bind(cluster) as CommandSender['sendCommand'];
  sender.sendCommand = (command, ...rest) => {
    if (!watchedCommands.has(command)) {
      watchedCommands.add(command);
      // Installed before the Cluster's own wrapper, so it sees only the final outcome.
      const reject = command.reject;
      command.reject = (error: Error) => {
        if (!(error instanceof Error) || error instanceof ReplyError || lostCommands.has(command)) return reject.call(command, error);
        // Its own error object: the same one may reach commands that were written.
        const unsent = new Error(error.message);
        unsentErrors.add(unsent);
        return reject.call(command, unsent);
      };
    }
    return original(command, ...rest);
  };
  cluster.on('+node', (node: Redis) => {
    const nodeSender = node as unknown as CommandSender;
    const send = nodeSender.sendCommand.bind(node) as CommandSender['sendCommand'];
    nodeSender.sendCommand = (command, ...rest) => {
      const result = send(command, ...rest);
      if ((node as unknown as QueueView).commandQueue?.peekBack()?.command === command) {
        const previous = command.reject;
        command.reject = (error: Error) => {
          command.reject = previous;
          if (!(error instanceof ReplyError)) lostCommands.add(command);
          return previous.call(command, error);
        };
      }
      return result;
    };
  });
}

// ---- tracing ------------------------------------------------------------------------------

interface CommandSender {
  sendCommand(command: Command, ...rest: unknown[]): unknown;
}

/**
 * `--debug`: wraps the client's sendCommand so each command is recorded once, when its reply
 * (or error) arrives, with its duration and its credentials redacted.
 */
function traceCommands(client: RedisClient, tracer: Tracer): void {
  const sender = client as unknown as CommandSender;
  const original = sender.sendCommand.bind(client) as CommandSender['sendCommand'];
  // A command may pass through sendCommand more than once (cluster redirections).
  const seen = new WeakSet<Command>();
  sender.sendCommand = (command, ...rest) => {
    if (!seen.has(command)) {
      seen.add(command);
      const started = performance.now();
      const done = () => tracer.record('redis', describeCommand(command.name, command.args), performance.now() - started);
      command.promise.then(done, done);
    }
    return original(command, ...rest);
  };
}
