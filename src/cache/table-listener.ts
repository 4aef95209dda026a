import type { Pool, PoolClient, Notification } from 'pg';

/** The channel and payload of opsctl.cache_notify() (migration 0001, trigger format v1). */
export const CACHE_CHANNEL = 'opsctl_cache';
const PAYLOAD = /^v1:(.+)$/;

export interface TableListenerOptions {
  pool: Pool;
  /** Tables (`schema.name`) whose writes just committed. */
  onTables(tables: string[]): void;
  /** The connection was lost and is back: notifications of the gap are gone. */
  onGap(): void;
  logger?: { warn(message: string): void };
  /** Reconnect delays grow from this to 5 s (default 100 ms). */
  retryMs?: number;
}

export interface TableListener {
  /** Resolves once LISTEN is active the first time. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * LISTENs on a connection of its own from the pool and hands table changes on. A lost
 * connection is re-established with growing delays; after it, `onGap` runs because any
 * notification sent meanwhile was lost, and only a conservative invalidation is safe.
 */
export function startTableListener(options: TableListenerOptions): TableListener {
  const baseDelay = options.retryMs ?? 100;
  let client: PoolClient | undefined;
  let closed = false;
  let connectedOnce = false;
  let delay = baseDelay;
  let timer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const onNotification = (message: Notification) => {
    if (message.channel !== CACHE_CHANNEL) return;
    const match = PAYLOAD.exec(message.payload ?? '');
    if (match !== null) options.onTables([match[1]!]);
  };

  const lost = (error: unknown) => {
    if (client === undefined) return;
    const dead = client;
    client = undefined;
    dead.removeListener('notification', onNotification);
    dead.release(error instanceof Error ? error : true);
    options.logger?.warn(`query cache: table listener lost its PostgreSQL connection (${(error as Error)?.message ?? String(error)}); reconnecting`);
    schedule();
  };

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => void connect(), delay);
    delay = Math.min(delay * 2, 5000);
  };

  async function connect(): Promise<void> {
    if (closed) return;
    let candidate: PoolClient | undefined;
    try {
      candidate = await options.pool.connect();
      candidate.on('error', (error) => lost(error));
      candidate.on('notification', onNotification);
      client = candidate;
      await candidate.query(`listen ${CACHE_CHANNEL}`);
    } catch (error) {
      if (candidate !== undefined && client === candidate) lost(error);
      else schedule();
      return;
    }
    if (closed) {
      candidate.release(true);
      return;
    }
    delay = baseDelay;
    if (connectedOnce) options.onGap();
    connectedOnce = true;
    markReady();
  }

  void connect();
  return {
    ready,
    async close() {
      closed = true;
      clearTimeout(timer);
      const open = client;
      client = undefined;
      if (open !== undefined) {
        open.removeListener('notification', onNotification);
        await open.query(`unlisten ${CACHE_CHANNEL}`).catch(() => undefined);
        open.release();
      }
    },
  };
}
