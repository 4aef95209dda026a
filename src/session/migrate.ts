import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Pool } from 'pg';
import { Cluster, type Redis } from 'ioredis';
import { OpsError } from '../core/errors.js';
import type { RedisClientSource } from '../redis/failover-policy.js';
import { resolveClient } from './admin.js';
import { escapeGlob, type SessionKeys } from './layout.js';
import type { PortableSession, SessionStore } from './store.js';

/** Version of the checkpoint file `session migrate` resumes from. */
export const CHECKPOINT_VERSION = 1;

/**
 * Where sessions are copied from:
 * - `opsctl`: another opsctl store (any key layout version this opsctl reads);
 * - `connect-redis`: `<prefix><sid>` strings holding the express-session JSON (default `sess:`);
 * - `connect-pg-simple`: its table (`sid varchar PK, sess json, expire timestamp(6)`).
 */
export type MigrationSource =
  | { kind: 'opsctl'; client: RedisClientSource; store: SessionStore }
  | { kind: 'connect-redis'; client: RedisClientSource; prefix: string; userField: string; absoluteTtlMs: number }
  | { kind: 'connect-pg-simple'; pool: Pool; table: string; userField: string; absoluteTtlMs: number };

/** Resume point: a SCAN cursor per source primary, or the last sid of the PostgreSQL table. */
interface Checkpoint {
  version: number;
  source: string;
  node: number;
  cursor: string;
  copied: number;
}

export interface MigrateOptions {
  source: MigrationSource;
  target: SessionStore;
  /** File holding the resume point; written (atomically) after every page. */
  checkpointPath?: string;
  /** Sessions per page (SCAN COUNT, rows per query); default 500. */
  batch?: number;
  signal?: AbortSignal;
  onProgress?: (copied: number) => void;
  now?: () => number;
}

export interface MigrateResult {
  copied: number;
  /** Sessions found at the source but gone (expired, unreadable) by the time they were read. */
  skipped: number;
  resumed: boolean;
}

export interface VerifyResult {
  /** Live sessions at the source. */
  source: number;
  /** Of those, present at the target with the same data, user and TTL (within 1 s). */
  matching: number;
  missing: string[];
  different: string[];
  /** SHA-256 over the sorted per-session checksums of the source and of the target. */
  sourceChecksum: string;
  targetChecksum: string;
}

/** One page of sessions from the source and the position after it. */
interface Page {
  sessions: (PortableSession | null)[];
  node: number;
  cursor: string;
}

const DEFAULT_BATCH = 500;

function describeSource(source: MigrationSource): string {
  switch (source.kind) {
    case 'opsctl':
      return `opsctl:${source.store.keys.prefix}`;
    case 'connect-redis':
      return `connect-redis:${source.prefix}`;
    case 'connect-pg-simple':
      return `connect-pg-simple:${source.table}`;
  }
}

function primaries(client: Awaited<ReturnType<typeof resolveClient>>): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** The express-session object of connect-redis / connect-pg-simple as a portable session. */
function fromExpressSession(id: string, sess: Record<string, unknown>, ttlMs: number, userField: string, absoluteTtlMs: number, now: number): PortableSession {
  const user = sess[userField];
  // Those stores keep no creation time: the absolute lifetime starts at the migration.
  return { id, user: user === undefined || user === null ? undefined : String(user), data: sess, createdAt: now, expiresAt: now + Math.max(absoluteTtlMs, ttlMs), ttlMs };
}

async function* redisPages(
  client: RedisClientSource,
  pattern: string,
  start: { node: number; cursor: string },
  batch: number,
  read: (node: Redis, keys: string[]) => Promise<(PortableSession | null)[]>,
): AsyncGenerator<Page> {
  const nodes = primaries(await resolveClient(client));
  for (let node = start.node; node < nodes.length; node += 1) {
    let cursor = node === start.node ? start.cursor : '0';
    const server = nodes[node] as Redis;
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', batch);
      cursor = next;
      yield { sessions: await read(server, keys), node: cursor === '0' ? node + 1 : node, cursor: cursor === '0' ? '0' : cursor };
    } while (cursor !== '0');
  }
}

function pages(source: MigrationSource, start: { node: number; cursor: string }, batch: number, now: () => number): AsyncGenerator<Page> {
  switch (source.kind) {
    case 'opsctl': {
      const keys: SessionKeys = source.store.keys;
      return redisPages(source.client, keys.sessionPattern, start, batch, (_node, found) =>
        Promise.all(found.map((key) => keys.idOf(key)).filter((id) => id !== undefined).map((id) => source.store.export(id))),
      );
    }
    case 'connect-redis':
      return redisPages(source.client, `${escapeGlob(source.prefix)}*`, start, batch, async (node, found) =>
        Promise.all(found.map((key) => readConnectRedis(source, node, key.slice(source.prefix.length), now()))),
      );
    case 'connect-pg-simple':
      return pgPages(source, start, batch, now);
  }
}

/** One connect-redis session; null when gone or not JSON (connect-redis' own reader would fail too). */
async function readConnectRedis(source: Extract<MigrationSource, { kind: 'connect-redis' }>, node: Redis | Cluster, id: string, now: number): Promise<PortableSession | null> {
  const key = source.prefix + id;
  const [text, ttlMs] = await Promise.all([node.get(key), node.pttl(key)]);
  if (text === null || ttlMs === -2) return null;
  let sess: Record<string, unknown>;
  try {
    sess = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  // A key without TTL (connect-redis disableTTL) gets the absolute lifetime.
  return fromExpressSession(id, sess, ttlMs < 0 ? source.absoluteTtlMs : ttlMs, source.userField, source.absoluteTtlMs, now);
}

/** `schema.table` as a quoted identifier. */
function quoteTable(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
}

async function* pgPages(source: Extract<MigrationSource, { kind: 'connect-pg-simple' }>, start: { node: number; cursor: string }, batch: number, now: () => number): AsyncGenerator<Page> {
  if (start.node > 0) return;
  const table = quoteTable(source.table);
  let after = start.cursor === '0' ? '' : start.cursor;
  for (;;) {
    // Keyset pagination on the primary key: resumable from the last sid, stable under inserts.
    const { rows } = await source.pool.query<{ sid: string; sess: Record<string, unknown>; ttl_ms: string }>(
      `SELECT sid, sess, (EXTRACT(EPOCH FROM (expire - now())) * 1000)::bigint AS ttl_ms FROM ${table} WHERE sid > $1 AND expire > now() ORDER BY sid LIMIT $2`,
      [after, batch],
    );
    if (rows.length === 0) return;
    after = rows.at(-1)!.sid;
    const sessions = rows.map((row) => fromExpressSession(row.sid, row.sess, Number(row.ttl_ms), source.userField, source.absoluteTtlMs, now()));
    yield { sessions, node: rows.length < batch ? 1 : 0, cursor: rows.length < batch ? '0' : after };
    if (rows.length < batch) return;
  }
}

async function readCheckpoint(path: string, source: string): Promise<Checkpoint | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const checkpoint = JSON.parse(text) as Checkpoint;
  if (checkpoint.version !== CHECKPOINT_VERSION || checkpoint.source !== source) {
    throw new OpsError('USAGE', `the checkpoint ${path} belongs to another migration (${checkpoint.source}, v${checkpoint.version})`, {
      hint: 'Pass another --checkpoint file, or delete this one to start over.',
    });
  }
  return checkpoint;
}

async function writeCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  const temp = `${path}.tmp`;
  await writeFile(temp, `${JSON.stringify(checkpoint)}\n`);
  await rename(temp, path);
}

/**
 * Copies every live session from `source` into `target` with its remaining TTL. Idempotent (a
 * session copied twice is written whole twice), resumable (the checkpoint records the SCAN
 * cursor or last sid after each page; an interrupted run starts again from there).
 */
export async function migrateSessions(options: MigrateOptions): Promise<MigrateResult> {
  const now = options.now ?? Date.now;
  const batch = options.batch ?? DEFAULT_BATCH;
  const sourceName = describeSource(options.source);
  const checkpoint = options.checkpointPath === undefined ? undefined : await readCheckpoint(options.checkpointPath, sourceName);
  let copied = checkpoint?.copied ?? 0;
  let skipped = 0;
  for await (const page of pages(options.source, { node: checkpoint?.node ?? 0, cursor: checkpoint?.cursor ?? '0' }, batch, now)) {
    options.signal?.throwIfAborted();
    await Promise.all(
      page.sessions.map(async (session) => {
        if (session === null || session.ttlMs <= 0) {
          skipped += 1;
          return;
        }
        await options.target.import(session);
        copied += 1;
      }),
    );
    if (options.checkpointPath !== undefined) {
      await writeCheckpoint(options.checkpointPath, { version: CHECKPOINT_VERSION, source: sourceName, node: page.node, cursor: page.cursor, copied });
    }
    options.onProgress?.(copied);
  }
  return { copied, skipped, resumed: checkpoint !== undefined };
}

function checksum(session: Pick<PortableSession, 'id' | 'user' | 'data'>): string {
  const sorted = Object.fromEntries(Object.entries(session.data).sort(([a], [b]) => (a < b ? -1 : 1)));
  return createHash('sha256').update(JSON.stringify([session.id, session.user ?? null, sorted])).digest('hex');
}

/** Compares every live source session with the target: presence, data, user, TTL within 1 s. */
export async function verifyMigration(options: Omit<MigrateOptions, 'checkpointPath' | 'onProgress'>): Promise<VerifyResult> {
  const now = options.now ?? Date.now;
  const missing: string[] = [];
  const different: string[] = [];
  const sourceSums: string[] = [];
  const targetSums: string[] = [];
  let count = 0;
  for await (const page of pages(options.source, { node: 0, cursor: '0' }, options.batch ?? DEFAULT_BATCH, now)) {
    options.signal?.throwIfAborted();
    for (const session of page.sessions) {
      if (session === null || session.ttlMs <= 0) continue;
      count += 1;
      const copy = await options.target.export(session.id);
      const expected = checksum(session);
      sourceSums.push(expected);
      if (copy === null) {
        missing.push(session.id);
        continue;
      }
      const actual = checksum(copy);
      targetSums.push(actual);
      if (actual !== expected || Math.abs(copy.ttlMs - session.ttlMs) > 1_000) different.push(session.id);
    }
  }
  const digest = (sums: string[]) => createHash('sha256').update(sums.sort().join('\n')).digest('hex');
  return { source: count, matching: count - missing.length - different.length, missing, different, sourceChecksum: digest(sourceSums), targetChecksum: digest(targetSums) };
}

/** A dual-read fallback over a migration source's single-session lookup (see `fallback`). */
export function fallbackFrom(source: MigrationSource, now: () => number = Date.now): (id: string) => Promise<PortableSession | null> {
  switch (source.kind) {
    case 'opsctl':
      return (id) => source.store.export(id);
    case 'connect-redis':
      return async (id) => readConnectRedis(source, await resolveClient(source.client), id, now());
    case 'connect-pg-simple':
      return async (id) => {
        const table = quoteTable(source.table);
        const { rows } = await source.pool.query<{ sess: Record<string, unknown>; ttl_ms: string }>(
          `SELECT sess, (EXTRACT(EPOCH FROM (expire - now())) * 1000)::bigint AS ttl_ms FROM ${table} WHERE sid = $1 AND expire > now()`,
          [id],
        );
        const row = rows[0];
        return row === undefined ? null : fromExpressSession(id, row.sess, Number(row.ttl_ms), source.userField, source.absoluteTtlMs, now());
      };
  }
}
