#!/usr/bin/env node
// opsctl's rate limiter against rate-limiter-flexible 11 (RateLimiterRedis with its default
// settings, and with inMemoryBlockOnConsumed, its best setting for refused traffic) and a bare
// EVALSHA of opsctl's own script (no library code: the client-side ceiling), on one throwaway
// redis-server, each peer with its own ioredis connection (no auto-pipelining). Scenarios:
// allowed traffic over 10k keys and refused traffic on one hot key, at 1, 16 and 128 concurrent
// callers; peers interleaved in every round (rotating order), medians of the rounds; opsctl's
// other algorithms are measured beside its fixed window (the ratios use the fixed window, the
// algorithm rate-limiter-flexible implements). Also prints
// `redis-benchmark` EVALSHA of the same script (the server's ceiling). Issue 6 targets: ≥1.3x
// rate-limiter-flexible (default) at 16 and 128 callers on allowed traffic, ≥0.9x of the bare
// EVALSHA, p99 no worse than the peer's, refused hot-key traffic at least as fast as
// rate-limiter-flexible with its in-memory block. Uses the build (npm run build).
//
//   flock /tmp/opsctl-bench.lock node bench/ratelimit.js [--rounds 3] [--ms 1000] [--json]
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createRateLimiter } from '../dist/index.js';
import { scriptCall } from '../dist/ratelimit/limiter.js';
import { resolvePolicy } from '../dist/ratelimit/policy.js';
import { startRedis } from '../dist/testing/index.js';
import { option, median, log } from './lib.js';

const args = process.argv.slice(2);
const rounds = option('--rounds', 3);
const roundMs = option('--ms', 1000);
const json = args.includes('--json');
const KEYS = 10_000;
const CALLERS = [1, 16, 128];

const server = await startRedis({ args: ['--save', '', '--appendonly', 'no'] });
const connections = [];
const connect = () => {
  const client = new Redis(server.url);
  connections.push(client);
  return client;
};

// allowed: a limit never reached; refused: one unit per hour, already taken.
const SCENARIOS = {
  allowed: { points: 1_000_000_000, rate: '1000000000/1h', key: (i) => `user:${i % KEYS}` },
  refused: { points: 1, rate: '1/1h', key: () => 'hot' },
};

function peers(scenario) {
  const { points, rate } = SCENARIOS[scenario];
  // The like-for-like peer of rate-limiter-flexible (a fixed window) is `opsctl`; the other
  // algorithms are printed beside it.
  const opsctlWith = (algorithm) => {
    const limiter = createRateLimiter({ redis: connect(), policies: { api: { algorithm, rate } }, keyPrefix: `o${algorithm}${scenario}`, recordRefusals: false });
    return (key) => limiter.consume('api', key);
  };
  const rlfDefault = new RateLimiterRedis({ storeClient: connect(), points, duration: 3600, keyPrefix: `d${scenario}` });
  const rlfBlock = new RateLimiterRedis({ storeClient: connect(), points, duration: 3600, keyPrefix: `b${scenario}`, inMemoryBlockOnConsumed: points });
  const bare = connect();
  const policy = resolvePolicy('api', { algorithm: 'fixed-window', rate });
  const bareCall = (key) => {
    const call = scriptCall(`e${scenario}`, [policy], key, 1, { mode: 'consume', requestIdTtlMs: 60_000 });
    return bare.evalsha(call.script.sha, call.keys.length, ...call.keys, ...call.args);
  };
  // rate-limiter-flexible rejects a refusal (the RateLimiterRes); both are decisions here.
  const rlf = (limiter) => (key) => limiter.consume(key).catch((res) => { if (res instanceof Error) throw res; return res; });
  return {
    opsctl: opsctlWith('fixed-window'),
    'opsctl sliding': opsctlWith('sliding-window'),
    'opsctl token-bucket': opsctlWith('token-bucket'),
    'opsctl gcra': opsctlWith('gcra'),
    'rlf default': rlf(rlfDefault),
    'rlf inMemoryBlock': rlf(rlfBlock),
    'bare EVALSHA': bareCall,
  };
}

/** `callers` loops, each awaiting one decision at a time, for roundMs; ops/s and latencies. */
async function measure(decide, scenario, callers) {
  const keyOf = SCENARIOS[scenario].key;
  const latencies = [];
  let ops = 0;
  const end = performance.now() + roundMs;
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      let i = caller * 7919;
      while (performance.now() < end) {
        const start = performance.now();
        await decide(keyOf(i++));
        latencies.push(performance.now() - start);
        ops += 1;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { opsPerSec: ops / (roundMs / 1000), p50: latencies[Math.floor(latencies.length * 0.5)], p99: latencies[Math.floor(latencies.length * 0.99)] };
}

const results = [];
try {
  for (const scenario of Object.keys(SCENARIOS)) {
    const candidates = peers(scenario);
    const names = Object.keys(candidates);
    // Warm-up: scripts loaded, keys created, the hot key refused from here on.
    for (const name of names) for (let i = 0; i < 2000; i++) await candidates[name](SCENARIOS[scenario].key(i));
    for (const callers of CALLERS) {
      const samples = Object.fromEntries(names.map((name) => [name, []]));
      for (let round = 0; round < rounds; round++) {
        const order = names.map((_, i) => names[(i + round) % names.length]);
        for (const name of order) samples[name].push(await measure(candidates[name], scenario, callers));
      }
      for (const name of names) {
        const s = samples[name];
        results.push({ scenario, callers, peer: name, opsPerSec: median(s.map((x) => x.opsPerSec)), p50: median(s.map((x) => x.p50)), p99: median(s.map((x) => x.p99)) });
      }
      log(`${scenario} ${callers} callers done`);
    }
  }

  // The server's ceiling: redis-benchmark sending EVALSHA of the same script (16 and 128 clients).
  const bench = (clients) => {
    const policy = resolvePolicy('api', { algorithm: 'fixed-window', rate: SCENARIOS.allowed.rate });
    const call = scriptCall('rb', [policy], 'user:__rand_int__', 1, { mode: 'consume', requestIdTtlMs: 60_000 });
    const out = execFileSync('redis-benchmark', ['-p', String(server.port), '-c', String(clients), '-n', '200000', '-r', String(KEYS), '-q',
      'EVALSHA', call.script.sha, String(call.keys.length), ...call.keys, ...call.args.map(String)], { encoding: 'utf8' });
    return Number(/([\d.]+) requests per second/.exec(out)?.[1] ?? Number.NaN);
  };
  const ceiling = { 16: bench(16), 128: bench(128) };

  if (json) {
    process.stdout.write(`${JSON.stringify({ rounds, roundMs, results, redisBenchmark: ceiling }, null, 2)}\n`);
  } else {
    const fmt = (n) => Math.round(n).toLocaleString('en-US');
    console.log(`rate limiter, fixed window, ${rounds} interleaved rounds of ${roundMs} ms, medians (Node ${process.version})`);
    console.log('scenario  callers  peer                  ops/s      p50 ms  p99 ms');
    for (const r of results) {
      console.log(`${r.scenario.padEnd(8)}  ${String(r.callers).padStart(7)}  ${r.peer.padEnd(20)}  ${fmt(r.opsPerSec).padStart(9)}  ${r.p50.toFixed(3).padStart(6)}  ${r.p99.toFixed(3).padStart(6)}`);
    }
    console.log('\nratios (opsctl fixed window / peer, ops/s):');
    for (const scenario of Object.keys(SCENARIOS)) {
      for (const callers of CALLERS) {
        const of = (peer) => results.find((r) => r.scenario === scenario && r.callers === callers && r.peer === peer);
        const ours = of('opsctl');
        const parts = ['rlf default', 'rlf inMemoryBlock', 'bare EVALSHA'].map((peer) => `${peer} ${(ours.opsPerSec / of(peer).opsPerSec).toFixed(2)}x`);
        console.log(`  ${scenario} ${String(callers).padStart(3)} callers: ${parts.join(', ')}; p99 ${ours.p99.toFixed(3)} vs rlf default ${of('rlf default').p99.toFixed(3)} ms`);
      }
    }
    console.log(`\nredis-benchmark EVALSHA of the same script: ${fmt(ceiling[16])}/s (16 clients), ${fmt(ceiling[128])}/s (128 clients)`);
  }
} finally {
  for (const client of connections) client.disconnect();
  await server.stop();
}
