#!/usr/bin/env node
// opsctl's session store against connect-redis 9 (on node-redis 5) and raw ioredis GET/SET of
// the same bytes, on one throwaway redis-server (issue 7). 1 KB sessions; get, set and touch;
// 16 and 128 concurrent callers; peers interleaved in every round; medians of the rounds.
// Uses the build (npm run build).
//
//   flock /tmp/opsctl-bench.lock node bench/session.js [--rounds 5] [--ms 1000] [--auto-pipelining] [--json]
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { RedisStore } from 'connect-redis';
import { createSessionStore } from '../dist/index.js';
import { startRedis } from '../dist/testing/index.js';
import { option, median } from './lib.js';

const args = process.argv.slice(2);
const rounds = option('--rounds', 5);
const roundMs = option('--ms', 1000);
const json = args.includes('--json');
// ioredis auto-pipelining (one write per event-loop tick for all pending commands) for both
// ioredis peers; node-redis pipelines that way by default.
const autoPipelining = args.includes('--auto-pipelining');
const SESSIONS = 2000;

// A 1 KB express-session-like object: a cookie, a user, a cart and preferences (10 fields).
function sessionData(i) {
  return {
    cookie: { originalMaxAge: 1_800_000, expires: '2026-11-25T12:00:00.000Z', httpOnly: true, path: '/', secure: true, sameSite: 'lax' },
    userId: `user-${i}`,
    role: 'customer',
    locale: 'en-GB',
    csrf: 'x'.repeat(43),
    cart: Array.from({ length: 6 }, (_, n) => ({ sku: `SKU-${n}-${i}`, qty: n + 1, price: 1999 })),
    prefs: { theme: 'dark', currency: 'EUR', newsletter: false, tz: 'Europe/Berlin' },
    recentlyViewed: Array.from({ length: 10 }, (_, n) => `product-${n * 7 + i}`),
    flash: 'x'.repeat(290),
    visits: i,
  };
}

const server = await startRedis();
const ioredis = new Redis({ port: server.port, host: '127.0.0.1', enableAutoPipelining: autoPipelining });
const nodeRedis = createClient({ url: `redis://127.0.0.1:${server.port}` });
await nodeRedis.connect();
const bytes = Buffer.byteLength(JSON.stringify(sessionData(0)));

try {
  const store = createSessionStore({ client: ioredis, keyPrefix: 'bench:o:', idleTtlMs: 1_800_000 });
  const connect = new RedisStore({ client: nodeRedis, prefix: 'bench:c:', ttl: 1800 });
  const ids = Array.from({ length: SESSIONS }, (_, i) => `s${i}-${'k'.repeat(24)}`);
  // What each session was when last read or saved: the base opsctl's save compares against,
  // as the express adapter carries it from a request's get to its save.
  const bases = [];
  for (const [i, id] of ids.entries()) {
    const data = sessionData(i);
    bases[i] = await store.save(id, data, { user: data.userId });
    await connect.set(id, data);
    await ioredis.set(`bench:r:${id}`, JSON.stringify(data), 'EX', 1800);
  }

  // The operations, per peer. `set` is an express-session save of a changed session: the whole
  // 1 KB object, with SET for connect-redis and raw ioredis, with one compare-and-set on the
  // loaded revision (EVALSHA of session-save.lua) for opsctl. `touch` is an unchanged session's.
  const peers = {
    opsctl: {
      get: (i) => store.get(ids[i]),
      set: async (i) => {
        bases[i] = await store.save(ids[i], sessionData(i), { base: bases[i] });
      },
      touch: (i) => store.touch(ids[i]),
    },
    'connect-redis': {
      get: (i) => connect.get(ids[i]),
      set: (i) => connect.set(ids[i], sessionData(i)),
      touch: (i) => connect.touch(ids[i], sessionData(i)),
    },
    'raw ioredis': {
      get: async (i) => JSON.parse(await ioredis.get(`bench:r:${ids[i]}`)),
      set: (i) => ioredis.set(`bench:r:${ids[i]}`, JSON.stringify(sessionData(i)), 'EX', 1800),
      touch: (i) => ioredis.expire(`bench:r:${ids[i]}`, 1800),
    },
  };

  /** `callers` loops calling `op` for roundMs; returns ops/s and latency percentiles. */
  async function measure(op, callers) {
    const latencies = [];
    const end = performance.now() + roundMs;
    let next = 0;
    const caller = async () => {
      while (performance.now() < end) {
        const i = next++ % SESSIONS;
        const started = performance.now();
        await op(i);
        latencies.push(performance.now() - started);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: callers }, caller));
    const elapsed = performance.now() - started;
    latencies.sort((a, b) => a - b);
    const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
    return { opsPerSec: (latencies.length / elapsed) * 1000, p50: at(50), p99: at(99) };
  }

  const results = [];
  for (const callers of [16, 128]) {
    for (const operation of ['get', 'set', 'touch']) {
      const samples = Object.fromEntries(Object.keys(peers).map((peer) => [peer, []]));
      for (let round = 0; round < rounds; round += 1) {
        // Rotate the order every round so no peer always runs first (warm-up) or last.
        const order = Object.keys(peers);
        for (let r = 0; r < round % order.length; r += 1) order.push(order.shift());
        for (const peer of order) samples[peer].push(await measure(peers[peer][operation], callers));
      }
      const row = { callers, operation };
      for (const [peer, list] of Object.entries(samples)) {
        row[peer] = { opsPerSec: Math.round(median(list.map((s) => s.opsPerSec))), p50: +median(list.map((s) => s.p50)).toFixed(2), p99: +median(list.map((s) => s.p99)).toFixed(2) };
      }
      row.vsConnectRedis = +(row.opsctl.opsPerSec / row['connect-redis'].opsPerSec).toFixed(2);
      row.p99VsConnectRedis = +(row.opsctl.p99 / row['connect-redis'].p99).toFixed(2);
      row.vsRawIoredis = +(row.opsctl.opsPerSec / row['raw ioredis'].opsPerSec).toFixed(2);
      results.push(row);
      if (!json) {
        const cell = (peer) => `${peer} ${row[peer].opsPerSec} ops/s p50 ${row[peer].p50} ms p99 ${row[peer].p99} ms`;
        console.log(
          `${String(callers).padStart(3)} callers ${operation.padEnd(7)} | ${cell('opsctl')} | ${cell('connect-redis')} | ${cell('raw ioredis')} | ` +
            `opsctl/connect-redis ${row.vsConnectRedis}x, p99 ${row.p99VsConnectRedis}x, opsctl/raw ${row.vsRawIoredis}x`,
        );
      }
    }
  }
  if (json) console.log(JSON.stringify({ sessionBytes: bytes, rounds, roundMs, results }, null, 2));
  else console.log(`session ${bytes} bytes of JSON, ${rounds} interleaved rounds of ${roundMs} ms, medians, ioredis auto-pipelining ${autoPipelining ? 'on' : 'off'}; node ${process.version}`);
} finally {
  ioredis.disconnect();
  await nodeRedis.quit();
  await server.stop();
}
