import { randomBytes } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { OpsError } from '../core/errors.js';
import { formatBytes } from '../core/parse.js';
import { evalLuaScript, loadLuaScript } from '../redis/lua-script.js';
import { runRead, runWrite, type RedisClientSource } from '../redis/failover-policy.js';
import type { RedisClient } from '../redis/connection.js';
import { SessionCodec, UnreadableValue, type SessionKey, type UnreadableReason } from './codec.js';
import { DATA_PREFIX, FORMAT_VERSION, META, sessionKeys, type SessionKeys } from './layout.js';

const writeScript = loadLuaScript(import.meta.url, 'session-write');
/** Deletes a session hash (only if it belongs to the given user, when one is named). */
export const SESSION_DESTROY_SCRIPT = loadLuaScript(import.meta.url, 'session-destroy');
const rekeyScript = loadLuaScript(import.meta.url, 'session-rekey');
const importScript = loadLuaScript(import.meta.url, 'session-import');

export interface CreateSessionStoreOptions {
  /**
   * Primary connection (standalone, Sentinel or Cluster), or a function returning the current
   * one (`() => manager.shared()`, which follows Sentinel failovers); the caller owns and closes it.
   */
  client: RedisClientSource;
  /**
   * Opt-in replica reads: a client connected to a replica (ioredis Sentinel `role: 'slave'`).
   * A session this store wrote within `readYourWritesMs`, and any session the replica does not
   * have, is read from the primary, so a caller always sees its own writes.
   */
  readClient?: RedisClient;
  /** Window after a write during which reads of that session stay on the primary (default 5 s). */
  readYourWritesMs?: number;
  /** Default `opsctl:sess:`. */
  keyPrefix?: string;
  /** Idle expiry, restarted by every write and touch (default 30 min). */
  idleTtlMs?: number;
  /** Lifetime from creation, never extended (default 7 days). */
  absoluteTtlMs?: number;
  /** Largest session in bytes: data field names plus stored values (default 64 KiB). */
  maxBytes?: number;
  /** `replica`: each write waits for `replicas` acknowledgements (WAIT) or fails with SESSION_NOT_DURABLE. */
  durability?: 'primary' | 'replica';
  replicas?: number;
  /** Default 500 ms. */
  waitTimeoutMs?: number;
  /** AES-256-GCM keys; the first encrypts, all decrypt. */
  encryptionKeys?: readonly SessionKey[];
  /** How long reads retry and unsent writes wait across a failover (default 10 s). */
  failoverTimeoutMs?: number;
  /** Told about every session that exists but cannot be read (it is then treated as absent). */
  onUnreadable?: (id: string, reason: UnreadableReason, message: string) => void;
  /**
   * Dual-read during a migration: a session missing here is looked up with `fallback`, copied
   * here with its remaining TTL, and returned, so no user is signed out by the move.
   */
  fallback?: (id: string) => Promise<PortableSession | null>;
  /** Milliseconds since the epoch (tests). */
  now?: () => number;
}

/** A session as carried between stores (migration, dual-read): decoded data and its lifetimes. */
export interface PortableSession {
  id: string;
  user: string | undefined;
  data: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
  /** Remaining idle time in ms. */
  ttlMs: number;
}

/** A live session. */
export interface SessionRecord {
  id: string;
  user: string | undefined;
  data: Record<string, unknown>;
  createdAt: number;
  /** End of the absolute lifetime (ms since the epoch). */
  expiresAt: number;
}

/** A session without its data: what lists show. */
export interface SessionSummary {
  id: string;
  user: string | undefined;
  createdAt: number;
  expiresAt: number;
  /** Remaining idle time in ms. */
  ttlMs: number;
  /** Bytes counted against maxBytes. */
  bytes: number;
}

/** What a write changes; fields not named keep their stored value. */
export interface SessionChanges {
  set?: Record<string, unknown>;
  unset?: readonly string[];
  /** A user id to index the session under, or null to remove it from its user. */
  user?: string | null;
}

export interface UpdateOptions {
  /** Create the session when it does not exist (default false: a destroyed session stays destroyed). */
  create?: boolean;
}

/** Counts of sessions read but treated as absent, by reason. */
export type UnreadableCounts = Record<UnreadableReason, number>;

/** The raw view of one session for operators (`session show`): never throws on a bad value. */
export interface SessionInspection extends SessionSummary {
  version: string;
  fields: { name: string; bytes: number; keyId: string | undefined }[];
  /** Decoded data, or the reason it cannot be decoded. */
  data: Record<string, unknown> | undefined;
  problem: string | undefined;
}

export interface SessionStore {
  readonly keys: SessionKeys;
  /** A new session with a 192-bit id from the CSPRNG. */
  create(init?: { data?: Record<string, unknown>; user?: string }): Promise<SessionRecord>;
  /** The session, or null when it is missing, expired or unreadable (counted, see unreadable()). */
  get(id: string): Promise<SessionRecord | null>;
  /** Writes only the named fields; false when the session does not exist (and `create` is off). */
  update(id: string, changes: SessionChanges, options?: UpdateOptions): Promise<boolean>;
  /** Restarts the idle expiry (PEXPIRE only, no data rewritten); false when the session is gone. */
  touch(id: string): Promise<boolean>;
  destroy(id: string): Promise<boolean>;
  /** The user's live sessions, pruning index entries of sessions that are gone. */
  listForUser(user: string): Promise<SessionSummary[]>;
  /** Destroys every session of the user ("sign out everywhere"); returns how many. */
  destroyForUser(user: string): Promise<number>;
  unreadable(): UnreadableCounts;
  /** Operator view of one session (null when missing). */
  inspect(id: string): Promise<SessionInspection | null>;
  /** Re-encrypts values not under the current key; returns the fields rewritten (or, with dryRun, to rewrite). */
  rekey(id: string, options?: { dryRun?: boolean }): Promise<number>;
  /** Summary of one session (null when missing), for listings. */
  summary(id: string): Promise<SessionSummary | null>;
  /** The session with its remaining TTL, for copying elsewhere (null when missing or unreadable). */
  export(id: string): Promise<PortableSession | null>;
  /** Writes a copied session whole (replacing any), keeping its lifetimes; idempotent. */
  import(session: PortableSession): Promise<void>;
  /** The store does not own its clients: close() only stops further use. */
  close(): Promise<void>;
}

const DEFAULTS = {
  keyPrefix: 'opsctl:sess:',
  idleTtlMs: 30 * 60_000,
  absoluteTtlMs: 7 * 24 * 3_600_000,
  maxBytes: 64 * 1024,
  replicas: 1,
  waitTimeoutMs: 500,
  readYourWritesMs: 5_000,
};

/** A session id: 24 random bytes, base64url (32 characters). */
export function newSessionId(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * The Redis session store (docs/sessions.md): one hash per session holding each data field
 * separately, so concurrent requests that change different fields both persist; idle and
 * absolute expiry; a per-user index; optional encryption at rest and replica durability.
 */
export function createSessionStore(options: CreateSessionStoreOptions): SessionStore {
  const client = options.client;
  const keys = sessionKeys(options.keyPrefix ?? DEFAULTS.keyPrefix);
  const idleTtlMs = options.idleTtlMs ?? DEFAULTS.idleTtlMs;
  const absoluteTtlMs = options.absoluteTtlMs ?? DEFAULTS.absoluteTtlMs;
  const maxBytes = options.maxBytes ?? DEFAULTS.maxBytes;
  const durable = options.durability === 'replica';
  const replicas = options.replicas ?? DEFAULTS.replicas;
  const waitTimeoutMs = options.waitTimeoutMs ?? DEFAULTS.waitTimeoutMs;
  const readYourWritesMs = options.readYourWritesMs ?? DEFAULTS.readYourWritesMs;
  const policy = { timeoutMs: options.failoverTimeoutMs ?? 10_000 };
  const now = options.now ?? Date.now;
  const codec = new SessionCodec(options.encryptionKeys ?? []);
  const counts: UnreadableCounts = { version: 0, corrupt: 0, 'unknown-key': 0, decrypt: 0 };
  // Sessions written lately by this store, with the time their reads may go back to a replica.
  const recentWrites = new Map<string, number>();
  let closed = false;

  if (durable && client instanceof Cluster) throw clusterDurability();

  const usable = () => {
    if (closed) throw new OpsError('INTERNAL', 'the session store was used after close()');
  };

  /**
   * Runs one write unit, then (durability 'replica') WAIT on the same connection, so the
   * acknowledgement counts this write: the write is on `replicas` replicas or the caller hears
   * about it. A connection lost between the two is REDIS_WRITE_UNCERTAIN, never a silent success.
   */
  const write = <T>(unit: (c: RedisClient) => Promise<T>): Promise<T> =>
    runWrite(
      client,
      async (c) => {
        const result = await unit(c);
        if (durable) await awaitReplicas(c);
        return result;
      },
      policy,
    );

  const awaitReplicas = async (c: RedisClient): Promise<void> => {
    if (c instanceof Cluster) throw clusterDurability();
    const acknowledged = await (c as Redis).wait(replicas, waitTimeoutMs);
    if (acknowledged < replicas) {
      throw new OpsError('SESSION_NOT_DURABLE', `the session write reached ${acknowledged} of ${replicas} replica(s) within ${waitTimeoutMs} ms`, {
        hint: 'A replica is down or lagging (`opsctl redis topology`); the write is on the primary only and is lost if the primary fails now.',
        details: { acknowledged, required: replicas },
      });
    }
  };

  const noteWrite = (id: string) => {
    if (options.readClient === undefined) return;
    const at = now();
    recentWrites.set(id, at + readYourWritesMs);
    if (recentWrites.size > 10_000) for (const [key, until] of recentWrites) if (until <= at) recentWrites.delete(key);
  };

  const readHash = async (id: string): Promise<Record<string, string>> => {
    const key = keys.session(id);
    const readClient = options.readClient;
    const onPrimary = readClient === undefined || (recentWrites.get(id) ?? 0) > now();
    if (!onPrimary) {
      const fromReplica = await runRead(readClient, (c) => c.hgetall(key), policy);
      // A replica that lags behind a write of another instance: ask the primary.
      if (fromReplica[META.version] !== undefined) return fromReplica;
    }
    // Fast path on a connected client: one command, no policy wrapper. Any failure goes to
    // runRead, which retries across a failover or maps the error (a read may run twice).
    if (typeof client !== 'function' && client.status === 'ready') return client.hgetall(key).catch(() => runRead(client, (c) => c.hgetall(key), policy));
    return runRead(client, (c) => c.hgetall(key), policy);
  };

  const decodeData = (id: string, hash: Record<string, string>): Record<string, unknown> => {
    const data: Record<string, unknown> = {};
    for (const [field, stored] of Object.entries(hash)) {
      if (field.startsWith(DATA_PREFIX)) data[field.slice(DATA_PREFIX.length)] = codec.decode(id, field, stored);
    }
    return data;
  };

  const checkVersion = (hash: Record<string, string>) => {
    const version = hash[META.version];
    if (version !== FORMAT_VERSION) throw new UnreadableValue('version', `format version ${String(version)} is not ${FORMAT_VERSION}`);
  };

  const get = async (id: string): Promise<SessionRecord | null> => {
    usable();
    const hash = await readHash(id);
    if (hash[META.version] === undefined) {
      const copied = options.fallback === undefined ? null : await options.fallback(id);
      if (copied === null || copied.ttlMs <= 0 || copied.expiresAt <= now()) return null;
      await importSession(copied);
      return { id, user: copied.user, data: copied.data, createdAt: copied.createdAt, expiresAt: copied.expiresAt };
    }
    try {
      checkVersion(hash);
      const expiresAt = Number(hash[META.expiresAt]);
      if (!(expiresAt > now())) return null;
      return { id, user: hash[META.user], data: decodeData(id, hash), createdAt: Number(hash[META.createdAt]), expiresAt };
    } catch (error) {
      if (!(error instanceof UnreadableValue)) throw error;
      counts[error.reason] += 1;
      options.onUnreadable?.(id, error.reason, error.message);
      return null;
    }
  };

  const update = async (id: string, changes: SessionChanges, updateOptions: UpdateOptions = {}): Promise<boolean> => {
    usable();
    const at = now();
    const args: (string | number)[] = [];
    const set = Object.entries(changes.set ?? {}).filter(([, value]) => value !== undefined);
    for (const [name, value] of set) {
      const field = DATA_PREFIX + name;
      args.push(field, codec.encode(id, field, JSON.stringify(value)));
    }
    const unset = [...(changes.unset ?? []), ...Object.entries(changes.set ?? {}).filter(([, value]) => value === undefined).map(([name]) => name)];
    for (const name of unset) args.push(DATA_PREFIX + name);
    const user = changes.user;
    const userOp = user === undefined ? '' : user === null ? '-' : `=${user}`;
    // The index is written first: it may name a session that does not exist (pruned on read),
    // but never misses a live one, whichever slots the two keys live on.
    if (typeof user === 'string') {
      await runWrite(client, (c) => c.zadd(keys.user(user), at + absoluteTtlMs, id), policy);
    }
    const reply = (await write(
      (c) =>
        evalLuaScript(c, writeScript, [keys.session(id)], [
          at,
          idleTtlMs,
          absoluteTtlMs,
          maxBytes,
          updateOptions.create === true ? 'upsert' : 'update',
          userOp,
          set.length,
          ...args,
        ]),
    )) as [number, string, number, number, number];
    const [status, previousUser, , , size] = reply;
    if (status === -1) {
      throw new OpsError('SESSION_TOO_LARGE', `session ${shortId(id)} would be ${formatBytes(size)}, over its limit of ${formatBytes(maxBytes)}`, {
        hint: 'Store large data elsewhere and keep its id in the session, or raise `session.maxBytes`.',
        details: { bytes: size, maxBytes },
      });
    }
    if (status === -3) {
      counts.version += 1;
      options.onUnreadable?.(id, 'version', `format version ${previousUser} is not ${FORMAT_VERSION}`);
      throw new OpsError('SESSION_UNREADABLE', `session ${shortId(id)} has format version ${previousUser}; this opsctl writes ${FORMAT_VERSION}`, {
        hint: 'A newer opsctl wrote it: upgrade this application, or revoke the session.',
      });
    }
    if (status === 1 && previousUser !== '' && user !== undefined && previousUser !== user) {
      await runWrite(client, (c) => c.zrem(keys.user(previousUser), id), policy);
    }
    noteWrite(id);
    return status === 1;
  };

  const importSession = async (session: PortableSession): Promise<void> => {
    usable();
    const args: string[] = [];
    let bytes = 0;
    for (const [name, value] of Object.entries(session.data)) {
      if (value === undefined) continue;
      const field = DATA_PREFIX + name;
      const stored = codec.encode(session.id, field, JSON.stringify(value));
      bytes += field.length + stored.length;
      args.push(field, stored);
    }
    const user = session.user;
    if (user !== undefined) await runWrite(client, (c) => c.zadd(keys.user(user), session.expiresAt, session.id), policy);
    await write((c) =>
      evalLuaScript(c, importScript, [keys.session(session.id)], [Math.max(1, Math.round(session.ttlMs)), session.createdAt, session.expiresAt, bytes, user ?? '', ...args]),
    );
    noteWrite(session.id);
  };

  const exportSession = async (id: string): Promise<PortableSession | null> => {
    usable();
    const [record, summary] = await Promise.all([get(id), summaryOf(id)]);
    if (record === null || summary === null) return null;
    return { ...record, ttlMs: summary.ttlMs };
  };

  const create = async (init: { data?: Record<string, unknown>; user?: string } = {}): Promise<SessionRecord> => {
    const id = newSessionId();
    const at = now();
    await update(id, { set: init.data ?? {}, ...(init.user === undefined ? {} : { user: init.user }) }, { create: true });
    return { id, user: init.user, data: init.data ?? {}, createdAt: at, expiresAt: at + absoluteTtlMs };
  };

  // One PEXPIRE, the cheapest possible touch: it may carry a session's key past its absolute
  // lifetime by up to one idle TTL, but get() and every write check _e, so it is never used then.
  const touch = async (id: string): Promise<boolean> => {
    usable();
    return (await runWrite(client, (c) => c.pexpire(keys.session(id), idleTtlMs), policy)) === 1;
  };

  const destroyWhere = async (id: string, owner: string): Promise<boolean> => {
    const [deleted, user] = (await write((c) => evalLuaScript(c, SESSION_DESTROY_SCRIPT, [keys.session(id)], [owner]))) as [number, string];
    if (deleted === 1 && user !== '') await runWrite(client, (c) => c.zrem(keys.user(user), id), policy);
    recentWrites.delete(id);
    return deleted === 1;
  };

  const destroy = async (id: string): Promise<boolean> => {
    usable();
    return destroyWhere(id, '');
  };

  const summaryOf = async (id: string): Promise<(SessionSummary & { version: string }) | null> => {
    const key = keys.session(id);
    const [meta, ttlMs] = await runRead(client, (c) => Promise.all([c.hmget(key, META.version, META.user, META.createdAt, META.expiresAt, META.bytes), c.pttl(key)]), policy);
    const [version, user, createdAt, expiresAt, bytes] = meta;
    if (version === null || version === undefined || ttlMs < 0 || !(Number(expiresAt) > now())) return null;
    return { id, version, user: user ?? undefined, createdAt: Number(createdAt), expiresAt: Number(expiresAt), ttlMs, bytes: Number(bytes ?? 0) };
  };

  const listForUser = async (user: string): Promise<SessionSummary[]> => {
    usable();
    const index = keys.user(user);
    await runWrite(client, (c) => c.zremrangebyscore(index, '-inf', now()), policy);
    const ids = await runRead(client, (c) => c.zrange(index, 0, -1), policy);
    const found = await Promise.all(ids.map((id) => summaryOf(id)));
    const live: SessionSummary[] = [];
    const stale: string[] = [];
    found.forEach((summary, i) => {
      if (summary !== null && summary.user === user) {
        const { version: _version, ...rest } = summary;
        live.push(rest);
      } else stale.push(ids[i] as string);
    });
    if (stale.length > 0) await runWrite(client, (c) => c.zrem(index, ...stale), policy);
    return live.sort((a, b) => a.createdAt - b.createdAt);
  };

  const destroyForUser = async (user: string): Promise<number> => {
    usable();
    const index = keys.user(user);
    const ids = await runRead(client, (c) => c.zrange(index, 0, -1), policy);
    let destroyed = 0;
    for (const id of ids) if (await destroyWhere(id, user)) destroyed += 1;
    if (ids.length > 0) await runWrite(client, (c) => c.zrem(index, ...ids), policy);
    return destroyed;
  };

  const inspect = async (id: string): Promise<SessionInspection | null> => {
    usable();
    const hash = await runRead(client, (c) => c.hgetall(keys.session(id)), policy);
    const summary = await summaryOf(id);
    if (summary === null || hash[META.version] === undefined) return null;
    const fields = Object.entries(hash)
      .filter(([field]) => field.startsWith(DATA_PREFIX))
      .map(([field, stored]) => ({ name: field.slice(DATA_PREFIX.length), bytes: field.length + stored.length, keyId: codec.keyIdOf(stored) }));
    let data: Record<string, unknown> | undefined;
    let problem: string | undefined;
    try {
      checkVersion(hash);
      data = decodeData(id, hash);
    } catch (error) {
      if (!(error instanceof UnreadableValue)) throw error;
      problem = `${error.reason}: ${error.message}`;
    }
    return { ...summary, fields, data, problem };
  };

  const rekey = async (id: string, rekeyOptions: { dryRun?: boolean } = {}): Promise<number> => {
    usable();
    const current = codec.currentKeyId;
    if (current === undefined) {
      throw new OpsError('SESSION_NOT_CONFIGURED', 'rekey needs session.encryption.keys', { hint: 'Add the new key first in `session.encryption.keys`, keeping the old ones after it.' });
    }
    const hash = await runRead(client, (c) => c.hgetall(keys.session(id)), policy);
    if (hash[META.version] !== FORMAT_VERSION) return 0;
    const triples: string[] = [];
    for (const [field, stored] of Object.entries(hash)) {
      if (!field.startsWith(DATA_PREFIX) || codec.keyIdOf(stored) === current) continue;
      let text: string;
      try {
        text = codec.decodeText(id, field, stored);
      } catch (error) {
        if (!(error instanceof UnreadableValue)) throw error;
        throw new OpsError('SESSION_UNREADABLE', `session ${shortId(id)} cannot be rekeyed: ${error.message}`, {
          hint: 'Keep every old key in session.encryption.keys until the rekey has finished.',
        });
      }
      triples.push(field, stored, codec.encode(id, field, text));
    }
    if (triples.length === 0 || rekeyOptions.dryRun === true) return triples.length / 3;
    return (await write((c) => evalLuaScript(c, rekeyScript, [keys.session(id)], triples))) as number;
  };

  return {
    keys,
    create,
    get,
    update,
    touch,
    destroy,
    listForUser,
    destroyForUser,
    unreadable: () => ({ ...counts }),
    inspect,
    rekey,
    summary: async (id) => {
      const summary = await summaryOf(id);
      if (summary === null) return null;
      const { version: _version, ...rest } = summary;
      return rest;
    },
    export: exportSession,
    import: importSession,
    close: async () => {
      closed = true;
      recentWrites.clear();
    },
  };
}

function clusterDurability(): OpsError {
  return new OpsError('SESSION_NOT_CONFIGURED', 'durability "replica" is not supported on a Redis Cluster client', {
    hint: 'WAIT must reach the node that holds each session; use a standalone or Sentinel deployment, or durability "primary".',
  });
}

/** Enough of an id to recognise it in a message without handing out a usable credential. */
export function shortId(id: string): string {
  return id.length > 8 ? `${id.slice(0, 6)}…` : id;
}
