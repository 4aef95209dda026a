import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { RedisStore } from 'connect-redis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fallbackFrom, migrateSessions, verifyMigration, type MigrationSource } from '../../src/session/migrate.js';
import { createSessionStore, type PortableSession } from '../../src/session/store.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis, useRedisCluster } from '../helpers/redis.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';

const SESSIONS = 50_000;
const redis = useRedis();
const postgres = usePostgres();
const cases = useCaseDirs('session-migrate');
let client: Redis;

beforeAll(() => {
  client = new Redis(redis().url);
});
afterAll(() => {
  client.disconnect();
});

describe('session migrate: standalone → Cluster', () => {
  const cluster = useRedisCluster();

  it(`copies ${SESSIONS} sessions with their TTLs, interrupted half way and resumed, then verifies counts and checksums`, async () => {
    const source = createSessionStore({ client, keyPrefix: 'big:' });
    const target = createSessionStore({ client: cluster().client, keyPrefix: 'big:' });
    const now = Date.now();
    // Seeded with import (one script per session) and TTLs spread over an hour.
    for (let i = 0; i < SESSIONS; i += 1000) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, j): PortableSession => {
          const n = i + j;
          return { id: `m${n}`, user: n % 10 === 0 ? `user-${n % 100}` : undefined, data: { n, cart: [n, n + 1] }, createdAt: now, expiresAt: now + 86_400_000, ttlMs: 60_000 + (n % 3_600) * 1000 };
        }).map((session) => source.import(session)),
      );
    }
    const checkpointPath = join(cases.dir(), 'checkpoint.json');
    const from: MigrationSource = { kind: 'opsctl', client, store: source };
    const controller = new AbortController();
    const first = await migrateSessions({
      source: from,
      target,
      checkpointPath,
      signal: controller.signal,
      onProgress: (copied) => {
        if (copied >= SESSIONS / 2) controller.abort(new Error('interrupted'));
      },
    }).catch((error: unknown) => error);
    expect((first as Error).message).toBe('interrupted');
    const saved = JSON.parse(await readFile(checkpointPath, 'utf8')) as { copied: number; cursor: string };
    expect(saved.copied).toBeGreaterThanOrEqual(SESSIONS / 2);
    expect(saved.copied).toBeLessThan(SESSIONS);

    const resumed = await migrateSessions({ source: from, target, checkpointPath });
    expect(resumed.resumed).toBe(true);
    // SCAN may return a key twice across the two runs: copied counts copies, not sessions.
    expect(resumed.copied).toBeGreaterThanOrEqual(SESSIONS);

    const verified = await verifyMigration({ source: from, target });
    expect(verified.source).toBe(SESSIONS);
    expect(verified.missing).toEqual([]);
    expect(verified.different).toEqual([]);
    expect(verified.targetChecksum).toBe(verified.sourceChecksum);
    expect((await target.listForUser('user-0')).length).toBe(SESSIONS / 100);
  }, 300_000);
});

describe('session migrate: between opsctl layouts', () => {
  it('rewrites layout 1 hashes as layout 2 strings in place, keeping data, users and TTLs', async () => {
    const old = createSessionStore({ client, keyPrefix: 'lay:', layout: 1 });
    const created = await Promise.all(Array.from({ length: 40 }, (_, i) => old.create({ data: { i, cart: [i] }, ...(i % 4 === 0 ? { user: `lu${i % 8}` } : {}) })));
    await client.pexpire(old.keys.session(created[0]!.id), 120_000);
    const ttlBefore = await client.pttl(old.keys.session(created[0]!.id));
    const measuredAt = Date.now();
    const upgraded = createSessionStore({ client, keyPrefix: 'lay:' });
    const from: MigrationSource = { kind: 'opsctl', client, store: upgraded };
    const result = await migrateSessions({ source: from, target: upgraded, batch: 7 });
    expect(result.copied).toBeGreaterThanOrEqual(40);
    for (const session of created) {
      expect(await client.type(upgraded.keys.session(session.id))).toBe('string');
      expect(await upgraded.get(session.id)).toMatchObject({ data: session.data, user: session.user, createdAt: session.createdAt, expiresAt: session.expiresAt });
    }
    // The TTL kept is the one left: what it was, less the time the upgrade itself took.
    expect(Math.abs((await client.pttl(old.keys.session(created[0]!.id))) - (ttlBefore - (Date.now() - measuredAt)))).toBeLessThan(1_000);
    expect((await upgraded.listForUser('lu0')).length).toBe(5);
    expect((await verifyMigration({ source: from, target: upgraded })).matching).toBe(40);
  });
});

describe('session migrate: imports from connect-redis and connect-pg-simple', () => {
  it('imports connect-redis sess:<id> keys with their TTL and indexes their users', async () => {
    const nodeRedis = createClient({ url: redis().url });
    await nodeRedis.connect();
    try {
      const legacy = new RedisStore({ client: nodeRedis, prefix: 'sess:', ttl: 600 });
      await legacy.set('abc', { cookie: { originalMaxAge: 600_000 }, userId: 'u1', cart: [1] } as never);
      await legacy.set('def', { cookie: { originalMaxAge: 600_000 }, visits: 3 } as never);
      const target = createSessionStore({ client, keyPrefix: 'fromcr:' });
      const from: MigrationSource = { kind: 'connect-redis', client, prefix: 'sess:', userField: 'userId', absoluteTtlMs: 86_400_000 };
      expect((await migrateSessions({ source: from, target })).copied).toBe(2);
      expect((await target.get('abc'))?.data).toEqual({ cookie: { originalMaxAge: 600_000 }, userId: 'u1', cart: [1] });
      expect((await target.listForUser('u1')).map((s) => s.id)).toEqual(['abc']);
      const ttl = await client.pttl(target.keys.session('def'));
      expect(Math.abs(ttl - (await client.pttl('sess:def')))).toBeLessThan(1000);
      expect((await verifyMigration({ source: from, target })).matching).toBe(2);
    } finally {
      await nodeRedis.quit();
    }
  });

  it("imports connect-pg-simple's session table, skipping expired rows", async () => {
    const pool = new pg.Pool({ connectionString: postgres().url });
    try {
      // connect-pg-simple's table.sql.
      await pool.query(`CREATE TABLE "session" ("sid" varchar NOT NULL COLLATE "default", "sess" json NOT NULL, "expire" timestamp(6) NOT NULL)`);
      await pool.query(`ALTER TABLE "session" ADD CONSTRAINT "session_pkey" PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE`);
      await pool.query(`CREATE INDEX "IDX_session_expire" ON "session" ("expire")`);
      await pool.query(
        `INSERT INTO session (sid, sess, expire) SELECT 'pg' || n, json_build_object('cookie', json_build_object('originalMaxAge', 600000), 'userId', 'pg-user', 'n', n), now() + interval '10 minutes' FROM generate_series(1, 25) n`,
      );
      await pool.query(`INSERT INTO session VALUES ('old', '{"n":0}', now() - interval '1 minute')`);
      const target = createSessionStore({ client, keyPrefix: 'frompg:' });
      const from: MigrationSource = { kind: 'connect-pg-simple', pool, table: 'session', userField: 'userId', absoluteTtlMs: 86_400_000 };
      const result = await migrateSessions({ source: from, target, batch: 10, checkpointPath: join(cases.dir(), 'pg.json') });
      expect(result.copied).toBe(25);
      expect((await target.get('pg7'))?.data).toMatchObject({ userId: 'pg-user', n: 7 });
      expect(await target.get('old')).toBeNull();
      expect((await target.listForUser('pg-user')).length).toBe(25);
      const ttl = await client.pttl(target.keys.session('pg7'));
      expect(ttl).toBeGreaterThan(598_000);
      expect(ttl).toBeLessThanOrEqual(600_000);
      expect((await verifyMigration({ source: from, target })).matching).toBe(25);
    } finally {
      await pool.end();
    }
  });

  it('dual-read: while the bulk copy runs, every request finds its session (copied lazily), none is signed out', async () => {
    const nodeRedis = createClient({ url: redis().url });
    await nodeRedis.connect();
    try {
      const legacy = new RedisStore({ client: nodeRedis, prefix: 'old:', ttl: 600 });
      const ids = Array.from({ length: 2000 }, (_, i) => `d${i}`);
      await Promise.all(ids.map((id, i) => legacy.set(id, { cookie: { originalMaxAge: 600_000 }, userId: `u${i % 50}`, i } as never)));
      const from: MigrationSource = { kind: 'connect-redis', client, prefix: 'old:', userField: 'userId', absoluteTtlMs: 86_400_000 };
      const target = createSessionStore({ client, keyPrefix: 'dual:', fallback: fallbackFrom(from) });
      let misses = 0;
      let reads = 0;
      let copyDone = false;
      const traffic = (async () => {
        while (!copyDone) {
          const batch = Array.from({ length: 50 }, () => ids[Math.floor(Math.random() * ids.length)]!);
          const found = await Promise.all(batch.map((id) => target.get(id)));
          reads += found.length;
          misses += found.filter((session) => session === null).length;
        }
      })();
      await migrateSessions({ source: from, target, batch: 100 });
      copyDone = true;
      await traffic;
      expect(reads).toBeGreaterThan(0);
      expect(misses).toBe(0);
      expect((await verifyMigration({ source: from, target })).matching).toBe(ids.length);
    } finally {
      await nodeRedis.quit();
    }
  });
});
