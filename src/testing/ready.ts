import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagedProcess } from './managed-process.js';

export interface PollOptions {
  /** Name for messages (`redis-server`). */
  name: string;
  timeoutMs: number;
  /** Returns why waiting is pointless (the process died), checked before each probe. */
  gaveUp?: () => string | undefined | Promise<string | undefined>;
  signal?: AbortSignal;
}

/**
 * Polls `probe` every 50 ms until it succeeds. Fails as soon as `gaveUp` gives a reason, and
 * after the timeout with the last probe error, so the caller can quote it with the server log.
 */
export async function pollUntilReady(probe: () => Promise<void>, options: PollOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    options.signal?.throwIfAborted();
    const reason = await options.gaveUp?.();
    if (reason !== undefined) throw new Error(`${options.name} ${reason}`);
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
    }
    await sleep(50, undefined, options.signal === undefined ? undefined : { signal: options.signal });
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`${options.name} did not become ready within ${options.timeoutMs / 1000}s${detail}`);
}

/** Polls until a managed server answers; fails early when it exits. */
export function waitUntilReady(managed: ManagedProcess, probe: () => Promise<void>, timeoutMs: number): Promise<void> {
  return pollUntilReady(probe, {
    name: managed.name,
    timeoutMs,
    gaveUp: () => {
      const status = managed.exitStatus;
      return status === undefined ? undefined : `exited during start-up (${status.signal ?? `exit code ${status.code}`})`;
    },
  });
}

/**
 * Sends raw RESP commands and resolves with the reply text once it contains `expect`. Used for
 * readiness so that starting a test server does not depend on a client library's retry logic.
 */
export function redisProbe(port: number, commands: readonly (readonly string[])[], expect: string, timeoutMs = 1_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const timer = setTimeout(() => finish(new Error(`no answer from 127.0.0.1:${port}`)), timeoutMs);
    function finish(error?: Error): void {
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve();
      else reject(error);
    }
    socket.once('error', (error) => finish(error));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes(expect)) finish();
      else if (/^-|\r\n-/.test(reply)) finish(new Error(reply.trim()));
    });
    socket.once('connect', () => {
      socket.write(commands.map(encodeCommand).join(''));
    });
  });
}

function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}

/** Connects over TCP as `postgres` and runs `select 1`. */
export async function pgProbe(port: number, password?: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    ...(password === undefined ? {} : { password }),
    connectionTimeoutMillis: 2_000,
  });
  // A connection refused during start-up is expected; connect() rejects with it.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}
