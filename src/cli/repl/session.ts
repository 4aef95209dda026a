import type { Pool } from 'pg';
import { CommandContext, type GlobalOptions, type RedisClient, type Runtime } from '../context.js';
import type { ContextFactory } from '../program.js';
import type { RedisNodes } from '../../redis/topology.js';

export type ConnectionState = 'up' | 'down';

export interface ConnectionStatus {
  redis?: ConnectionState;
  pg?: ConnectionState;
}

interface Owner {
  context: CommandContext;
  redis?: RedisClient;
  pg?: Pool;
}

/**
 * The shell's connections: opened on first use by a command, kept across lines, closed when the
 * shell ends (or on `use`, or after an interrupted command). Each (profile, config file,
 * --debug) gets one long-lived CommandContext that owns them, so they are built exactly as a
 * one-shot command builds them.
 */
export class ShellConnections {
  readonly #owners = new Map<string, Owner>();

  /** `runtime` lives as long as the shell (its signal ends the shell, not a line). */
  constructor(private readonly runtime: Runtime) {}

  /** Per-line contexts that take Redis and PostgreSQL from here instead of connecting anew. */
  readonly contextFactory: ContextFactory = (runtime, globals) => new ShellCommandContext(runtime, globals, this);

  #key(globals: GlobalOptions): string {
    return JSON.stringify([globals.profile ?? '', globals.config ?? '', globals.debug === true]);
  }

  #owner(globals: GlobalOptions): [string, Owner] {
    const key = this.#key(globals);
    let owner = this.#owners.get(key);
    if (owner === undefined) {
      const ownGlobals: GlobalOptions = { quiet: true, ...(globals.profile === undefined ? {} : { profile: globals.profile }), ...(globals.config === undefined ? {} : { config: globals.config }), ...(globals.debug === true ? { debug: true } : {}) };
      owner = { context: new CommandContext(this.runtime, ownGlobals) };
      this.#owners.set(key, owner);
    }
    return [key, owner];
  }

  async redis(globals: GlobalOptions): Promise<RedisClient> {
    const [key, owner] = this.#owner(globals);
    // A client that was closed under us (server gone for good) is replaced by a new one.
    if (owner.redis !== undefined && owner.redis.status === 'end') {
      await this.#discard(key);
      return this.redis(globals);
    }
    try {
      owner.redis = await owner.context.redis();
      return owner.redis;
    } catch (error) {
      // A failed connection is not cached: the next command tries again.
      await this.#discard(key);
      throw error;
    }
  }

  /** Per-node connections of the `redis` verbs; a node whose connection ended is reconnected by RedisNodes. */
  async redisNodes(globals: GlobalOptions): Promise<RedisNodes> {
    const [key, owner] = this.#owner(globals);
    try {
      return await owner.context.redisNodes();
    } catch (error) {
      await this.#discard(key);
      throw error;
    }
  }

  async pg(globals: GlobalOptions): Promise<Pool> {
    const [key, owner] = this.#owner(globals);
    try {
      owner.pg = await owner.context.pg();
      return owner.pg;
    } catch (error) {
      await this.#discard(key);
      throw error;
    }
  }

  /** What the prompt shows for these globals: only connections that were opened. */
  status(globals: GlobalOptions): ConnectionStatus {
    const owner = this.#owners.get(this.#key(globals));
    const status: ConnectionStatus = {};
    if (owner?.redis !== undefined) status.redis = owner.redis.status === 'ready' ? 'up' : 'down';
    if (owner?.pg !== undefined) status.pg = (owner.pg as Pool & { ending?: boolean }).ending === true ? 'down' : 'up';
    return status;
  }

  async #discard(key: string): Promise<void> {
    const owner = this.#owners.get(key);
    this.#owners.delete(key);
    await owner?.context.close();
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#owners.keys()].map((key) => this.#discard(key)));
  }
}

/** A line's context: everything per line, except the connections, which the shell keeps. */
class ShellCommandContext extends CommandContext {
  constructor(
    runtime: Runtime,
    globals: GlobalOptions,
    private readonly connections: ShellConnections,
  ) {
    super(runtime, globals);
  }

  override redis(): Promise<RedisClient> {
    return this.connections.redis(this.globals);
  }

  override pg(): Promise<Pool> {
    return this.connections.pg(this.globals);
  }

  override redisNodes(): Promise<RedisNodes> {
    return this.connections.redisNodes(this.globals);
  }
}
