import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import session from 'express-session';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExpressSessionStore } from '../../src/session/express.js';
import { createSessionStore, newSessionId, type SessionStore } from '../../src/session/store.js';
import { useRedis } from '../helpers/redis.js';

const redis = useRedis();
let client: Redis;
let store: SessionStore;
let server: Server;
let base: string;

declare module 'express-session' {
  interface SessionData {
    userId: string;
    a: number;
    b: number;
  }
}

beforeAll(async () => {
  client = new Redis(redis().url);
  store = createSessionStore({ client, keyPrefix: 'app:' });
  const Store = createExpressSessionStore(session.Store, store, { client });
  const app = express();
  app.use(session({ store: new Store() as unknown as session.Store, secret: 'test-secret', resave: false, saveUninitialized: false, genid: newSessionId }));
  app.post('/login', (req, res) => {
    req.session.userId = String(req.query['user']);
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => {
    res.json({ userId: req.session.userId ?? null, a: req.session.a ?? null, b: req.session.b ?? null });
  });
  // Loads the session, waits so that a concurrent request loads the same state, then changes one field.
  app.post('/set', async (req, res) => {
    await sleep(50);
    const field = String(req.query['field']) as 'a' | 'b';
    req.session[field] = Number(req.query['value']);
    res.json({ ok: true });
  });
  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.json({ ok: true })));
  });
  app.post('/logout-everywhere', async (req, res) => {
    const destroyed = await store.destroyForUser(String(req.session.userId));
    res.json({ destroyed });
  });
  server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  client.disconnect();
});

/** A browser with one cookie jar. */
function browser() {
  let cookie: string | undefined;
  return {
    async call(method: string, path: string): Promise<Record<string, unknown>> {
      const response = await fetch(base + path, { method, headers: cookie === undefined ? {} : { cookie } });
      const setCookie = response.headers.get('set-cookie');
      if (setCookie !== null) cookie = setCookie.split(';')[0];
      expect(response.status).toBe(200);
      return (await response.json()) as Record<string, unknown>;
    },
    get cookie() {
      return cookie;
    },
  };
}

describe('express-session with the opsctl store, over HTTP', () => {
  it('signs in, keeps the session across requests, and signs out', async () => {
    const alice = browser();
    expect(await alice.call('GET', '/me')).toEqual({ userId: null, a: null, b: null });
    expect(alice.cookie).toBeUndefined();
    await alice.call('POST', '/login?user=alice');
    expect(alice.cookie).toMatch(/^connect\.sid=/);
    expect(await alice.call('GET', '/me')).toMatchObject({ userId: 'alice' });
    expect((await store.listForUser('alice')).length).toBe(1);
    await alice.call('POST', '/logout');
    expect(await alice.call('GET', '/me')).toMatchObject({ userId: null });
    expect(await store.listForUser('alice')).toEqual([]);
  });

  it('keeps both changes of two concurrent requests of one user', async () => {
    const bob = browser();
    await bob.call('POST', '/login?user=bob');
    await Promise.all([bob.call('POST', '/set?field=a&value=1'), bob.call('POST', '/set?field=b&value=2')]);
    expect(await bob.call('GET', '/me')).toEqual({ userId: 'bob', a: 1, b: 2 });
  });

  it('signs out everywhere: every browser of the user loses its session, others keep theirs', async () => {
    const laptop = browser();
    const phone = browser();
    const other = browser();
    await laptop.call('POST', '/login?user=carol');
    await phone.call('POST', '/login?user=carol');
    await other.call('POST', '/login?user=dave');
    expect(await laptop.call('POST', '/logout-everywhere')).toEqual({ destroyed: 2 });
    expect(await phone.call('GET', '/me')).toMatchObject({ userId: null });
    expect(await laptop.call('GET', '/me')).toMatchObject({ userId: null });
    expect(await other.call('GET', '/me')).toMatchObject({ userId: 'dave' });
  });

  it('implements all, length, ids and clear over SCAN', async () => {
    const Store = createExpressSessionStore(session.Store, store, { client });
    const adapter = new Store();
    const call = <T>(fn: (cb: (error?: unknown, value?: T) => void) => void) =>
      new Promise<T>((resolve, reject) => fn((error, value) => (error ? reject(error as Error) : resolve(value as T))));
    const count = await call<number>((cb) => adapter.length(cb));
    expect(count).toBeGreaterThanOrEqual(2);
    expect((await call<string[]>((cb) => adapter.ids(cb))).length).toBe(count);
    expect((await call<Record<string, unknown>[]>((cb) => adapter.all(cb))).some((s) => s['userId'] === 'dave')).toBe(true);
    await call<void>((cb) => adapter.clear(cb));
    expect(await call<number>((cb) => adapter.length(cb))).toBe(0);
  });

  it('Redis down: the request fails with a 500 naming the error code, the app keeps serving', async () => {
    const dead = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    dead.on('error', () => undefined);
    const Store = createExpressSessionStore(session.Store, createSessionStore({ client: dead, failoverTimeoutMs: 100 }), { client: dead });
    const app = express();
    app.use(session({ store: new Store() as unknown as session.Store, secret: 's', resave: false, saveUninitialized: false }));
    app.get('/', (_req, res) => res.json({ ok: true }));
    app.use((error: { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ code: error.code });
    });
    const down = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    try {
      const url = `http://127.0.0.1:${(down.address() as AddressInfo).port}/`;
      // A validly signed session cookie (cookie-signature's scheme) makes the store read Redis.
      const signature = createHmac('sha256', 's').update('abc').digest('base64').replace(/=+$/, '');
      const cookie = { cookie: `connect.sid=${encodeURIComponent(`s:abc.${signature}`)}` };
      const signed = await fetch(url, { headers: cookie });
      expect(signed.status).toBe(500);
      expect(((await signed.json()) as { code: string }).code).toMatch(/^REDIS_/);
      expect((await fetch(url)).status).toBe(200);
    } finally {
      await new Promise((resolve) => down.close(resolve));
      dead.disconnect();
    }
  });
});
