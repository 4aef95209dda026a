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

/** A parsed RESP2 reply: status/bulk strings, integers, arrays, null; errors are thrown. */
export type RespValue = string | number | null | RespValue[];

/**
 * Sends one command over a fresh socket (after AUTH when a password is given) and resolves
 * with its parsed reply; an error reply rejects. Like redisProbe, independent of any client
 * library, for the harness's own waiting and wiring.
 */
export function redisQuery(port: number, args: readonly string[], options: { password?: string; timeoutMs?: number } = {}): Promise<RespValue> {
  const commands = options.password === undefined ? [args] : [['AUTH', options.password], args];
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    const replies: RespValue[] = [];
    const timer = setTimeout(() => finish(new Error(`no answer from 127.0.0.1:${port} to ${args[0]}`)), options.timeoutMs ?? 2_000);
    function finish(error?: Error): void {
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve(replies[replies.length - 1] ?? null);
      else reject(error);
    }
    socket.once('error', (error) => finish(error));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        for (;;) {
          const parsed = parseResp(buffer, 0);
          if (parsed === undefined) return;
          buffer = buffer.subarray(parsed.end);
          replies.push(parsed.value);
          if (replies.length === commands.length) return finish();
        }
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.once('connect', () => socket.write(commands.map(encodeCommand).join('')));
  });
}

/** Parses one RESP2 value at `start`; undefined when the buffer does not hold all of it yet. */
function parseResp(buffer: Buffer, start: number): { value: RespValue; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', start);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[start]!);
  const line = buffer.toString('utf8', start + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      throw new Error(line);
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let position = next;
      for (let i = 0; i < count; i += 1) {
        const item = parseResp(buffer, position);
        if (item === undefined) return undefined;
        items.push(item.value);
        position = item.end;
      }
      return { value: items, end: position };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}
