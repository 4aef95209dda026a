import { Redis } from 'ioredis';
import { OpsError } from '../core/errors.js';
import { formatHostPort } from '../core/net-errors.js';
import { formatDuration } from '../core/parse.js';
import { silentTracer, type Tracer } from '../core/trace.js';
import type { RedisConfig } from '../config/schema.js';
import { closeNow, connectedAddress, createRedisClient, createSentinelSubscriber, type RedisClient } from './connection.js';
import { runRead, runWrite } from './failover-policy.js';
import { configDuration } from '../config/values.js';

/** Limits of the dedicated-connection pool (the profile's `redis.pool`, in milliseconds). */
export interface RedisPoolSettings {
  max: number;
  acquireTimeoutMs: number;
  idleTimeoutMs: number;
}

/** A snapshot of a manager's dedicated-connection pool. */
export interface RedisPoolStats {
  /** Open or opening dedicated connections (idle + inUse + being created). */
  size: number;
  idle: number;
  inUse: number;
  /** Callers waiting for a connection to be released. */
  waiting: number;
  /** Connections opened since the manager was made. */
  created: number;
  /** Connections closed (idle eviction, broken, released with destroy, close()). */
  destroyed: number;
  /** acquire() calls that failed with REDIS_POOL_EXHAUSTED. */
  acquireTimeouts: number;
}

/** A dedicated connection lent by the pool; give it back with release(). */
export interface RedisLease {
  readonly client: RedisClient;
  /**
   * Returns the connection. Pass `destroy: true` when it is in a state the next user must not
   * inherit (MULTI without EXEC, WATCH, a blocking command abandoned mid-way); a connection in
   * subscriber mode or no longer connected is closed anyway. Idempotent.
   */
  release(options?: { destroy?: boolean }): void;
}

/** A `+switch-master` the manager followed (Sentinel mode). */
export interface RedisFailoverEvent {
  masterName: string;
  from: string;
  to: string;
  /** `performance.now()` when the message arrived. */
  at: number;
}

export interface CreateRedisManagerOptions {
  /** Where the settings live, e.g. `profiles.prod.redis`; named in errors. */
  configKey: string;
  tracer?: Tracer;
  /** Overrides of the profile's `redis.pool`. */
  pool?: Partial<RedisPoolSettings>;
  /** Called on each `+switch-master` for the configured master name. */
  onFailover?: (event: RedisFailoverEvent) => void;
}

interface IdleEntry {
  client: RedisClient;
  timer: NodeJS.Timeout;
}

interface Waiter {
  resolve(lease: RedisLease): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
  cleanup(): void;
}

/**
 * The one way opsctl gets Redis clients, one manager per target (profile):
 * - `shared()`: a multiplexed client for ordinary commands (ioredis pipelines concurrent
 *   commands on one connection); replaced by a new one when it has given up reconnecting.
 * - `acquire()` / `withConnection()`: a bounded pool of dedicated connections for what would
 *   block or change the state of a shared connection: BLPOP/XREAD BLOCK, WATCH/MULTI, SUBSCRIBE.
 * - `read()` / `write()`: the failover policy (see failover-policy.ts) on the shared client.
 * In Sentinel mode it follows `+switch-master` for its master name and moves every
 * connection to the new primary at once, instead of waiting for a socket to close (a hung
 * primary never closes it).
 */
export class RedisManager {
  readonly configKey: string;
  readonly settings: RedisPoolSettings;
  readonly failoverTimeoutMs: number;
  /** `+switch-master` events followed so far (Sentinel mode). */
  readonly failovers: RedisFailoverEvent[] = [];
  readonly #config: RedisConfig;
  readonly #tracer: Tracer;
  readonly #onFailover: ((event: RedisFailoverEvent) => void) | undefined;
  #shared: Promise<RedisClient> | undefined;
  #sharedClient: RedisClient | undefined;
  readonly #idle: IdleEntry[] = [];
  readonly #inUse = new Set<RedisClient>();
  readonly #waiters: Waiter[] = [];
  #creating = 0;
  #created = 0;
  #destroyed = 0;
  #acquireTimeouts = 0;
  #closed = false;
  #watchers: Redis[] | undefined;
  #primary: string | undefined;

  constructor(config: RedisConfig, options: CreateRedisManagerOptions) {
    this.#config = config;
    this.configKey = options.configKey;
    this.#tracer = options.tracer ?? silentTracer;
    this.#onFailover = options.onFailover;
    this.settings = {
      max: options.pool?.max ?? config.pool.max,
      acquireTimeoutMs: options.pool?.acquireTimeoutMs ?? configDuration(config.pool.acquireTimeout, `${options.configKey}.pool.acquireTimeout`),
      idleTimeoutMs: options.pool?.idleTimeoutMs ?? configDuration(config.pool.idleTimeout, `${options.configKey}.pool.idleTimeout`),
    };
    this.failoverTimeoutMs = configDuration(config.failoverTimeout, `${options.configKey}.failoverTimeout`);
  }

  /**
   * The shared multiplexed client, connected (the first call connects and fails with the
   * mapped OpsError). Do not use it for blocking commands, WATCH/MULTI or SUBSCRIBE. A failover
   * may replace it: long-lived code calls shared() (or read()/write()) for each use rather than
   * keeping the client.
   */
  shared(): Promise<RedisClient> {
    if (this.#closed) return Promise.reject(closedError(this.configKey));
    if (this.#shared !== undefined && this.#sharedClient?.status !== 'end') return this.#shared;
    this.#startWatching();
    const pending = createRedisClient(this.#config, { configKey: this.configKey, tracer: this.#tracer }).then(
      (client) => {
        if (this.#closed) {
          client.disconnect();
          throw closedError(this.configKey);
        }
        this.#sharedClient = client;
        return client;
      },
      (error: unknown) => {
        if (this.#shared === pending) this.#shared = undefined;
        throw error;
      },
    );
    this.#shared = pending;
    this.#sharedClient = undefined;
    return pending;
  }

  /** An idempotent read on the shared client, retried across a failover (see runRead). */
  read<T>(fn: (client: RedisClient) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    return runRead(() => this.shared(), fn, { timeoutMs: this.failoverTimeoutMs, configKey: this.configKey, ...options });
  }

  /** A write applied at most once, never dropped silently (see runWrite). */
  write<T>(fn: (client: RedisClient) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    return runWrite(() => this.shared(), fn, { timeoutMs: this.failoverTimeoutMs, configKey: this.configKey, ...options });
  }

  /**
   * Lends a dedicated connection: an idle one, a new one while fewer than `pool.max` exist,
   * or the next one released within `pool.acquireTimeout`; then REDIS_POOL_EXHAUSTED.
   */
  async acquire(options: { signal?: AbortSignal } = {}): Promise<RedisLease> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    this.#startWatching();
    for (let entry = this.#idle.pop(); entry !== undefined; entry = this.#idle.pop()) {
      clearTimeout(entry.timer);
      if (entry.client.status === 'ready') return this.#lend(entry.client);
      this.#destroy(entry.client);
    }
    if (this.#size() < this.settings.max) {
      try {
        return this.#lend(await this.#create());
      } catch (error) {
        // The slot it held is free again: someone queued meanwhile may try.
        this.#refill();
        throw error;
      }
    }
    return new Promise<RedisLease>((resolve, reject) => {
      const onAbort = () => {
        waiter.cleanup();
        reject(new OpsError('INTERRUPTED', 'interrupted while waiting for a Redis connection', { hint: 'nothing was sent' }));
      };
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          waiter.cleanup();
          this.#acquireTimeouts += 1;
          reject(this.#exhausted());
        }, this.settings.acquireTimeoutMs),
        cleanup: () => {
          clearTimeout(waiter.timer);
          options.signal?.removeEventListener('abort', onAbort);
          const index = this.#waiters.indexOf(waiter);
          if (index >= 0) this.#waiters.splice(index, 1);
        },
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * Runs `fn` on a dedicated connection and releases it; if `fn` throws, the connection is
   * closed rather than reused (its state is unknown: an open MULTI, a pending BLPOP).
   */
  async withConnection<T>(fn: (client: RedisClient) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    const lease = await this.acquire(options);
    try {
      const result = await fn(lease.client);
      lease.release();
      return result;
    } catch (error) {
      lease.release({ destroy: true });
      throw error;
    }
  }

  stats(): RedisPoolStats {
    return {
      size: this.#size(),
      idle: this.#idle.length,
      inUse: this.#inUse.size,
      waiting: this.#waiters.length,
      created: this.#created,
      destroyed: this.#destroyed,
      acquireTimeouts: this.#acquireTimeouts,
    };
  }

  /** Closes every connection (QUIT on the shared client); waiting acquires fail. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(closedError(this.configKey));
    }
    for (const entry of this.#idle.splice(0)) {
      clearTimeout(entry.timer);
      this.#destroy(entry.client);
    }
    for (const client of this.#inUse) this.#destroy(client);
    this.#inUse.clear();
    for (const watcher of this.#watchers ?? []) watcher.disconnect();
    // A connection still being made is not waited for (a hung server would hold close() for
    // connectTimeout, e.g. after Ctrl-C): shared() disconnects it when it arrives.
    const shared = this.#sharedClient;
    this.#shared = undefined;
    this.#sharedClient = undefined;
    if (shared !== undefined) await shared.quit().then(() => undefined, () => shared.disconnect());
  }

  // ---- pool -----------------------------------------------------------------------------

  #size(): number {
    return this.#idle.length + this.#inUse.size + this.#creating;
  }

  async #create(): Promise<RedisClient> {
    this.#creating += 1;
    try {
      const client = await createRedisClient(this.#config, { configKey: this.configKey, tracer: this.#tracer, dedicated: true });
      this.#created += 1;
      return client;
    } finally {
      this.#creating -= 1;
    }
  }

  #lend(client: RedisClient): RedisLease {
    this.#inUse.add(client);
    let released = false;
    return {
      client,
      release: (options = {}) => {
        if (released) return;
        released = true;
        this.#inUse.delete(client);
        const broken = client.status !== 'ready' || (client instanceof Redis && client.mode !== 'normal');
        if (this.#closed || options.destroy === true || broken) {
          this.#destroy(client);
          this.#refill();
          return;
        }
        const waiter = this.#waiters.shift();
        if (waiter !== undefined) {
          waiter.cleanup();
          waiter.resolve(this.#lend(client));
          return;
        }
        const timer = setTimeout(() => {
          const index = this.#idle.findIndex((entry) => entry.client === client);
          if (index >= 0) {
            this.#idle.splice(index, 1);
            this.#destroy(client);
          }
        }, this.settings.idleTimeoutMs);
        // An idle connection must not keep a CLI process alive.
        timer.unref();
        this.#idle.push({ client, timer });
      },
    };
  }

  /** A slot was freed by a destroyed connection: open a new one for the first waiter. */
  #refill(): void {
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return;
    waiter.cleanup();
    this.#create().then(
      (client) => waiter.resolve(this.#lend(client)),
      (error: unknown) => waiter.reject(error),
    );
  }

  #destroy(client: RedisClient): void {
    this.#destroyed += 1;
    client.disconnect();
  }

  #exhausted(): OpsError {
    const stats = this.stats();
    return new OpsError(
      'REDIS_POOL_EXHAUSTED',
      `no dedicated Redis connection became free within ${formatDuration(this.settings.acquireTimeoutMs)}: all ${this.settings.max} allowed by ${this.configKey}.pool.max are in use`,
      {
        hint: `raise ${this.configKey}.pool.max (now ${this.settings.max}) or ${this.configKey}.pool.acquireTimeout, or release connections sooner`,
        details: { configKey: `${this.configKey}.pool.max`, ...stats },
      },
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError(this.configKey);
  }

  // ---- Sentinel failover ----------------------------------------------------------------

  /**
   * Subscribes to `+switch-master` on every Sentinel. ioredis' own failoverDetector reacts to
   * a switch of ANY master the Sentinels monitor; this one only to the configured name.
   */
  #startWatching(): void {
    const sentinel = this.#config.sentinel;
    if (this.#watchers !== undefined || this.#config.mode !== 'sentinel' || sentinel === undefined) return;
    this.#watchers = [];
    for (const node of sentinel.nodes) {
      createSentinelSubscriber(this.#config, node, { configKey: this.configKey }).then(
        (watcher) => {
          if (this.#closed) return;
          this.#watchers!.push(watcher);
          watcher.on('error', (error: Error) => {
            if (this.#tracer.enabled) this.#tracer.record('redis', `sentinel ${formatHostPort(node.host, node.port)}: ${error.message}`);
          });
          watcher.on('message', (channel: string, message: string) => {
            if (channel === '+switch-master') this.#onSwitch(message);
          });
          watcher.subscribe('+switch-master').catch(() => undefined);
        },
        () => undefined,
      );
    }
  }

  #onSwitch(message: string): void {
    const [name, oldHost, oldPort, newHost, newPort] = message.split(' ');
    const masterName = this.#config.sentinel?.name;
    if (masterName === undefined || name !== masterName || newHost === undefined || newPort === undefined) return;
    const to = formatHostPort(newHost, Number(newPort));
    // Every Sentinel publishes the same switch: act once.
    if (to === this.#primary) return;
    this.#primary = to;
    const event: RedisFailoverEvent = { masterName, from: formatHostPort(oldHost ?? '', Number(oldPort)), to, at: performance.now() };
    this.failovers.push(event);
    if (this.#tracer.enabled) this.#tracer.record('redis', `+switch-master ${masterName}: ${event.from} → ${to}`);
    this.#onFailover?.(event);

    const stale = (client: RedisClient) => client instanceof Redis && connectedAddress(client) !== to;
    const shared = this.#sharedClient;
    if (shared !== undefined && stale(shared)) {
      // Retire it and connect anew through the Sentinels now: reconnecting it would first wait
      // out its backoff, and a hung old primary never closes the socket by itself.
      this.#shared = undefined;
      this.#sharedClient = undefined;
      closeNow(shared as Redis);
      this.shared().catch(() => undefined);
    }
    for (const entry of this.#idle.splice(0)) {
      clearTimeout(entry.timer);
      this.#destroy(entry.client);
    }
    // A holder's commands on the old primary fail now (its release then closes the connection).
    for (const client of this.#inUse) if (stale(client)) closeNow(client as Redis);
  }
}

/** Makes the manager for a profile's redis section. Nothing connects until first use. */
export function createRedisManager(config: RedisConfig, options: CreateRedisManagerOptions): RedisManager {
  return new RedisManager(config, options);
}


function closedError(configKey: string): OpsError {
  return new OpsError('REDIS_UNREACHABLE', `the Redis connections of ${configKey} are closed`, { hint: 'the manager was closed; create a new one' });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new OpsError('INTERRUPTED', 'interrupted while waiting for a Redis connection', { hint: 'nothing was sent' });
}
