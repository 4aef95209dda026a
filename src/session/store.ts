import { randomBytes } from 'node:crypto';
import type { ChainableCommander } from 'ioredis';
import { OpsError } from '../core/errors.js';
import { formatBytes } from '../core/parse.js';
import { evalLuaScript, loadLuaScript, type LuaScript } from '../redis/lua-script.js';
import { runRead, runWrite, type RedisClientSource } from '../redis/failover-policy.js';
import type { RedisClient } from '../redis/connection.js';
import { SessionCodec, UnreadableValue, type SessionKey, type UnreadableReason } from './codec.js';
import { DATA_PREFIX, FORMAT_VERSION, META, sessionKeys, type SessionKeys } from './layout.js';
import { VALUE_LAYOUT, bodyContext, formatValue, layoutOf, parseValue, type ParsedValue, type SessionHeader } from './value.js';

/** Layout 1: writes changed fields of a session hash. */
const writeScript = loadLuaScript(import.meta.url, 'session-write');
/** Layout 2: compare-and-set of the session string on its revision. */
const saveScript = loadLuaScript(import.meta.url, 'session-save');
/** Deletes a session of either layout (only if it belongs to the given user, when one is named). */
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
  /**
   * Layout new sessions are written in (default 2, one string per session). Existing sessions
   * keep theirs: layout 1 sessions are read and updated as layout 1 until they end or
   * `session migrate` rewrites them. Use 1 while application instances of an opsctl that reads
   * only layout 1 still run.
   */
  layout?: 1 | 2;
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
  /** What was read, for a later `save` to compare against. */
  base: SessionBase;
}

/**
 * The state a session was read in. `save` writes only if the session still has this revision,
 * and otherwise merges the fields the caller changed since (relative to `text`) into the newer
 * state, so concurrent requests changing different fields both persist.
 */
export interface SessionBase {
  /** Revision of a layout 2 session; 0 for a layout 1 session (written field by field). */
  revision: number;
  createdAt: number;
  expiresAt: number;
  user: string | undefined;
  /** The data's JSON text as read. */
  text: string;
}

export interface SaveOptions {
  /** What the session was when the caller read it; absent for a new session. */
  base?: SessionBase;
  /** User to index the session under, null for none; default: the base's user. */
  user?: string | null;
  /** `JSON.stringify(data)`, when the caller has it already. */
  text?: string;
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
  /**
   * Writes `data` as the session's data (one compare-and-set), merging with writes made since
   * `base` was read; returns the new base, or null when the session is gone (destroyed, expired:
   * a late save never brings it back). Without a base it creates the session.
   */
  save(id: string, data: Record<string, unknown>, options?: SaveOptions): Promise<SessionBase | null>;
  /** Writes only the named fields (a read, then a save); false when the session does not exist (and `create` is off). */
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
  /**
   * Writes a copied session whole, keeping its lifetimes; idempotent. `onlyIfMissing` leaves an
   * existing session alone (dual-read copies) and returns false then.
   */
  import(session: PortableSession, options?: { onlyIfMissing?: boolean }): Promise<boolean>;
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

/** Compare-and-set rounds a save may lose to other writers before it gives up. */
const SAVE_ATTEMPTS = 16;

/** A session id: 24 random bytes, base64url (32 characters). */
export function newSessionId(): string {
  return randomBytes(24).toString('base64url');
}

/** What a session key holds: a layout 2 string, a layout 1 hash, or nothing. */
type Stored = { layout: 2; value: string } | { layout: 1; hash: Record<string, string> } | null;

/** One write command or script, sent alone or (durability 'replica') with WAIT behind it. */
type WriteUnit = { command: 'set' | 'del'; args: (string | number)[] } | { script: LuaScript; key: string; args: (string | number)[] };

/** The fields of `after` that differ from `before` (by JSON text), and those it dropped. */
function fieldChanges(before: Record<string, unknown>, after: Record<string, unknown>): Required<Pick<SessionChanges, 'set' | 'unset'>> {
  const set: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(after)) {
    if (value !== undefined && JSON.stringify(value) !== JSON.stringify(before[name])) set[name] = value;
  }
  const unset = Object.keys(before).filter((name) => after[name] === undefined);
  return { set, unset };
}

function applyChanges(data: Record<string, unknown>, changes: SessionChanges): Record<string, unknown> {
  const result = { ...data };
  for (const [name, value] of Object.entries(changes.set ?? {})) {
    if (value === undefined) delete result[name];
    else result[name] = value;
  }
  for (const name of changes.unset ?? []) delete result[name];
  return result;
}

function parseData(text: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new UnreadableValue('corrupt', 'the session data is not valid JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new UnreadableValue('corrupt', 'the session data is not a JSON object');
  return data as Record<string, unknown>;
}

const isWrongType = (error: unknown) => error instanceof Error && error.message.startsWith('WRONGTYPE');

/** Reads a session key of either layout: GET, and HGETALL only when the key is a (layout 1) hash. */
function fetchStored(c: RedisClient, key: string): Promise<Stored> {
  return c.get(key).then(
    (value) => (value === null ? null : { layout: 2, value }),
    (error: unknown) => {
      if (!isWrongType(error)) throw error;
      return c.hgetall(key).then((hash) => (hash[META.version] === undefined ? null : { layout: 1, hash }));
    },
  );
}

/**
 * The Redis session store (docs/sessions.md). Layout 2: one string per session (a short header
 * and the data's JSON), read with one GET, written with one compare-and-set on its revision, so
 * concurrent requests that change different fields both persist; layout 1 hashes stay readable
 * and writable. Idle and absolute expiry; a per-user index; optional encryption at rest and
 * replica durability.
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
  const layout = options.layout ?? 2;
  const policy = { timeoutMs: options.failoverTimeoutMs ?? 10_000 };
  const now = options.now ?? Date.now;
  const codec = new SessionCodec(options.encryptionKeys ?? []);
  const counts: UnreadableCounts = { version: 0, corrupt: 0, 'unknown-key': 0, decrypt: 0 };
  // Sessions written lately by this store, with the time their reads may go back to a replica.
  const recentWrites = new Map<string, number>();
  let closed = false;

  const usable = () => {
    if (closed) throw new OpsError('INTERNAL', 'the session store was used after close()');
  };

  const unreadable = (id: string, error: UnreadableValue) => {
    counts[error.reason] += 1;
    options.onUnreadable?.(id, error.reason, error.message);
  };

  /**
   * Runs one write unit. With durability 'replica', WAIT follows it in the same pipeline, on the
   * connection (in a Cluster: the node owning the key's slot) that ran the write, so the
   * acknowledgement counts this write: it is on `replicas` replicas or the caller hears about
   * it. A connection lost between the two is REDIS_WRITE_UNCERTAIN, never a silent success.
   */
  const write = (unit: WriteUnit): Promise<unknown> => runWrite(client, (c) => (durable ? writeAndWait(c, unit) : send(c, unit)), policy);

  const send = (c: RedisClient, unit: WriteUnit): Promise<unknown> =>
    'script' in unit ? evalLuaScript(c, unit.script, [unit.key], unit.args) : c.call(unit.command, ...unit.args);

  const writeAndWait = async (c: RedisClient, unit: WriteUnit, withSource = false): Promise<unknown> => {
    const pipeline: ChainableCommander = c.pipeline();
    if (!('script' in unit)) pipeline.call(unit.command, ...unit.args);
    else if (withSource) pipeline.eval(unit.script.source, 1, unit.key, ...unit.args);
    else pipeline.evalsha(unit.script.sha, 1, unit.key, ...unit.args);
    pipeline.wait(replicas, waitTimeoutMs);
    const [[writeError, result], [waitError, acknowledged]] = (await pipeline.exec()) as [[Error | null, unknown], [Error | null, unknown]];
    // NOSCRIPT: the script did not run (the WAIT after it did nothing); send its source once.
    if (writeError !== null && 'script' in unit && !withSource && writeError.message.startsWith('NOSCRIPT')) return writeAndWait(c, unit, true);
    if (writeError !== null) throw writeError;
    if (waitError !== null) throw waitError;
    if ((acknowledged as number) < replicas) {
      throw new OpsError('SESSION_NOT_DURABLE', `the session write reached ${String(acknowledged)} of ${replicas} replica(s) within ${waitTimeoutMs} ms`, {
        hint: 'A replica is down or lagging (`opsctl redis topology`); the write is on the primary only and is lost if the primary fails now.',
        details: { acknowledged, required: replicas },
      });
    }
    return result;
  };

  const index = (user: string, id: string, score: number) => runWrite(client, (c) => c.zadd(keys.user(user), score, id), policy);
  const unindex = (user: string, ...ids: string[]) => runWrite(client, (c) => c.zrem(keys.user(user), ...ids), policy);

  const noteWrite = (id: string) => {
    if (options.readClient === undefined) return;
    const at = now();
    recentWrites.set(id, at + readYourWritesMs);
    if (recentWrites.size > 10_000) for (const [key, until] of recentWrites) if (until <= at) recentWrites.delete(key);
  };

  /** The session key's content from the primary (`fresh`) or, where allowed, a replica. */
  const readStored = async (id: string, fresh = false): Promise<Stored> => {
    const key = keys.session(id);
    const readClient = options.readClient;
    if (!fresh && readClient !== undefined && !((recentWrites.get(id) ?? 0) > now())) {
      const fromReplica = await runRead(readClient, (c) => fetchStored(c, key), policy);
      // A replica that lags behind a write of another instance: ask the primary.
      if (fromReplica !== null) return fromReplica;
    }
    // Fast path on a connected client: one command, no policy wrapper. Any failure goes to
    // runRead, which retries across a failover or maps the error (a read may run twice).
    if (typeof client !== 'function' && client.status === 'ready') return fetchStored(client, key).catch(() => runRead(client, (c) => fetchStored(c, key), policy));
    return runRead(client, (c) => fetchStored(c, key), policy);
  };

  const decodeLayout1 = (id: string, hash: Record<string, string>): Record<string, unknown> => {
    const version = hash[META.version];
    if (version !== FORMAT_VERSION) throw new UnreadableValue('version', `format version ${String(version)} is not ${FORMAT_VERSION}`);
    const data: Record<string, unknown> = {};
    for (const [field, stored] of Object.entries(hash)) {
      if (field.startsWith(DATA_PREFIX)) data[field.slice(DATA_PREFIX.length)] = codec.decode(id, field, stored);
    }
    return data;
  };

  const encodeBody = (id: string, header: SessionHeader, text: string) => (codec.encrypting ? codec.encode(id, bodyContext(header), text) : text);

  const decodeLayout2 = (id: string, parsed: ParsedValue): { data: Record<string, unknown>; text: string } => {
    // The context string is only needed (and built) for an encrypted body.
    const text = codec.encrypted(parsed.body) ? codec.decodeText(id, bodyContext(parsed), parsed.body, 'the session data') : parsed.body;
    return { data: parseData(text), text };
  };

  /** A stored session as a record (null past its absolute lifetime); throws UnreadableValue. */
  const decode = (id: string, stored: NonNullable<Stored>): SessionRecord | null => {
    if (stored.layout === 2) {
      const parsed = parseValue(stored.value);
      if (!(parsed.expiresAt > now())) return null;
      const { data, text } = decodeLayout2(id, parsed);
      const { revision, createdAt, expiresAt, user } = parsed;
      return { id, user, data, createdAt, expiresAt, base: { revision, createdAt, expiresAt, user, text } };
    }
    const { hash } = stored;
    const expiresAt = Number(hash[META.expiresAt]);
    const data = decodeLayout1(id, hash);
    if (!(expiresAt > now())) return null;
    const createdAt = Number(hash[META.createdAt]);
    const user = hash[META.user];
    return { id, user, data, createdAt, expiresAt, base: { revision: 0, createdAt, expiresAt, user, text: JSON.stringify(data) } };
  };

  /** A record, or null (and counted) when it cannot be read or is past its lifetime. */
  const readable = (id: string, stored: NonNullable<Stored>): SessionRecord | null => {
    try {
      return decode(id, stored);
    } catch (error) {
      if (!(error instanceof UnreadableValue)) throw error;
      unreadable(id, error);
      return null;
    }
  };

  /** Not in this store: dual-read copies it from the fallback, if that has it. */
  const absent = async (id: string): Promise<SessionRecord | null> => {
    const copied = options.fallback === undefined ? null : await options.fallback(id);
    if (copied === null || copied.ttlMs <= 0 || copied.expiresAt <= now()) return null;
    // Another request may have copied (and changed) it first: then that copy wins.
    if (!(await importSession(copied, { onlyIfMissing: true }))) return get(id);
    const base = { revision: layout === 2 ? 1 : 0, createdAt: copied.createdAt, expiresAt: copied.expiresAt, user: copied.user, text: JSON.stringify(copied.data) };
    return { id, user: copied.user, data: copied.data, createdAt: copied.createdAt, expiresAt: copied.expiresAt, base };
  };

  const get = async (id: string): Promise<SessionRecord | null> => {
    usable();
    // The hot path: one GET on a connected primary, decoded in its own continuation.
    if (options.readClient === undefined && typeof client !== 'function' && client.status === 'ready') {
      let value: string | null | undefined;
      try {
        value = await client.get(keys.session(id));
      } catch {
        value = undefined;
      }
      if (typeof value === 'string') return readable(id, { layout: 2, value });
      if (value === null) return absent(id);
    }
    // Anything else (replica reads, a failover, a layout 1 hash) takes the general path.
    const stored = await readStored(id);
    return stored === null ? absent(id) : readable(id, stored);
  };

  const tooLarge = (id: string, bytes: number) =>
    new OpsError('SESSION_TOO_LARGE', `session ${shortId(id)} would be ${formatBytes(bytes)}, over its limit of ${formatBytes(maxBytes)}`, {
      hint: 'Store large data elsewhere and keep its id in the session, or raise `session.maxBytes`.',
      details: { bytes, maxBytes },
    });

  const unreadableForWrite = (id: string, error: UnreadableValue) => {
    unreadable(id, error);
    return new OpsError('SESSION_UNREADABLE', `session ${shortId(id)} cannot be updated: ${error.message}`, {
      hint: error.reason === 'version' ? 'A newer opsctl wrote it: upgrade this application, or revoke the session.' : 'Revoke the session (`opsctl session revoke`); the application treats it as signed out.',
    });
  };

  /** Layout 1: the changed fields through session-write.lua (see docs/sessions.md, layout 1). */
  const updateLayout1 = async (id: string, changes: SessionChanges, create: boolean, at = now()): Promise<boolean> => {
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
    if (typeof user === 'string') await index(user, id, at + absoluteTtlMs);
    const key = keys.session(id);
    const reply = (await write({ script: writeScript, key, args: [at, idleTtlMs, absoluteTtlMs, maxBytes, create ? 'upsert' : 'update', userOp, set.length, ...args] })) as [
      number,
      string,
      number,
      number,
      number,
    ];
    const [status, previousUser, , , size] = reply;
    if (status === -1) throw tooLarge(id, size);
    if (status === -3) throw unreadableForWrite(id, new UnreadableValue('version', `format version ${previousUser} is not ${FORMAT_VERSION}`));
    if (status === 1 && previousUser !== '' && user !== undefined && previousUser !== user) await unindex(previousUser, id);
    noteWrite(id);
    return status === 1;
  };

  /**
   * Layout 2: one SET NX (new session) or one compare-and-set on the base's revision. A lost
   * compare-and-set returns the newer value; the fields this save changed relative to its base
   * are applied to it and the compare-and-set is tried again.
   */
  const saveLayout2 = async (id: string, data: Record<string, unknown>, text: string, base: SessionBase | undefined, user: string | undefined): Promise<SessionBase | null> => {
    const key = keys.session(id);
    let current = base;
    let body = text;
    let owner = user;
    let changes: Required<Pick<SessionChanges, 'set' | 'unset'>> | undefined;
    for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt += 1) {
      const at = now();
      const header: SessionHeader =
        current === undefined
          ? { revision: 1, createdAt: at, expiresAt: at + absoluteTtlMs, user: owner }
          : { revision: current.revision + 1, createdAt: current.createdAt, expiresAt: current.expiresAt, user: owner };
      const ttl = Math.min(idleTtlMs, header.expiresAt - at);
      if (ttl <= 0) return null;
      const stored = encodeBody(id, header, body);
      // A UTF-16 unit is at most 3 bytes in UTF-8: count exactly only near the limit.
      if (stored.length * 3 > maxBytes) {
        const bytes = Buffer.byteLength(stored);
        if (bytes > maxBytes) throw tooLarge(id, bytes);
      }
      // The index first, as for layout 1: a superset of the user's live sessions.
      if (owner !== undefined && owner !== current?.user) await index(owner, id, header.expiresAt);
      const value = formatValue(header, stored);
      const reply =
        current === undefined
          ? await write({ command: 'set', args: [key, value, 'PX', ttl, 'NX'] })
          : await write({ script: saveScript, key, args: [current.revision, value, ttl] });
      if (reply === 'OK' || reply === 1) {
        if (current?.user !== undefined && current.user !== owner) await unindex(current.user, id);
        noteWrite(id);
        return { ...header, text: body };
      }
      if (reply === 0) return null;
      // Lost the race: merge this save's changes into what is there now.
      const newer = reply === null ? await readStored(id, true) : ({ layout: 2, value: reply as string } as const);
      if (newer === null) continue;
      changes ??= fieldChanges(base === undefined ? {} : parseData(base.text), data);
      const userChanged = user !== base?.user;
      // Only a create (SET NX) can meet a layout 1 hash: write the changes to it field by field.
      if (newer.layout === 1) {
        return (await updateLayout1(id, { ...changes, ...(userChanged ? { user: user ?? null } : {}) }, false)) ? { revision: 0, createdAt: 0, expiresAt: 0, user, text } : null;
      }
      let fresh: SessionRecord | null;
      try {
        fresh = decode(id, newer);
      } catch (error) {
        if (!(error instanceof UnreadableValue)) throw error;
        throw unreadableForWrite(id, error);
      }
      if (fresh === null) return null;
      current = fresh.base;
      owner = userChanged ? user : fresh.user;
      body = JSON.stringify(applyChanges(fresh.data, changes));
    }
    throw new OpsError('SESSION_CONFLICT', `session ${shortId(id)} was changed by other writes ${SAVE_ATTEMPTS} times while this save tried to write it`, {
      hint: 'Retry the request; avoid writing the session on every request of a busy page.',
    });
  };

  const save = async (id: string, data: Record<string, unknown>, saveOptions: SaveOptions = {}): Promise<SessionBase | null> => {
    usable();
    const { base } = saveOptions;
    const user = saveOptions.user === undefined ? base?.user : (saveOptions.user ?? undefined);
    const text = saveOptions.text ?? JSON.stringify(data);
    if (base?.revision === 0 || (base === undefined && layout === 1)) {
      const at = now();
      const changes = fieldChanges(base === undefined ? {} : parseData(base.text), data);
      const written = await updateLayout1(id, { ...changes, ...(user !== base?.user || base === undefined ? { user: user ?? null } : {}) }, base === undefined, at);
      return written ? { revision: 0, createdAt: base?.createdAt ?? at, expiresAt: base?.expiresAt ?? at + absoluteTtlMs, user, text } : null;
    }
    return saveLayout2(id, data, text, base, user);
  };

  const update = async (id: string, changes: SessionChanges, updateOptions: UpdateOptions = {}): Promise<boolean> => {
    usable();
    const create = updateOptions.create === true;
    const stored = await readStored(id, true);
    if (stored?.layout === 1 || (stored === null && layout === 1)) return updateLayout1(id, changes, create);
    let record: SessionRecord | null = null;
    if (stored !== null) {
      try {
        record = decode(id, stored);
      } catch (error) {
        if (!(error instanceof UnreadableValue)) throw error;
        throw unreadableForWrite(id, error);
      }
      // Past its absolute lifetime: gone for writers too (and out of the way of a new one).
      if (record === null) await write({ command: 'del', args: [keys.session(id)] });
    }
    if (record === null && !create) return false;
    const data = applyChanges(record?.data ?? {}, changes);
    const user = changes.user === undefined ? record?.user : (changes.user ?? undefined);
    return (await saveLayout2(id, data, JSON.stringify(data), record?.base, user)) !== null;
  };

  const importSession = async (session: PortableSession, importOptions: { onlyIfMissing?: boolean } = {}): Promise<boolean> => {
    usable();
    const ttl = Math.max(1, Math.round(session.ttlMs));
    const key = keys.session(session.id);
    const user = session.user;
    if (user !== undefined) await index(user, session.id, session.expiresAt);
    let written: boolean;
    if (layout === 2) {
      const header = { revision: 1, createdAt: session.createdAt, expiresAt: session.expiresAt, user };
      const value = formatValue(header, encodeBody(session.id, header, JSON.stringify(session.data)));
      const args = [key, value, 'PX', ttl, ...(importOptions.onlyIfMissing === true ? ['NX'] : [])];
      written = (await write({ command: 'set', args })) === 'OK';
    } else {
      const args: (string | number)[] = [];
      let bytes = 0;
      for (const [name, value] of Object.entries(session.data)) {
        if (value === undefined) continue;
        const field = DATA_PREFIX + name;
        const stored = codec.encode(session.id, field, JSON.stringify(value));
        bytes += field.length + stored.length;
        args.push(field, stored);
      }
      const onlyIfMissing = importOptions.onlyIfMissing === true ? '1' : '';
      written = (await write({ script: importScript, key, args: [ttl, session.createdAt, session.expiresAt, bytes, user ?? '', onlyIfMissing, ...args] })) === 1;
    }
    if (written) noteWrite(session.id);
    return written;
  };

  const exportSession = async (id: string): Promise<PortableSession | null> => {
    usable();
    const [record, summary] = await Promise.all([get(id), summaryOf(id)]);
    if (record === null || summary === null) return null;
    const { base: _base, ...rest } = record;
    return { ...rest, ttlMs: summary.ttlMs };
  };

  const create = async (init: { data?: Record<string, unknown>; user?: string } = {}): Promise<SessionRecord> => {
    const id = newSessionId();
    const data = init.data ?? {};
    const base = await save(id, data, { user: init.user ?? null });
    if (base === null) throw new OpsError('INTERNAL', 'a new session could not be written');
    return { id, user: init.user, data, createdAt: base.createdAt, expiresAt: base.expiresAt, base };
  };

  // One PEXPIRE, the cheapest possible touch: it may carry a session's key past its absolute
  // lifetime by up to one idle TTL, but reads and writes check the expiry, so it is never used then.
  const touch = async (id: string): Promise<boolean> => {
    usable();
    return (await runWrite(client, (c) => c.pexpire(keys.session(id), idleTtlMs), policy)) === 1;
  };

  const destroyWhere = async (id: string, owner: string): Promise<boolean> => {
    const reply = (await write({ script: SESSION_DESTROY_SCRIPT, key: keys.session(id), args: [owner, encodeURIComponent(owner)] })) as [number, string, number];
    const [deleted, storedUser, storedLayout] = reply;
    const user = storedLayout === 2 ? decodeURIComponent(storedUser) : storedUser;
    if (deleted === 1 && user !== '') await unindex(user, id);
    recentWrites.delete(id);
    return deleted === 1;
  };

  const destroy = async (id: string): Promise<boolean> => {
    usable();
    return destroyWhere(id, '');
  };

  /** Header and size of a session of either layout, without decoding its data. */
  const describe = (stored: NonNullable<Stored>): Omit<SessionSummary, 'id' | 'ttlMs'> & { version: string; body?: ParsedValue } => {
    if (stored.layout === 2) {
      const parsed = parseValue(stored.value);
      return { version: VALUE_LAYOUT, user: parsed.user, createdAt: parsed.createdAt, expiresAt: parsed.expiresAt, bytes: Buffer.byteLength(parsed.body), body: parsed };
    }
    const { hash } = stored;
    return { version: hash[META.version] ?? '', user: hash[META.user], createdAt: Number(hash[META.createdAt]), expiresAt: Number(hash[META.expiresAt]), bytes: Number(hash[META.bytes] ?? 0) };
  };

  const readWithTtl = (id: string) => {
    const key = keys.session(id);
    return runRead(client, (c) => Promise.all([fetchStored(c, key), c.pttl(key)]), policy);
  };

  const summaryOf = async (id: string): Promise<SessionSummary | null> => {
    const [stored, ttlMs] = await readWithTtl(id);
    if (stored === null || ttlMs < 0) return null;
    let described: ReturnType<typeof describe>;
    try {
      described = describe(stored);
    } catch (error) {
      if (error instanceof UnreadableValue) return null;
      throw error;
    }
    if (!(described.expiresAt > now())) return null;
    const { user, createdAt, expiresAt, bytes } = described;
    return { id, user, createdAt, expiresAt, ttlMs, bytes };
  };

  const listForUser = async (user: string): Promise<SessionSummary[]> => {
    usable();
    const userKey = keys.user(user);
    await runWrite(client, (c) => c.zremrangebyscore(userKey, '-inf', now()), policy);
    const ids = await runRead(client, (c) => c.zrange(userKey, 0, -1), policy);
    const found = await Promise.all(ids.map((id) => summaryOf(id)));
    const live: SessionSummary[] = [];
    const stale: string[] = [];
    found.forEach((summary, i) => {
      if (summary !== null && summary.user === user) live.push(summary);
      else stale.push(ids[i] as string);
    });
    if (stale.length > 0) await unindex(user, ...stale);
    return live.sort((a, b) => a.createdAt - b.createdAt);
  };

  const destroyForUser = async (user: string): Promise<number> => {
    usable();
    const ids = await runRead(client, (c) => c.zrange(keys.user(user), 0, -1), policy);
    let destroyed = 0;
    for (const id of ids) if (await destroyWhere(id, user)) destroyed += 1;
    if (ids.length > 0) await unindex(user, ...ids);
    return destroyed;
  };

  const inspect = async (id: string): Promise<SessionInspection | null> => {
    usable();
    const [stored, ttlMs] = await readWithTtl(id);
    if (stored === null || ttlMs === -2) return null;
    let summary: ReturnType<typeof describe>;
    try {
      summary = describe(stored);
    } catch (error) {
      if (!(error instanceof UnreadableValue)) throw error;
      const value = stored.layout === 2 ? stored.value : '';
      const fields = [{ name: '(value)', bytes: Buffer.byteLength(value), keyId: undefined }];
      return { id, version: layoutOf(value) ?? '?', user: undefined, createdAt: 0, expiresAt: 0, ttlMs, bytes: Buffer.byteLength(value), fields, data: undefined, problem: `${error.reason}: ${error.message}` };
    }
    const { body, ...meta } = summary;
    if (!(meta.expiresAt > now())) return null;
    let data: Record<string, unknown> | undefined;
    let problem: string | undefined;
    try {
      data = body === undefined ? decodeLayout1(id, (stored as { hash: Record<string, string> }).hash) : decodeLayout2(id, body).data;
    } catch (error) {
      if (!(error instanceof UnreadableValue)) throw error;
      problem = `${error.reason}: ${error.message}`;
    }
    let fields: SessionInspection['fields'];
    if (stored.layout === 1) {
      fields = Object.entries(stored.hash)
        .filter(([field]) => field.startsWith(DATA_PREFIX))
        .map(([field, value]) => ({ name: field.slice(DATA_PREFIX.length), bytes: field.length + value.length, keyId: codec.keyIdOf(value) }));
    } else {
      const keyId = codec.keyIdOf(body?.body ?? '');
      fields = Object.entries(data ?? {}).map(([name, value]) => ({ name, bytes: name.length + Buffer.byteLength(JSON.stringify(value) ?? ''), keyId }));
    }
    return { id, ...meta, ttlMs, fields, data, problem };
  };

  const notRekeyable = (id: string, error: UnreadableValue) =>
    new OpsError('SESSION_UNREADABLE', `session ${shortId(id)} cannot be rekeyed: ${error.message}`, {
      hint: 'Keep every old key in session.encryption.keys until the rekey has finished.',
    });

  const rekey = async (id: string, rekeyOptions: { dryRun?: boolean } = {}): Promise<number> => {
    usable();
    const current = codec.currentKeyId;
    if (current === undefined) {
      throw new OpsError('SESSION_NOT_CONFIGURED', 'rekey needs session.encryption.keys', { hint: 'Add the new key first in `session.encryption.keys`, keeping the old ones after it.' });
    }
    const stored = await readStored(id, true);
    if (stored === null) return 0;
    if (stored.layout === 2) {
      let parsed: ParsedValue;
      let text: string;
      try {
        parsed = parseValue(stored.value);
        if (codec.keyIdOf(parsed.body) === current) return 0;
        text = decodeLayout2(id, parsed).text;
      } catch (error) {
        if (!(error instanceof UnreadableValue)) throw error;
        throw notRekeyable(id, error);
      }
      if (rekeyOptions.dryRun === true) return 1;
      const header = { ...parsed, revision: parsed.revision + 1 };
      const value = formatValue(header, encodeBody(id, header, text));
      // Compare-and-set, TTL kept: a save since the read wins (and was written under the current key).
      return (await write({ script: saveScript, key: keys.session(id), args: [parsed.revision, value, ''] })) === 1 ? 1 : 0;
    }
    const { hash } = stored;
    if (hash[META.version] !== FORMAT_VERSION) return 0;
    const triples: string[] = [];
    for (const [field, value] of Object.entries(hash)) {
      if (!field.startsWith(DATA_PREFIX) || codec.keyIdOf(value) === current) continue;
      let text: string;
      try {
        text = codec.decodeText(id, field, value);
      } catch (error) {
        if (!(error instanceof UnreadableValue)) throw error;
        throw notRekeyable(id, error);
      }
      triples.push(field, value, codec.encode(id, field, text));
    }
    if (triples.length === 0 || rekeyOptions.dryRun === true) return triples.length / 3;
    return (await write({ script: rekeyScript, key: keys.session(id), args: triples })) as number;
  };

  return {
    keys,
    create,
    get,
    save,
    update,
    touch,
    destroy,
    listForUser,
    destroyForUser,
    unreadable: () => ({ ...counts }),
    inspect,
    rekey,
    summary: async (id) => {
      usable();
      return summaryOf(id);
    },
    export: exportSession,
    import: importSession,
    close: async () => {
      closed = true;
      recentWrites.clear();
    },
  };
}

/** Enough of an id to recognise it in a message without handing out a usable credential. */
export function shortId(id: string): string {
  return id.length > 8 ? `${id.slice(0, 6)}…` : id;
}
