import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStore, type CreateSessionStoreOptions } from '../../src/session/store.js';
import { startRedis } from '../../src/testing/index.js';
import { rejection } from '../helpers/assertions.js';
import { useRedis, useRedisCluster } from '../helpers/redis.js';

const redis = useRedis();
let client: Redis;
let prefixCount = 0;

beforeAll(() => {
  client = new Redis(redis().url);
});
afterAll(async () => {
  client.disconnect();
});

/** A store with its own key prefix, so tests do not see each other's sessions. */
function store(options: Partial<CreateSessionStoreOptions> = {}) {
  prefixCount += 1;
  return createSessionStore({ client, keyPrefix: `t${prefixCount}:`, ...options });
}

describe('session store core (standalone redis-server)', () => {
  it('creates a session with a CSPRNG id, reads it back, and lays it out as documented', async () => {
    const sessions = store();
    const created = await sessions.create({ data: { cart: [1, 2], name: 'Ada' }, user: 'u1' });
    expect(created.id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const read = await sessions.get(created.id);
    expect(read?.data).toEqual({ cart: [1, 2], name: 'Ada' });
    expect(read?.user).toBe('u1');
    const hash = await client.hgetall(`${sessions.keys.prefix}{s:${created.id}}`);
    expect(hash).toMatchObject({ _v: '1', _u: 'u1', 'd:cart': '[1,2]', 'd:name': '"Ada"' });
    expect(await client.zscore(`${sessions.keys.prefix}{u:u1}`, created.id)).not.toBeNull();
  });

  it('keeps both fields when two concurrent requests change different fields', async () => {
    const sessions = store();
    const { id } = await sessions.create({ data: { a: 0, b: 0 } });
    // Both "requests" loaded {a:0,b:0}; each writes only the field it changed.
    await Promise.all([sessions.update(id, { set: { a: 1 } }), sessions.update(id, { set: { b: 2 } })]);
    expect((await sessions.get(id))?.data).toEqual({ a: 1, b: 2 });
  });

  it('applies idle expiry, rolls it on touch with PEXPIRE only, and ends the session at its absolute lifetime', async () => {
    let clock = Date.now();
    const sessions = store({ idleTtlMs: 60_000, absoluteTtlMs: 90_000, now: () => clock });
    const { id } = await sessions.create({ data: { x: 1 } });
    const key = sessions.keys.session(id);
    expect(await client.pttl(key)).toBeGreaterThan(59_000);
    clock += 50_000;
    await client.pexpire(key, 10_000);
    const before = await client.hgetall(key);
    expect(await sessions.touch(id)).toBe(true);
    expect(await client.pttl(key)).toBeGreaterThan(59_000);
    expect(await client.hgetall(key)).toEqual(before);
    // A write near the end of the lifetime caps the idle expiry at what is left (40 s).
    await sessions.update(id, { set: { x: 2 } });
    const ttl = await client.pttl(key);
    expect(ttl).toBeLessThanOrEqual(40_000);
    expect(ttl).toBeGreaterThan(39_000);
    clock += 41_000;
    // Past its absolute lifetime the session is gone for every reader and writer, even if touched.
    await sessions.touch(id);
    expect(await sessions.get(id)).toBeNull();
    expect(await sessions.summary(id)).toBeNull();
    expect(await sessions.update(id, { set: { x: 3 } })).toBe(false);
    expect(await client.exists(key)).toBe(0);
    expect(await sessions.touch('missing')).toBe(false);
  });

  it('refuses a write over the size limit with SESSION_TOO_LARGE and keeps the old data', async () => {
    const sessions = store({ maxBytes: 1024 });
    const { id } = await sessions.create({ data: { small: 'x' } });
    const error = await rejection(sessions.update(id, { set: { big: 'y'.repeat(2000) } }));
    expect(error.code).toBe('SESSION_TOO_LARGE');
    expect(error.message).toMatch(/over its limit of 1\.0 KiB|over its limit of 1 KiB|1024/);
    expect((await sessions.get(id))?.data).toEqual({ small: 'x' });
    // Deleting a field gives its bytes back.
    await sessions.update(id, { set: { big: 'y'.repeat(900) } });
    await sessions.update(id, { unset: ['big'] });
    await sessions.update(id, { set: { other: 'z'.repeat(900) } });
    expect(Object.keys((await sessions.get(id))?.data ?? {}).sort()).toEqual(['other', 'small']);
  });

  it('treats a corrupt value or an unknown format version as absent, counts it, and leaves other sessions alone', async () => {
    const seen: string[] = [];
    const sessions = store({ onUnreadable: (_id, reason) => seen.push(reason) });
    const good = await sessions.create({ data: { ok: true } });
    const corrupt = await sessions.create({ data: { ok: true } });
    const future = await sessions.create({ data: { ok: true } });
    await client.hset(sessions.keys.session(corrupt.id), 'd:ok', '{not json');
    await client.hset(sessions.keys.session(future.id), '_v', '9');
    expect(await sessions.get(corrupt.id)).toBeNull();
    expect(await sessions.get(future.id)).toBeNull();
    expect((await sessions.get(good.id))?.data).toEqual({ ok: true });
    expect(sessions.unreadable()).toMatchObject({ corrupt: 1, version: 1 });
    expect(seen).toEqual(['corrupt', 'version']);
    expect((await sessions.inspect(corrupt.id))?.problem).toMatch(/corrupt: field "d:ok" is not valid JSON/);
  });

  it('never brings back a destroyed session through a late update', async () => {
    const sessions = store();
    const { id } = await sessions.create({ data: { a: 1 } });
    expect(await sessions.destroy(id)).toBe(true);
    expect(await sessions.update(id, { set: { a: 2 } })).toBe(false);
    expect(await client.exists(sessions.keys.session(id))).toBe(0);
  });

  it('lists and destroys every session of a user in one call, pruning ids of sessions that are gone', async () => {
    const sessions = store();
    const a = await sessions.create({ user: 'alice' });
    const b = await sessions.create({ user: 'alice' });
    const other = await sessions.create({ user: 'bob' });
    const gone = await sessions.create({ user: 'alice' });
    await client.del(sessions.keys.session(gone.id));
    const listed = await sessions.listForUser('alice');
    expect(listed.map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect(await client.zcard(sessions.keys.user('alice'))).toBe(2);
    // Moving a session to another user takes it out of the first user's index.
    await sessions.update(b.id, { user: 'bob' });
    expect((await sessions.listForUser('alice')).map((s) => s.id)).toEqual([a.id]);
    expect(await sessions.destroyForUser('bob')).toBe(2);
    expect(await sessions.get(other.id)).toBeNull();
    expect(await sessions.get(a.id)).not.toBeNull();
    expect(await client.exists(sessions.keys.user('bob'))).toBe(0);
  });

  it('encrypts values at rest, decrypts with rotated keys, rekeys, and treats a missing key as unreadable', async () => {
    const oldKey = { id: 'k1', key: randomBytes(32) };
    const newKey = { id: 'k2', key: randomBytes(32) };
    const prefix = 'enc:';
    const v1 = createSessionStore({ client, keyPrefix: prefix, encryptionKeys: [oldKey] });
    const { id } = await v1.create({ data: { secret: 'card-4242' } });
    const stored = await client.hget(v1.keys.session(id), 'd:secret');
    expect(stored).toMatch(/^!k1:/);
    expect(stored).not.toContain('4242');
    const rotated = createSessionStore({ client, keyPrefix: prefix, encryptionKeys: [newKey, oldKey] });
    expect((await rotated.get(id))?.data).toEqual({ secret: 'card-4242' });
    expect(await rotated.rekey(id)).toBe(1);
    expect(await client.hget(v1.keys.session(id), 'd:secret')).toMatch(/^!k2:/);
    expect(await v1.get(id)).toBeNull();
    expect(v1.unreadable()['unknown-key']).toBe(1);
    const wrong = createSessionStore({ client, keyPrefix: prefix, encryptionKeys: [{ id: 'k2', key: randomBytes(32) }] });
    expect(await wrong.get(id)).toBeNull();
    expect(wrong.unreadable().decrypt).toBe(1);
    expect((await rejection(Promise.resolve().then(() => createSessionStore({ client, encryptionKeys: [{ id: 'x', key: randomBytes(16) }] })))).code).toBe('SESSION_KEY_INVALID');
  });

  it('fails a replica-durable write loudly when no replica acknowledges it', async () => {
    const sessions = store({ durability: 'replica', replicas: 1, waitTimeoutMs: 50 });
    const error = await rejection(sessions.create({ data: { a: 1 } }));
    expect(error.code).toBe('SESSION_NOT_DURABLE');
    expect(error.message).toMatch(/reached 0 of 1 replica/);
  });

  it('reads from a replica when asked, but a session this store just wrote (or the replica lacks) from the primary', async () => {
    const replicaServer = await startRedis({ args: ['--replicaof', '127.0.0.1', String(redis().port)] });
    const replica = new Redis(replicaServer.url);
    try {
      const hgetallOnReplica = async () => Number(/cmdstat_hgetall:calls=(\d+)/.exec(await replica.info('commandstats'))?.[1] ?? 0);
      const writer = store();
      const reader = createSessionStore({ client, readClient: replica, keyPrefix: writer.keys.prefix, readYourWritesMs: 60_000 });
      // Written by this store: read from the primary at once, whatever the replica has.
      const own = await reader.create({ data: { mine: true } });
      const before = await hgetallOnReplica();
      expect((await reader.get(own.id))?.data).toEqual({ mine: true });
      expect(await hgetallOnReplica()).toBe(before);
      // Written by another instance: read from the replica once it has it.
      const other = await writer.create({ data: { theirs: true } });
      for (let i = 0; i < 250 && (await replica.exists(writer.keys.session(other.id))) === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
      expect((await reader.get(other.id))?.data).toEqual({ theirs: true });
      expect(await hgetallOnReplica()).toBe(before + 1);
      // Missing on the replica: asked again on the primary, so a lagging replica never signs anyone out.
      expect(await reader.get('nowhere')).toBeNull();
      expect(await hgetallOnReplica()).toBe(before + 2);
    } finally {
      replica.disconnect();
      await replicaServer.stop();
    }
  });

  it('reports Redis being down as a clear OpsError, not a crash', async () => {
    const dead = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    dead.on('error', () => undefined);
    const sessions = createSessionStore({ client: dead, failoverTimeoutMs: 200 });
    const error = await rejection(sessions.get('abc'));
    expect(error.code).toMatch(/^REDIS_/);
    dead.disconnect();
  });
});

describe('session store on a Redis Cluster', () => {
  const cluster = useRedisCluster();

  it('keeps sessions and user indexes on different nodes consistent', async () => {
    const sessions = createSessionStore({ client: cluster().client });
    const created = await Promise.all(Array.from({ length: 12 }, (_, i) => sessions.create({ user: i % 2 === 0 ? 'carol' : 'dave', data: { i } })));
    const slots = new Set(await Promise.all(created.map((s) => cluster().client.cluster('KEYSLOT', sessions.keys.session(s.id)))));
    expect(slots.size).toBeGreaterThan(1);
    expect((await sessions.listForUser('carol')).length).toBe(6);
    await Promise.all([sessions.update(created[0]!.id, { set: { a: 1 } }), sessions.update(created[0]!.id, { set: { b: 2 } })]);
    expect((await sessions.get(created[0]!.id))?.data).toEqual({ i: 0, a: 1, b: 2 });
    expect(await sessions.destroyForUser('carol')).toBe(6);
    expect(await sessions.listForUser('carol')).toEqual([]);
    expect((await sessions.listForUser('dave')).length).toBe(6);
    for (const s of created) expect((await sessions.get(s.id)) === null).toBe(s.user === 'carol');
  }, 30_000);
});
