import type { SessionBase, SessionStore } from './store.js';
import { listSessionIds, destroyAllSessions } from './admin.js';
import type { RedisClientSource } from '../redis/failover-policy.js';

/** The session data express-session hands a store (a Session object, or the plain data we returned). */
type SessionData = Record<string, unknown>;
type Callback<T = void> = (error?: unknown, value?: T) => void;

/**
 * What the adapter needs of express-session's `Store` class (pass `session.Store`): its
 * createSession, typed loosely so express-session's own declarations fit without a cast.
 */
export type ExpressStoreClass = abstract new () => {
  createSession(req: never, data: never): object;
};

export interface ExpressSessionStoreOptions {
  /** The client the store was made with; all/length/clear/ids scan its sessions. */
  client: RedisClientSource;
  /** Session field holding the signed-in user's id, which indexes the session (default `userId`). */
  userField?: string;
}

/** An express-session store backed by a SessionStore. */
export interface ExpressSessionStore {
  get(sid: string, callback: Callback<SessionData | null>): void;
  set(sid: string, session: SessionData, callback?: Callback): void;
  touch(sid: string, session: SessionData, callback?: Callback): void;
  destroy(sid: string, callback?: Callback): void;
  all(callback: Callback<SessionData[]>): void;
  length(callback: Callback<number>): void;
  clear(callback?: Callback): void;
  ids(callback: Callback<string[]>): void;
}

// What get() read (revision and JSON text), attached (non-enumerable, so never stored) to the data
// returned by get() and carried over to the Session object express-session builds from it.
const LOADED = Symbol('opsctl.session.loaded');

function attach(target: object, base: SessionBase): void {
  Object.defineProperty(target, LOADED, { value: base, enumerable: false, configurable: true, writable: true });
}

function baseOf(target: SessionData): SessionBase | undefined {
  return (target as { [LOADED]?: SessionBase })[LOADED];
}

function settle<T>(work: Promise<T>, callback: Callback<T> | undefined): void {
  work.then(
    (value) => callback?.(null, value),
    (error: unknown) => callback?.(error),
  );
}

/**
 * An express-session `Store` over `store`: `new (createExpressSessionStore(session.Store, store, { client }))()`.
 * `set` saves with a compare-and-set against what `get` loaded, merging the changed fields into
 * a newer state when another request wrote first (so two concurrent requests changing different
 * fields both persist), and never re-creates a session destroyed meanwhile (a sign-out
 * everywhere wins over a request still in flight). An unchanged save and `touch` only extend
 * the expiry.
 * The session lifetime is the store's idleTtl/absoluteTtl: set the cookie's maxAge to match.
 */
export function createExpressSessionStore(Base: ExpressStoreClass, store: SessionStore, options: ExpressSessionStoreOptions): new () => ExpressSessionStore {
  const userField = options.userField ?? 'userId';

  const write = async (sid: string, session: SessionData): Promise<void> => {
    const base = baseOf(session);
    const text = JSON.stringify(session);
    const userValue = session[userField];
    const user = userValue === undefined || userValue === null ? null : String(userValue);
    if (base !== undefined && base.text === text && (base.user ?? null) === user) {
      await store.touch(sid);
      return;
    }
    const saved = await store.save(sid, session, { ...(base === undefined ? {} : { base }), user, text });
    if (saved !== null) attach(session, saved);
  };

  return class OpsctlSessionStore extends Base implements ExpressSessionStore {
    get(sid: string, callback: Callback<SessionData | null>): void {
      settle(
        store.get(sid).then((record) => {
          if (record === null) return null;
          attach(record.data, record.base);
          return record.data;
        }),
        callback,
      );
    }

    override createSession(req: never, data: never): object {
      const base = baseOf(data);
      const session = super.createSession(req, data);
      if (base !== undefined) attach(session, base);
      return session;
    }

    set(sid: string, session: SessionData, callback?: Callback): void {
      settle(write(sid, session), callback);
    }

    touch(sid: string, _session: SessionData, callback?: Callback): void {
      settle(store.touch(sid).then(() => undefined), callback);
    }

    destroy(sid: string, callback?: Callback): void {
      settle(store.destroy(sid).then(() => undefined), callback);
    }

    ids(callback: Callback<string[]>): void {
      settle(listSessionIds(options.client, store.keys), callback);
    }

    all(callback: Callback<SessionData[]>): void {
      settle(
        listSessionIds(options.client, store.keys).then(async (ids) => {
          const records = await Promise.all(ids.map((id) => store.get(id)));
          return records.filter((record) => record !== null).map((record) => ({ id: record.id, ...record.data }));
        }),
        callback,
      );
    }

    length(callback: Callback<number>): void {
      settle(listSessionIds(options.client, store.keys).then((ids) => ids.length), callback);
    }

    clear(callback?: Callback): void {
      settle(destroyAllSessions(options.client, store).then(() => undefined), callback);
    }
  };
}
