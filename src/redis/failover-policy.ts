import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { OpsError } from '../core/errors.js';
import { formatDuration } from '../core/parse.js';
import { redisError, wasNeverSent, type RedisClient } from './connection.js';

/**
 * What a failed command tells about its effect on the server:
 * - `not-executed`: the server never ran it (never written to a socket, or refused with
 *   CLUSTERDOWN/TRYAGAIN/MOVED/ASK/READONLY/LOADING/MASTERDOWN): repeating it is safe.
 * - `uncertain`: it was written but its answer was lost (connection closed, command timeout):
 *   the server may have run it. Safe to repeat only if it is idempotent.
 * - `final`: the server answered with an error that repeating will not change (WRONGTYPE,
 *   a script error, NOPERM, a wrong password …).
 */
export type RedisFailureKind = 'not-executed' | 'uncertain' | 'final';

// Never written: ioredis refuses a command while disconnected (enableOfflineQueue off), and the
// Cluster client fails before choosing a node.
const NOT_SENT = [
  /^Stream isn't writeable/,
  /enableOfflineQueue options is false/,
  /^Cluster isn't ready/,
  /^None of startup nodes is available/,
  /^Failed to refresh slots cache/,
];
// Refused by the server without running the command: the topology is moving.
const REFUSED = /^(CLUSTERDOWN|TRYAGAIN|MOVED|ASK|READONLY|LOADING|MASTERDOWN)\b/;
const LOST_ANSWER = [
  /^Command timed out/,
  /^Connection is closed/,
  /^Reached the max retries per request limit/,
  /^Command aborted due to connection close/,
  /^Socket timeout/,
];

/** Classifies an error thrown by an ioredis command (see RedisFailureKind). */
export function classifyRedisFailure(error: unknown): RedisFailureKind {
  if (!(error instanceof Error)) return 'final';
  if (error instanceof OpsError) return 'final';
  if (wasNeverSent(error)) return 'not-executed';
  const message = error.message;
  if (NOT_SENT.some((pattern) => pattern.test(message))) return 'not-executed';
  if (REFUSED.test(message)) return 'not-executed';
  // The Cluster client gave up redirecting; what counts is the last error it saw.
  const last = /^Too many Cluster redirections\. Last error: (?:\w*Error: )?(.*)$/s.exec(message)?.[1];
  if (last !== undefined) return classifyRedisFailure(new Error(last));
  if (error.name === 'MaxRetriesPerRequestError' || LOST_ANSWER.some((pattern) => pattern.test(message))) return 'uncertain';
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT') return 'uncertain';
  return 'final';
}

/** Where a retrying call gets its client: a client, or a manager's current shared client. */
export type RedisClientSource = RedisClient | (() => Promise<RedisClient>);

export interface FailoverPolicyOptions {
  /** Give up after this long (default 10 s; the profile's `redis.failoverTimeout`). */
  timeoutMs?: number;
  /** Stop retrying (an in-flight attempt still finishes). */
  signal?: AbortSignal;
  /** Config key named in errors (`profiles.prod.redis`). */
  configKey?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const FIRST_DELAY_MS = 20;
const MAX_DELAY_MS = 250;

/**
 * Runs an idempotent read (GET, HGETALL, SCAN page, a read-only script …) and retries it
 * across a failover, until it succeeds or `timeoutMs` has passed: while the client reconnects,
 * while the cluster reports CLUSTERDOWN, and also after a lost answer, since reading twice
 * changes nothing. Errors the server means (WRONGTYPE …) are thrown at once.
 *
 * @throws OpsError (REDIS_UNREACHABLE, REDIS_TIMEOUT, REDIS_COMMAND_FAILED …) with the last cause.
 */
export function runRead<T>(source: RedisClientSource, fn: (client: RedisClient) => Promise<T>, options: FailoverPolicyOptions = {}): Promise<T> {
  return run(source, fn, options, true);
}

/**
 * Runs a write that must not be applied twice. `fn` must send ONE command, MULTI/EXEC or
 * script (one atomic unit). It is retried only while that unit provably did not run (never
 * written, or refused by the server), up to `timeoutMs`; once it was written and the answer is
 * lost, it is never resent: the caller gets REDIS_WRITE_UNCERTAIN and decides (read back,
 * or repeat an idempotent write). So a write is applied at most once, and never dropped
 * silently: every call resolves with the server's answer or rejects.
 */
export function runWrite<T>(source: RedisClientSource, fn: (client: RedisClient) => Promise<T>, options: FailoverPolicyOptions = {}): Promise<T> {
  return run(source, fn, options, false);
}

async function run<T>(source: RedisClientSource, fn: (client: RedisClient) => Promise<T>, options: FailoverPolicyOptions, idempotent: boolean): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = performance.now() + timeoutMs;
  let delay = FIRST_DELAY_MS;
  let lastError: unknown;
  let lastClient: RedisClient | undefined;
  for (;;) {
    throwIfAborted(options.signal);
    let client: RedisClient | undefined;
    try {
      client = typeof source === 'function' ? await source() : source;
      lastClient = client;
      await whenReady(client, deadline, options.signal);
    } catch (error) {
      // No connection yet: nothing was sent, waiting is safe for reads and writes alike.
      lastError = error;
      if (error instanceof OpsError && !isConnectionError(error)) throw error;
      if (performance.now() >= deadline) throw gaveUp(lastClient, error, timeoutMs, options);
      await pause(delay, deadline, options.signal);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
      continue;
    }
    try {
      return await fn(client);
    } catch (error) {
      lastError = error;
      const kind = classifyRedisFailure(error);
      if (kind === 'final') throw redisError(client, error);
      // The Cluster client refreshes its slot map on MOVED, but nothing tells it that a dead
      // primary's replica took over; ask now rather than at the next periodic refresh.
      if (client instanceof Cluster) client.refreshSlotsCache();
      if (kind === 'uncertain' && !idempotent) throw uncertainWrite(client, error, options);
      if (performance.now() >= deadline) throw gaveUp(client, lastError, timeoutMs, options);
      await pause(delay, deadline, options.signal);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}

function isConnectionError(error: OpsError): boolean {
  return error.code === 'REDIS_UNREACHABLE' || error.code === 'REDIS_TIMEOUT';
}

/** Waits (without sending anything) until the client is connected, or the deadline. */
async function whenReady(client: RedisClient, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  while (client.status !== 'ready') {
    if (client.status === 'end') throw new Error('Connection is closed.');
    if (client.status === 'wait') {
      // A lazy client connects on its first command; start it without sending one.
      client.connect().catch(() => undefined);
    }
    if (performance.now() >= deadline) throw new Error("Stream isn't writeable (still reconnecting)");
    await pause(10, deadline, signal);
  }
}

async function pause(ms: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  const wait = Math.max(0, Math.min(ms, deadline - performance.now()));
  try {
    await sleep(wait, undefined, signal === undefined ? undefined : { signal });
  } catch {
    throwIfAborted(signal);
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new OpsError('INTERRUPTED', 'interrupted while waiting for Redis', { hint: 'nothing more was sent' });
}

function uncertainWrite(client: RedisClient, error: unknown, options: FailoverPolicyOptions): OpsError {
  const mapped = redisError(client, error);
  return new OpsError('REDIS_WRITE_UNCERTAIN', `a write to Redis may or may not have been applied: ${mapped.message}`, {
    hint: 'it was not resent, to avoid applying it twice; read the data back before repeating it',
    cause: error,
    details: { ...(mapped.details ?? {}), ...(options.configKey === undefined ? {} : { configKey: options.configKey }) },
  });
}

function gaveUp(client: RedisClient | undefined, error: unknown, timeoutMs: number, options: FailoverPolicyOptions): OpsError {
  const mapped = error instanceof OpsError ? error : client === undefined ? undefined : redisError(client, error);
  const reason = mapped?.message ?? String((error as Error)?.message ?? error);
  const key = options.configKey === undefined ? 'redis.failoverTimeout' : `${options.configKey}.failoverTimeout`;
  return new OpsError(mapped?.code ?? 'REDIS_UNREACHABLE', `Redis did not recover within ${formatDuration(timeoutMs)}: ${reason}`, {
    hint: `is a failover stuck (no replica to promote, no Sentinel quorum, uncovered slots)? the limit is ${key}`,
    cause: error,
    ...(mapped?.details === undefined ? {} : { details: mapped.details }),
  });
}
