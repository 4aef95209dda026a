import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptCall } from '../../src/ratelimit/limiter.js';
import { ALGORITHMS, resolvePolicy } from '../../src/ratelimit/policy.js';
import { startRedisCluster, type RedisClusterTopology } from '../../src/testing/index.js';
import { useRedis } from '../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROCESSES = 4;
const CALLS_PER_PROCESS = 40;
const LIMIT = 50;

/**
 * A separate `node` process: waits for a common start time, then sends its calls (all at once,
 * on one connection) with EVALSHA and the NOSCRIPT fallback, and prints how many were allowed
 * per algorithm. The script, keys and arguments are built by the library (scriptCall), so the
 * processes run exactly what createRateLimiter sends.
 */
const WORKER = `
import { Redis, Cluster } from 'ioredis';
const job = JSON.parse(process.argv[1]);
const client = job.cluster ? new Cluster(job.cluster) : new Redis(job.url);
const run = async (c) => {
  try { return await client.evalsha(c.script.sha, c.keys.length, ...c.keys, ...c.args); }
  catch (e) { if (!String(e.message).startsWith('NOSCRIPT')) throw e; return client.eval(c.script.source, c.keys.length, ...c.keys, ...c.args); }
};
await new Promise((r) => setTimeout(r, Math.max(0, job.startAt - Date.now())));
const allowed = {};
for (const [algorithm, call] of Object.entries(job.calls)) {
  const replies = await Promise.all(Array.from({ length: job.count }, () => run(call)));
  allowed[algorithm] = replies.filter((reply) => reply[1] === 1).length;
}
process.stdout.write(JSON.stringify(allowed));
client.disconnect();
`;

function worker(job: object): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', WORKER, JSON.stringify(job)], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Record<string, number>);
    });
  });
}

async function runProcesses(target: { url?: string; cluster?: { host: string; port: number }[] }, keyPrefix: string, onStart?: () => Promise<void>) {
  const calls = Object.fromEntries(
    ALGORITHMS.map((algorithm) => {
      // A week-long period: no window edge and no refill during the test.
      const policy = resolvePolicy(algorithm, { algorithm, rate: `${LIMIT}/1w` });
      return [algorithm, scriptCall(keyPrefix, [policy], 'hot', 1, { mode: 'consume', requestIdTtlMs: 60_000 })];
    }),
  );
  const job = { ...target, calls, count: CALLS_PER_PROCESS, startAt: Date.now() + 700 };
  const running = Promise.all(Array.from({ length: PROCESSES }, () => worker(job)));
  if (onStart !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, job.startAt - Date.now()));
    await onStart();
  }
  const results = await running;
  return Object.fromEntries(ALGORITHMS.map((algorithm) => [algorithm, results.reduce((sum, r) => sum + (r[algorithm] ?? 0), 0)]));
}

const exactlyLimit = Object.fromEntries(ALGORITHMS.map((algorithm) => [algorithm, LIMIT]));

describe(`exactness: ${PROCESSES} processes x ${CALLS_PER_PROCESS} calls on one key at limit ${LIMIT}`, () => {
  const redis = useRedis();

  it('standalone: exactly the limit is allowed, for every algorithm, with SCRIPT FLUSH while they run', async () => {
    const admin = new Redis(redis().url);
    try {
      expect(await runProcesses({ url: redis().url }, 'exact', async () => void (await admin.script('FLUSH')))).toEqual(exactlyLimit);
    } finally {
      admin.disconnect();
    }
  });

  describe('Cluster', () => {
    let cluster: RedisClusterTopology;
    beforeAll(async () => {
      cluster = await startRedisCluster({ replicasPerPrimary: 0 });
    }, 120_000);
    afterAll(async () => {
      await cluster?.stop();
    });

    it('exactly the limit is allowed, for every algorithm (keys share one hash tag)', async () => {
      expect(await runProcesses({ cluster: cluster.seeds }, 'exact')).toEqual(exactlyLimit);
      const client = new Cluster(cluster.seeds);
      try {
        // the counters live in the slot of the tag {exact:hot}
        const slot = Number(await client.cluster('KEYSLOT', '{exact:hot}:gcra'));
        expect(Number(await client.cluster('KEYSLOT', '{exact:hot}:fixed-window'))).toBe(slot);
        expect(await client.exists('{exact:hot}:gcra')).toBe(1);
      } finally {
        client.disconnect();
      }
    });
  });
});
