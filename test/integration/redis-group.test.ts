import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisQuery, startRedis, type RedisServer } from '../../src/testing/index.js';
import { main } from '../../src/cli/main.js';
import { testIO } from '../../src/cli/ui/io.js';
import { runCli } from '../helpers/cli.js';

const PASSWORD = 'group-redis-pw-93k';

let redis: RedisServer;
const dirs: string[] = [];

/** A temp dir holding opsctl.config.yaml with one profile "t"; HOME points there too. */
async function project(redisYaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'opsctl-redis-'));
  dirs.push(dir);
  await writeFile(join(dir, 'opsctl.config.yaml'), `version: 2\nprofiles:\n  t:\n    redis:\n${redisYaml.replace(/^/gm, '      ')}\n`);
  return dir;
}

const env = (dir: string, password = PASSWORD): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: dir, REDIS_PASSWORD: password });
const standalone = (port: number, extra = '') =>
  `url: redis://127.0.0.1:${port}\npassword: \${env:REDIS_PASSWORD}\nconnectTimeout: 2s\ncommandTimeout: 2s${extra === '' ? '' : `\n${extra}`}`;

async function run(argv: string[], extra = '', options: { password?: string; tty?: boolean; signal?: AbortSignal } = {}) {
  const dir = await project(standalone(redis.port, extra));
  return runCli(argv, { cwd: dir, env: env(dir, options.password), tty: options.tty, signal: options.signal });
}

const q = (...args: string[]) => redisQuery(redis.port, args, { password: PASSWORD, timeoutMs: 10_000 });

beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD, args: ['--maxmemory', '256mb', '--maxmemory-policy', 'volatile-lru', '--enable-debug-command', 'local'] });
  // 3000 strings key:0 … key:2999, 20 hashes, and one big list for `memory`.
  await q('DEBUG', 'POPULATE', '3000', 'key');
  for (let i = 0; i < 20; i += 1) await q('HSET', `h:${i}`, 'f', 'v');
  await q('RPUSH', 'big:list', ...Array.from({ length: 2000 }, (_, i) => `element-${i}-${'x'.repeat(40)}`));
});

afterAll(async () => {
  await redis?.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('opsctl redis on a standalone server', () => {
  it('ping: one row per node, exit 0', async () => {
    const result = await run(['redis', 'ping', '--json']);
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as { node: string; role: string; ok: boolean; ms: number }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ node: `127.0.0.1:${redis.port}`, role: 'primary', ok: true });
    expect(rows[0]!.ms).toBeGreaterThan(0);
    const table = await run(['redis', 'ping']);
    expect(table.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${redis.port}\\s+primary\\s+OK\\s+[\\d.]+ms`, 'm'));
  });

  it('info: a section parsed per node, as JSON and as a FIELD/VALUE table; an unknown section is a usage error', async () => {
    const json = await run(['redis', 'info', 'memory', '--json']);
    expect(json.code).toBe(0);
    const [node] = JSON.parse(json.stdout) as { node: string; sections: Record<string, Record<string, string>> }[];
    expect(node!.node).toBe(`127.0.0.1:${redis.port}`);
    expect(Number(node!.sections.memory!.maxmemory)).toBe(256 * 1024 * 1024);
    const table = await run(['redis', 'info', 'server']);
    expect(table.stdout).toMatch(/^SECTION\s+FIELD\s+VALUE$/m);
    expect(table.stdout).toMatch(/^server\s+redis_version\s+\d+\.\d+/m);
    const bad = await run(['redis', 'info', 'nosuchsection']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no node has an INFO section "nosuchsection"');
  });

  it('health: every check passes on a healthy server (exit 0) with the node named', async () => {
    const result = await run(['redis', 'health', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { status: string; mode: string; checks: { name: string; node: string; status: string }[] };
    expect(report).toMatchObject({ status: 'pass', mode: 'standalone' });
    expect(report.checks.map((check) => check.name)).toEqual([
      'redis:latency', 'redis:memory', 'redis:fragmentation', 'redis:evictions',
      'redis:rejected-connections', 'redis:blocked-clients', 'redis:replication',
    ]);
    for (const check of report.checks) expect(check).toMatchObject({ node: `127.0.0.1:${redis.port}`, status: 'pass' });
    const table = await run(['redis', 'health']);
    expect(table.stdout).toMatch(/^CHECK\s+NODE\s+STATUS\s+DETAIL$/m);
    expect(table.stdout).toMatch(/^PASS: standalone 127\.0\.0\.1:\d+: 7 passed, 0 warnings, 0 failed$/m);
  });

  it('health: a failing threshold fails with a remedy naming its config key (exit 3); doctor.* keys still apply', async () => {
    const failing = await run(['redis', 'health'], 'health:\n  latencyFail: 0\n  blockedClientsWarn: 0');
    expect(failing.code).toBe(3);
    expect(failing.stdout).toMatch(/^redis:latency\s+\S+\s+FAIL\s+median .* above 0ms\n\s+→ .*profiles\.t\.redis\.health\.latencyFail$/m);

    // The older doctor.redisLatencyWarn is honoured when redis.health.latencyWarn is not set.
    const dir = await mkdtemp(join(tmpdir(), 'opsctl-redis-'));
    dirs.push(dir);
    await writeFile(join(dir, 'opsctl.config.yaml'), `version: 2\nprofiles:\n  t:\n    redis:\n${standalone(redis.port).replace(/^/gm, '      ')}\n    doctor:\n      redisLatencyWarn: 0ms\n`);
    const legacy = await runCli(['redis', 'health', '--json'], { cwd: dir, env: env(dir) });
    expect(legacy.code).toBe(0);
    const latency = (JSON.parse(legacy.stdout) as { checks: { name: string; status: string; remedy?: string }[] }).checks.find((c) => c.name === 'redis:latency')!;
    expect(latency.status).toBe('warn');
    expect(latency.remedy).toContain('profiles.t.doctor.redisLatencyWarn');
  });

  it('health --watch repeats until interrupted (exit 130): plain frames off a terminal, redrawn in place on one', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('test interrupt')), 1200);
    const plain = await run(['redis', 'health', '--watch', '--interval', '200ms'], '', { signal: controller.signal });
    expect(plain.code).toBe(130);
    expect(plain.stdout).not.toContain('\u001b[');
    expect(plain.stdout.match(/^PASS: standalone/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);

    const tty = new AbortController();
    setTimeout(() => tty.abort(new Error('test interrupt')), 700);
    const inPlace = await run(['redis', 'health', '--watch', '--interval', '200ms'], '', { tty: true, signal: tty.signal });
    expect(inPlace.code).toBe(130);
    const ESC = '\u001b';
    expect(inPlace.stdout.split(`${ESC}[H`).length - 1).toBeGreaterThanOrEqual(2);
    expect(inPlace.stdout).toMatch(new RegExp(`PASS: standalone .*${ESC}\\[K\n${ESC}\\[J`));
  });

  it('latency: min ≤ p50 ≤ p99 ≤ max over the samples, and a histogram in the table', async () => {
    const json = await run(['redis', 'latency', '--samples', '200', '--json']);
    expect(json.code).toBe(0);
    const [stats] = JSON.parse(json.stdout) as { node: string; samples: number; minMs: number; p50Ms: number; p99Ms: number; maxMs: number }[];
    expect(stats).toMatchObject({ node: `127.0.0.1:${redis.port}`, samples: 200 });
    expect(stats!.minMs).toBeLessThanOrEqual(stats!.p50Ms);
    expect(stats!.p50Ms).toBeLessThanOrEqual(stats!.p99Ms);
    expect(stats!.p99Ms).toBeLessThanOrEqual(stats!.maxMs);
    const table = await run(['redis', 'latency', '--samples', '100']);
    expect(table.stdout).toMatch(/^NODE\s+SAMPLES\s+MIN\s+P50\s+P99\s+MAX\s+MEAN$/m);
    expect(table.stdout).toMatch(/^\s+≤ [\d.]+ms\s+#+\s+\d+ \([\d.]+%\)$/m);
    const bad = await run(['redis', 'latency', '--samples', 'zero']);
    expect(bad.code).toBe(2);
  });

  it('topology: the standalone server as a tree', async () => {
    const result = await run(['redis', 'topology']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`standalone 127.0.0.1:${redis.port}\n└── primary 127.0.0.1:${redis.port}\n`);
    const json = JSON.parse((await run(['redis', 'topology', '--json'])).stdout) as { mode: string; nodes: unknown[] };
    expect(json).toMatchObject({ mode: 'standalone', nodes: [{ id: `127.0.0.1:${redis.port}`, role: 'primary' }] });
  });

  it('keys: SCAN finds every matching key, filters by type, stops at --limit; JSON and CSV stay well-formed', async () => {
    const all = await run(['redis', 'keys', '--pattern', 'key:*', '--json']);
    expect(all.code).toBe(0);
    const rows = JSON.parse(all.stdout) as { key: string; node: string }[];
    expect(rows).toHaveLength(3000);
    expect(new Set(rows.map((row) => row.key)).size).toBe(3000);
    expect(rows[0]).toEqual({ key: expect.stringMatching(/^key:\d+$/), node: `127.0.0.1:${redis.port}` });

    await q('EXPIRE', 'h:3', '1000');
    const detailed = JSON.parse((await run(['redis', 'keys', '--pattern', 'h:3', '--details', '--json'])).stdout) as unknown[];
    expect(detailed).toEqual([{ key: 'h:3', node: `127.0.0.1:${redis.port}`, type: 'hash', ttl: expect.any(Number) }]);
    expect((detailed[0] as { ttl: number }).ttl).toBeGreaterThan(990);

    const hashes = JSON.parse((await run(['redis', 'keys', '--type', 'hash', '--json'])).stdout) as { key: string }[];
    expect(hashes.map((row) => row.key).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `h:${i}`).sort());

    const limited = await run(['redis', 'keys', '--limit', '10', '-o', 'csv']);
    expect(limited.code).toBe(0);
    const lines = limited.stdout.trim().split('\n');
    expect(lines[0]).toBe('key,node');
    expect(lines).toHaveLength(11);

    const none = await run(['redis', 'keys', '--pattern', 'nothing:*', '--json']);
    expect(JSON.parse(none.stdout)).toEqual([]);
    const table = await run(['redis', 'keys', '--pattern', 'h:1*', '--details']);
    expect(table.stdout).toMatch(/^TYPE\s+TTL\s+NODE\s+KEY$/m);
    expect(table.stdout).toMatch(/^hash\s+-1\s+127\.0\.0\.1:\d+\s+h:1$/m);
    expect((await run(['redis', 'keys', '--type', 'hash', '--pattern', 'h:1'])).stdout).toMatch(/^TYPE\s+NODE\s+KEY\nhash\s+127\.0\.0\.1:\d+\s+h:1\n$/);
  });

  it('memory: the biggest key first', async () => {
    const result = await run(['redis', 'memory', '--top', '3', '--json']);
    expect(result.code).toBe(0);
    const top = JSON.parse(result.stdout) as { key: string; type: string; bytes: number }[];
    expect(top).toHaveLength(3);
    expect(top[0]).toMatchObject({ key: 'big:list', type: 'list' });
    expect(top[0]!.bytes).toBeGreaterThan(top[1]!.bytes);
    expect(result.stderr).toMatch(/3021 keys measured/);
  });

  it('slowlog and clients: tables of what the server records', async () => {
    await q('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
    await q('SET', 'slow:key', 'v');
    await q('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
    const slow = await run(['redis', 'slowlog', '--limit', '50', '--json']);
    expect(slow.code).toBe(0);
    const entries = JSON.parse(slow.stdout) as { command: string; durationMicros: number }[];
    expect(entries.some((entry) => entry.command === 'SET slow:key v')).toBe(true);

    const clients = await run(['redis', 'clients']);
    expect(clients.code).toBe(0);
    expect(clients.stdout).toMatch(/^NODE\s+ID\s+ADDR\s+NAME\s+USER\s+DB\s+AGE\s+IDLE\s+FLAGS\s+CMD$/m);
    expect(clients.stdout).toMatch(/\bopsctl\s+default\s+0\b.*client\|list/);
  });

  it('cluster check and failover say clearly that a standalone server is neither (exit 2)', async () => {
    const check = await run(['redis', 'cluster', 'check']);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain("the profile's Redis is a standalone server, not a cluster");
    const failover = await run(['redis', 'failover', '--dry-run']);
    expect(failover.code).toBe(2);
    expect(failover.stderr).toContain('failover needs a Sentinel or Cluster deployment');
  });

  it('a wrong password: exit 4, "authentication failed", no secret printed', async () => {
    for (const verb of [['ping'], ['health'], ['keys']]) {
      const result = await run(['redis', ...verb], '', { password: 'wrong-pw-5521' });
      expect(result.code).toBe(4);
      expect(result.stderr).toContain(`authentication failed for user "default" at 127.0.0.1:${redis.port}`);
      expect(result.stdout + result.stderr).not.toMatch(/wrong-pw-5521|group-redis-pw/);
    }
  });

  it('a wrong password for an ACL user names the user, not the password (exit 4)', async () => {
    await q('ACL', 'SETUSER', 'alice', 'on', '>alice-right-pw-1', '~*', '+@all');
    const result = await run(['redis', 'ping'], 'username: alice', { password: 'alice-wrong-pw-2' });
    expect(result.code).toBe(4);
    expect(result.stderr).toContain(`authentication failed for user "alice" at 127.0.0.1:${redis.port}`);
    expect(result.stderr).toContain('profiles.t.redis.username');
    expect(result.stdout + result.stderr).not.toMatch(/alice-wrong-pw-2|alice-right-pw-1/);
    expect((await run(['redis', 'ping'], 'username: alice', { password: 'alice-right-pw-1' })).code).toBe(0);
  });

  it('every verb shows an example in --help', async () => {
    for (const verb of [['ping'], ['info'], ['health'], ['latency'], ['topology'], ['keys'], ['memory'], ['slowlog'], ['clients'], ['cluster', 'check'], ['failover']]) {
      const result = await runCli(['redis', ...verb, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Examples:\n\s+\$ opsctl /);
    }
  });
});

describe('opsctl redis when a node stops answering or the keyspace is large', () => {
  it('a node paused mid-command (SIGSTOP): a timeout naming the node, no hang', async () => {
    const paused = await startRedis({ password: PASSWORD });
    try {
      const dir = await project(standalone(paused.port).replace('commandTimeout: 2s', 'commandTimeout: 500ms'));
      setTimeout(() => paused.kill('SIGSTOP'), 300);
      const started = performance.now();
      const result = await runCli(['redis', 'latency', '--samples', '100000', '--interval', '1ms'], { cwd: dir, env: env(dir) });
      expect(performance.now() - started).toBeLessThan(8000);
      expect(result.code).toBe(4);
      expect(result.stderr).toContain(`Redis at 127.0.0.1:${paused.port} did not answer within 500ms`);
    } finally {
      paused.kill('SIGCONT');
      await paused.stop();
    }
  });

  it('keys on a large keyspace streams and stops when interrupted, leaving a valid JSON array (exit 130)', async () => {
    await q('DEBUG', 'POPULATE', '200000', 'many');
    const dir = await project(standalone(redis.port));
    // Interrupt once the first rows are out: the command must stop there, not finish the scan.
    const controller = new AbortController();
    const base = testIO();
    let writes = 0;
    const io = { ...base, stdout: { write: (chunk: string) => { base.stdout.write(chunk); writes += 1; if (writes === 3) controller.abort(new Error('test interrupt')); } } };
    const code = await main(['redis', 'keys', '--pattern', 'many:*', '--json'], { io, env: env(dir), cwd: dir, signal: controller.signal });
    expect(code).toBe(130);
    const rows = JSON.parse(base.out()) as unknown[];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(10_000);
    expect(base.err()).toContain('interrupted');
    await q('FLUSHDB');
  });
});
