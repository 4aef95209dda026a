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
    // Layout 2: one string, `2:<revision>:<created>:<expires>:<user>:<JSON>`.
    const value = await client.get(`${sessions.keys.prefix}{s:${created.id}}`);
    expect(value).toBe(`2:1:${created.createdAt}:${created.expiresAt}:u1:{"cart":[1,2],"name":"Ada"}`);
    expect(await client.zscore(`${sessions.keys.prefix}{u:u1}`, created.id)).not.toBeNull();
  });

  it('keeps both fields when two concurrent requests change different fields', async () => {
    const sessions = store();
    const { id } = await sessions.create({ data: { a: 0, b: 0 } });
    // Both "requests" loaded {a:0,b:0}; each writes only the field it changed.
    await Promise.all([sessions.update(id, { set: { a: 1 } }), sessions.update(id, { set: { b: 2 } })]);
    expect((await sessions.get(id))?.data).toEqual({ a: 1, b: 2 });
  });

  it('saves with one compare-and-set, and merges a save whose base is stale instead of overwriting', async () => {
    const sessions = store();
    const { id } = await sessions.create({ data: { a: 0, b: 0, c: 0 }, user: 'u1' });
    const loaded = (await sessions.get(id))!;
    // Two requests loaded the same revision; the second to save loses the compare-and-set and
    // merges its own change (b, and c removed) into what the first wrote.
    const first = await sessions.save(id, { ...loaded.data, a: 1 }, { base: loaded.base });
    expect(first?.revision).toBe(loaded.base.revision + 1);
    const second = await sessions.save(id, { a: 0, b: 2 }, { base: loaded.base });
    expect(second?.revision).toBe(loaded.base.revision + 2);
    expect((await sessions.get(id))?.data).toEqual({ a: 1, b: 2 });
    // Many concurrent saves from one base, each changing its own field: none is lost.
    const base = (await sessions.get(id))!.base;
    await Promise.all(Array.from({ length: 8 }, (_, i) => sessions.save(id, { a: 1, b: 2, [`f${i}`]: i }, { base })));
    expect(Object.keys((await sessions.get(id))!.data).sort()).toEqual(['a', 'b', 'f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7']);
    // A save never brings back a destroyed session.
    await sessions.destroy(id);
    expect(await sessions.save(id, { a: 3 }, { base })).toBeNull();
    expect(await client.exists(sessions.keys.session(id))).toBe(0);
  });

  it('reads and updates sessions of layout 1 (hashes) after an upgrade, and writes layout 1 when asked', async () => {
    const old = store({ layout: 1 });
    const created = await old.create({ data: { cart: [1], n: 1 }, user: 'u9' });
    expect(await client.hgetall(old.keys.session(created.id))).toMatchObject({ _v: '1', _u: 'u9', 'd:cart': '[1]', 'd:n': '1' });
    const upgraded = createSessionStore({ client, keyPrefix: old.keys.prefix });
    const read = (await upgraded.get(created.id))!;
    expect(read).toMatchObject({ user: 'u9', data: { cart: [1], n: 1 }, base: { revision: 0 } });
    // Still written field by field (the hash stays a hash), so concurrent changes both persist.
    await Promise.all([upgraded.save(created.id, { ...read.data, n: 2 }, { base: read.base }), upgraded.update(created.id, { set: { cart: [1, 2] } })]);
    expect(await client.type(old.keys.session(created.id))).toBe('hash');
    expect((await upgraded.get(created.id))?.data).toEqual({ cart: [1, 2], n: 2 });
    expect((await upgraded.listForUser('u9')).map((s) => s.id)).toEqual([created.id]);
    expect((await upgraded.inspect(created.id))?.version).toBe('1');
    expect(await upgraded.destroyForUser('u9')).toBe(1);
    // New sessions of the upgraded store are layout 2; a layout 1 store still writes hashes.
    expect(await client.type(upgraded.keys.session((await upgraded.create()).id))).toBe('string');
  });

  it('applies idle expiry, rolls it on touch with PEXPIRE only, and ends the session at its absolute lifetime', async () => {
    let clock = Date.now();
    const sessions = store({ idleTtlMs: 60_000, absoluteTtlMs: 90_000, now: () => clock });
    const { id } = await sessions.create({ data: { x: 1 } });
    const key = sessions.keys.session(id);
    expect(await client.pttl(key)).toBeGreaterThan(59_000);
    clock += 50_000;
    await client.pexpire(key, 10_000);
    const before = await client.get(key);
    expect(await sessions.touch(id)).toBe(true);
    expect(await client.pttl(key)).toBeGreaterThan(59_000);
    expect(await client.get(key)).toEqual(before);
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
    const keyOf = (id: string) => sessions.keys.session(id);
    await client.set(keyOf(corrupt.id), (await client.get(keyOf(corrupt.id)))!.replace('{"ok":true}', '{not json'), 'KEEPTTL');
    await client.set(keyOf(future.id), `9${(await client.get(keyOf(future.id)))!.slice(1)}`, 'KEEPTTL');
    expect(await sessions.get(corrupt.id)).toBeNull();
    expect(await sessions.get(future.id)).toBeNull();
    expect((await sessions.get(good.id))?.data).toEqual({ ok: true });
    expect(sessions.unreadable()).toMatchObject({ corrupt: 1, version: 1 });
    expect(seen).toEqual(['corrupt', 'version']);
    expect((await sessions.inspect(corrupt.id))?.problem).toMatch(/corrupt: the session data is not valid JSON/);
    expect((await sessions.inspect(future.id))?.problem).toMatch(/version: format version 9 is not 2/);
    // A write does not overwrite what it cannot read: it fails loudly for that id.
    expect((await rejection(sessions.update(future.id, { set: { ok: false } }))).code).toBe('SESSION_UNREADABLE');
    // Layout 1 hashes: the same, field by field.
    const old = store({ layout: 1 });
    const oldCorrupt = await old.create({ data: { ok: true } });
    await client.hset(old.keys.session(oldCorrupt.id), 'd:ok', '{not json');
    expect(await old.get(oldCorrupt.id)).toBeNull();
    expect((await old.inspect(oldCorrupt.id))?.problem).toMatch(/corrupt: field "d:ok" is not valid JSON/);
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
    const stored = await client.get(v1.keys.session(id));
    expect(stored).toMatch(/^2:1:\d+:\d+::!k1:/);
    expect(stored).not.toContain('4242');
    const ttl = await client.pttl(v1.keys.session(id));
    const rotated = createSessionStore({ client, keyPrefix: prefix, encryptionKeys: [newKey, oldKey] });
    expect((await rotated.get(id))?.data).toEqual({ secret: 'card-4242' });
    expect(await rotated.rekey(id, { dryRun: true })).toBe(1);
    expect(await rotated.rekey(id)).toBe(1);
    expect(await client.get(v1.keys.session(id))).toMatch(/^2:2:\d+:\d+::!k2:/);
    expect(await client.pttl(v1.keys.session(id))).toBeLessThanOrEqual(ttl);
    expect(await rotated.rekey(id)).toBe(0);
    // Layout 1 sessions rekey field by field.
    const oldLayout = createSessionStore({ client, keyPrefix: prefix, encryptionKeys: [oldKey], layout: 1 });
    const hashed = await oldLayout.create({ data: { secret: 'x', other: 'y' } });
    expect(await rotated.rekey(hashed.id)).toBe(2);
    expect(await client.hget(v1.keys.session(hashed.id), 'd:secret')).toMatch(/^!k2:/);
    expect(await v1.get(id)).toBeNull();
    expect(v1.unreadable()['unknown-key']).toBe(1);
    const wrong = createSessionStore({ client, keyPrefix: prefix, encryptionKeys: [{ id: 'k2', key: randomBytes(32) }] });
    expect(await wrong.get(id)).toBeNull();
    expect(wrong.unreadable().decrypt).toBe(1);
    // The body is bound to its session and header: put under another user, it does not decrypt.
    const key = v1.keys.session(id);
    await client.set(key, (await client.get(key))!.replace(/^(2:2:\d+:\d+:):/, '$1mallory:'), 'KEEPTTL');
    expect(await rotated.get(id)).toBeNull();
    expect(rotated.unreadable().decrypt).toBe(1);
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
      const getsOnReplica = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await replica.info('commandstats'))?.[1] ?? 0);
      const writer = store();
      const reader = createSessionStore({ client, readClient: replica, keyPrefix: writer.keys.prefix, readYourWritesMs: 60_000 });
      // Written by this store: read from the primary at once, whatever the replica has.
      const own = await reader.create({ data: { mine: true } });
      const before = await getsOnReplica();
      expect((await reader.get(own.id))?.data).toEqual({ mine: true });
      expect(await getsOnReplica()).toBe(before);
      // Written by another instance: read from the replica once it has it.
      const other = await writer.create({ data: { theirs: true } });
      for (let i = 0; i < 250 && (await replica.exists(writer.keys.session(other.id))) === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
      expect((await reader.get(other.id))?.data).toEqual({ theirs: true });
      expect(await getsOnReplica()).toBe(before + 1);
      // Missing on the replica: asked again on the primary, so a lagging replica never signs anyone out.
      expect(await reader.get('nowhere')).toBeNull();
      expect(await getsOnReplica()).toBe(before + 2);
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

  it('waits for a replica on the node that owns each session (durability replica), or fails loudly', async () => {
    const durable = createSessionStore({ client: cluster().client, keyPrefix: 'dur:', durability: 'replica', replicas: 1, waitTimeoutMs: 2_000 });
    // Sessions on every primary: WAIT must run on the connection that wrote each one.
    const created = await Promise.all(Array.from({ length: 12 }, (_, i) => durable.create({ data: { i }, user: `w${i % 3}` })));
    const slots = new Set(await Promise.all(created.map((s) => cluster().client.cluster('KEYSLOT', durable.keys.session(s.id)))));
    expect(slots.size).toBeGreaterThan(1);
    const first = created[0]!;
    expect(await durable.save(first.id, { i: 0, more: true }, { base: first.base })).not.toBeNull();
    expect(await durable.destroy(created[1]!.id)).toBe(true);
    expect((await durable.get(first.id))?.data).toEqual({ i: 0, more: true });
    // Each primary has one replica: asking for two cannot be met.
    const tooMany = createSessionStore({ client: cluster().client, keyPrefix: 'dur:', durability: 'replica', replicas: 2, waitTimeoutMs: 50 });
    const error = await rejection(tooMany.create({ data: { a: 1 } }));
    expect(error.code).toBe('SESSION_NOT_DURABLE');
    expect(error.message).toMatch(/reached 1 of 2 replica/);
  }, 30_000);
});
