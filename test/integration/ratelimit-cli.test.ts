import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/ratelimit/limiter.js';
import { createMemoryRateLimiter } from '../../src/ratelimit/memory.js';
import { runCli } from '../helpers/cli.js';
import { useRedis } from '../helpers/redis.js';

const redis = useRedis();
const dir = mkdtempSync(join(tmpdir(), 'opsctl-ratelimit-cli-'));
let client: Redis;

const POLICIES = {
  api: { algorithm: 'fixed-window', rate: '3/1h' },
  burst: { algorithm: 'gcra', rate: '10/1s', burst: 5, overrides: { partner: { burst: 50 } } },
  day: { algorithm: 'sliding-window', rate: '1000/1d', failMode: 'closed' },
} as const;

beforeAll(() => {
  writeFileSync(
    join(dir, 'opsctl.config.json'),
    JSON.stringify({ version: 2, profiles: { t: { redis: { url: redis().url }, ratelimit: { keyPrefix: 'cli', policies: POLICIES } } } }),
  );
  client = new Redis(redis().url);
});
afterAll(() => {
  client.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const run = (...argv: string[]) => runCli(argv, { cwd: dir, env: { PATH: process.env.PATH, HOME: dir } });
const json = async (...argv: string[]) => {
  const result = await run(...argv, '--json');
  return { ...result, data: result.stdout === '' ? undefined : JSON.parse(result.stdout) };
};

describe('opsctl ratelimit', () => {
  it('policies: the table of the profile\'s policies', async () => {
    const table = await run('ratelimit', 'policies');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/NAME\s+ALGORITHM\s+RATE\s+BURST\s+FAIL MODE\s+OVERRIDES/);
    expect(table.stdout).toMatch(/burst\s+gcra\s+10\/1s\s+5\s+open\s+1/);
    const { data } = await json('ratelimit', 'policies');
    expect(data).toContainEqual({ name: 'day', algorithm: 'sliding-window', rate: '1000/1d', burst: 1000, failMode: 'closed', overrides: 0 });
  });

  it('consume takes units, exits 1 when refused; status does not consume', async () => {
    expect((await json('ratelimit', 'consume', 'api', 'u1', '--cost', '2')).data).toMatchObject({ allowed: true, remaining: 1, policy: 'api' });
    expect((await json('ratelimit', 'status', 'api', 'u1')).data).toMatchObject({ allowed: true, remaining: 1 });
    expect((await json('ratelimit', 'status', 'api', 'u1')).data).toMatchObject({ remaining: 1 });
    const refused = await run('ratelimit', 'consume', 'api', 'u1', '--cost', '2');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^refused {2}1\/3 left under api, retry in/);
    // several policies at once, comma-separated: both counted
    expect((await json('ratelimit', 'consume', 'api,day', 'u1')).data).toMatchObject({ allowed: true, policies: [{ policy: 'api', remaining: 0 }, { policy: 'day', remaining: 999 }] });
    // the library and the CLI share keys: an application's limiter sees what the CLI consumed
    const app = createRateLimiter({ redis: client, policies: POLICIES, keyPrefix: 'cli' });
    expect(await app.status('api', 'u1')).toMatchObject({ allowed: false, remaining: 0 });
  });

  it('per-key overrides apply; bad input is a usage error', async () => {
    expect((await json('ratelimit', 'status', 'burst', 'partner')).data).toMatchObject({ limit: 50, remaining: 50 });
    const unknown = await run('ratelimit', 'status', 'nope', 'k');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no rate limit policy "nope"/);
    const zero = await run('ratelimit', 'consume', 'api', 'k', '--cost', '0');
    expect(zero.code).toBe(2);
  });

  it('reset: --dry-run lists, no --yes without a terminal fails, --yes deletes', async () => {
    for (const key of ['tenant:1:a', 'tenant:1:b', 'tenant:2:a']) await run('ratelimit', 'consume', 'api', key);
    const dry = await json('ratelimit', 'reset', 'api', '--pattern', 'tenant:1:*', '--dry-run');
    expect(dry.data).toEqual({ dryRun: true, matched: 2, deleted: 0, counters: [{ key: 'tenant:1:a', policy: 'api' }, { key: 'tenant:1:b', policy: 'api' }] });
    expect(await client.exists('{cli:tenant:1:a}:api')).toBe(1);
    const refused = await run('ratelimit', 'reset', 'api', '--pattern', 'tenant:1:*');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--yes/);
    const done = await json('ratelimit', 'reset', 'api', '--pattern', 'tenant:1:*', '--yes');
    expect(done.data).toMatchObject({ dryRun: false, matched: 2, deleted: 2 });
    expect(await client.exists('{cli:tenant:1:a}:api', '{cli:tenant:1:b}:api', '{cli:tenant:2:a}:api')).toBe(1);
    const one = await json('ratelimit', 'reset', '*', 'tenant:2:a', '--yes');
    expect(one.data).toMatchObject({ deleted: 1 });
    expect((await run('ratelimit', 'reset', 'api')).code).toBe(2);
  });

  it('top: the most refused keys, from the samples the library writes', async () => {
    const app = createRateLimiter({ redis: client, policies: POLICIES, keyPrefix: 'cli', refusalCacheSize: 0 });
    for (let i = 0; i < 6; i++) await app.consume('api', 'noisy');
    for (let i = 0; i < 4; i++) await app.consume('api', 'quieter');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { data, code } = await json('ratelimit', 'top', '--policy', 'api');
    expect(code).toBe(0);
    expect(data).toEqual([
      { policy: 'api', key: 'noisy', refusals: 3 },
      { policy: 'api', key: 'quieter', refusals: 1 },
    ]);
  });

  it('simulate: a 50/s client against 10/s with burst 5, on the real script and a scratch prefix', async () => {
    const result = await json('ratelimit', 'simulate', 'burst', '--rate', '50/s', '--duration', '3s');
    expect(result.code).toBe(0);
    expect(result.data).toMatchObject({ policies: ['burst'], requests: 150, firstRefusalMs: 120 });
    // burst 5 at once (0-80 ms), one more at 100 ms, then one every 100 ms: about 35 over 3 s
    expect(result.data.allowed).toBeGreaterThanOrEqual(33);
    expect(result.data.allowed).toBeLessThanOrEqual(35);
    expect(result.data.timeline).toHaveLength(3);
    expect(await client.keys('cli:simulate:*')).toEqual([]);
    const table = await run('ratelimit', 'simulate', 'burst', '--rate', '50/s', '--duration', '1s');
    expect(table.stdout).toMatch(/^50 requests: \d+ allowed, \d+ refused; first refusal after 120ms\nSECOND {2}ALLOWED {2}REFUSED\n/);
  });

  it('migrate: a memory snapshot and another Redis into the profile, dry run first, resumable checkpoint', async () => {
    const memory = createMemoryRateLimiter({ policies: POLICIES });
    await memory.consume('api', 'moved', { cost: 2 });
    writeFileSync(join(dir, 'snap.json'), JSON.stringify(memory.snapshot()));
    const dry = await json('ratelimit', 'migrate', '--from', 'snap.json', '--dry-run');
    expect(dry.data).toEqual({ dryRun: true, resumed: false, scanned: 1, copied: 1, skipped: 0 });
    expect(await client.exists('{cli:moved}:api')).toBe(0);
    expect((await run('ratelimit', 'migrate', '--from', 'snap.json')).code).toBe(2); // needs --yes
    expect((await json('ratelimit', 'migrate', '--from', 'snap.json', '--yes')).data).toMatchObject({ copied: 1 });
    expect((await json('ratelimit', 'status', 'api', 'moved')).data).toMatchObject({ remaining: 1 });

    const other = new Redis(redis().url, { db: 3 });
    try {
      await createRateLimiter({ redis: other, policies: POLICIES, keyPrefix: 'cli' }).consume('api', 'from-db3', { cost: 3 });
      const result = await json('ratelimit', 'migrate', '--from', `${redis().url}/3`, '--checkpoint', 'cp.json', '--yes');
      expect(result.data).toMatchObject({ dryRun: false, resumed: false, copied: 1 });
      expect((await json('ratelimit', 'consume', 'api', 'from-db3')).data).toMatchObject({ allowed: false });
      // the checkpoint says the scan is done: running again resumes there and copies nothing
      expect((await json('ratelimit', 'migrate', '--from', `${redis().url}/3`, '--checkpoint', 'cp.json', '--yes')).data).toMatchObject({ resumed: true, copied: 0 });
    } finally {
      other.disconnect();
    }
    const bad = await run('ratelimit', 'migrate', '--from', 'nope', '--yes');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from nope: no profile/);
  });
});
