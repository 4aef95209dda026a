import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ageDecryptBuffer, parseIdentityFile } from '../../src/backup/age.js';
import { OpsError } from '../../src/core/errors.js';
import { startRedisCluster, startRedisSentinel, type RedisClusterTopology, type RedisSentinelTopology } from '../../src/testing/index.js';
import { runCli } from '../helpers/cli.js';
import { startRedis, useRedis, type RedisServer } from '../helpers/redis.js';
import { hasProgram } from '../helpers/programs.js';

const redis = useRedis();
const MARKER = 'REDIS-PLAINTEXT-MARKER-51d2';
const root = mkdtempSync(join(tmpdir(), 'opsctl-backup-redis-'));
const repoDir = join(root, 'repo');
const keyFile = join(root, 'key.txt');
const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const hasCheckRdb = hasProgram('redis-check-rdb');

function writeConfig(dir: string, redisSection: string): void {
  writeFileSync(
    join(dir, 'opsctl.config.yaml'),
    `version: 2\ndefaultProfile: test\nprofiles:\n  test:\n    redis:\n${redisSection}\n    backup:\n      repository: ${repoDir}\n      keyFile: ${keyFile}\n`,
  );
}

const cli = (argv: string[], cwd = root) => runCli(argv, { cwd, env, tty: false });

interface RedisObject {
  path: string;
  sizeLogical: number;
  sha256Content: string;
  redis: { node: string; replOffset: number; replId: string; slots?: [number, number][] };
}

function manifestOf(id: string): { kind: string; source: { server: string }; objects: RedisObject[] } {
  return JSON.parse(readFileSync(join(repoDir, 'backups', id, 'manifest.json'), 'utf8'));
}

/** age -d | zstd -d of a stored object, with the repository's key. */
async function rdbOf(id: string, object: RedisObject): Promise<Buffer> {
  const identities = parseIdentityFile(readFileSync(keyFile, 'utf8'), keyFile).map((key) => key.identity);
  const compressed = await ageDecryptBuffer(readFileSync(join(repoDir, 'backups', id, object.path)), identities);
  return execFileSync('zstd', ['-d', '-c', '-q'], { input: compressed, maxBuffer: 1 << 28 });
}

/** No SYNC waits 5 s for other replicas on the test servers. */
async function noSyncDelay(server: { host: string; port: number }): Promise<void> {
  const client = new Redis({ host: server.host, port: server.port, lazyConnect: true });
  await client.connect();
  await client.config('SET', 'repl-diskless-sync-delay', '0');
  client.disconnect();
}

beforeAll(async () => {
  await noSyncDelay(redis());
  const client = new Redis(redis().url);
  await client.set('marker', MARKER);
  await client.hset('user:1', { name: 'ada', role: 'admin' });
  for (let i = 0; i < 500; i += 1) await client.set(`key:${i}`, `value ${i}`);
  client.disconnect();
  writeConfig(root, `      url: ${redis().url}`);
  const init = await cli(['backup', 'init', '--generate-key', '--json']);
  expect(init.code, init.stderr).toBe(0);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('backup run redis (standalone)', () => {
  let id = '';

  it('stores an encrypted RDB that age -d | zstd -d turns back into a valid RDB', async () => {
    const result = await cli(['backup', 'run', 'redis', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { id: string; kind: string; nodes: { node: string; replOffset: number }[] };
    id = summary.id;
    expect(summary.kind).toBe('redis');
    expect(summary.nodes).toHaveLength(1);
    expect(summary.nodes[0]!.node).toBe(`127.0.0.1:${redis().port}`);
    const manifest = manifestOf(id);
    const [object] = manifest.objects;
    expect(object!.path).toMatch(/^redis-127\.0\.0\.1_\d+\.rdb\.zst\.age$/);
    expect(object!.redis.replId).toMatch(/^[0-9a-f]{40}$/);
    expect(object!.redis.replOffset).toBeGreaterThanOrEqual(0);
    const stored = readFileSync(join(repoDir, 'backups', id, object!.path));
    expect(stored.includes(MARKER)).toBe(false);
    const rdb = await rdbOf(id, object!);
    expect(rdb.subarray(0, 5).toString()).toBe('REDIS');
    expect(rdb.length).toBe(object!.sizeLogical);
    expect(rdb.includes(MARKER)).toBe(true);
    if (hasCheckRdb) {
      const file = join(root, 'check.rdb');
      writeFileSync(file, rdb);
      expect(execFileSync('redis-check-rdb', [file], { encoding: 'utf8' })).toMatch(/RDB looks OK/);
    }
  });

  it('is listed, shown and deep-verified like any backup', async () => {
    const list = await cli(['backup', 'list', '--kind', 'redis', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((row) => row.id)).toEqual([id]);
    const verify = await cli(['backup', 'verify', id, '--deep', '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    expect((JSON.parse(verify.stdout) as { status: string }[]).every((check) => check.status === 'ok')).toBe(true);
  });

  it('exits 4 and records a failed run when Redis is not there', async () => {
    const dir = mkdtempSync(join(root, 'down-'));
    const stopped = await startRedis();
    await stopped.stop();
    writeConfig(dir, `      url: redis://127.0.0.1:${stopped.port}\n      connectTimeout: 1s`);
    const before = readdirSync(join(repoDir, 'backups')).length;
    const result = await cli(['backup', 'run', 'redis'], dir);
    expect(result.code, result.stderr).toBe(4);
    expect(readdirSync(join(repoDir, 'backups'))).toHaveLength(before);
  });
});

interface RunFile {
  id: string;
  status: string;
  startedAt: string;
  error?: { code: string };
}

/** The run records written so far; a record being replaced (temp file, half written) is skipped. */
function readRuns(): RunFile[] {
  const runsDir = join(repoDir, 'runs');
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir).flatMap((name) => {
    try {
      return [JSON.parse(readFileSync(join(runsDir, name), 'utf8')) as RunFile];
    } catch {
      return [];
    }
  });
}

/** Waits until a redis run is recorded as running (the SYNC starts right after). */
async function runningRecord(): Promise<void> {
  const started = Date.now();
  const isRunning = () => readRuns().some((run) => run.id.includes('-redis-') && run.status === 'running');
  while (!isRunning() && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('Redis lost mid-backup', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('Ctrl-C during the transfer exits 130 and leaves no manifest', async () => {
    const dir = mkdtempSync(join(root, 'interrupt-'));
    writeConfig(dir, `      url: ${server.url}`);
    const controller = new AbortController();
    const running = runCli(['backup', 'run', 'redis', '--json'], { cwd: dir, env, tty: false, signal: controller.signal });
    await runningRecord();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // What the CLI's SIGINT handler does.
    controller.abort(new OpsError('INTERRUPTED', 'interrupted by SIGINT'));
    const result = await running;
    expect(result.code, result.stderr).toBe(130);
    // The command returns at once; the aborted run records itself failed a moment later.
    const interruptedRun = () => readRuns().find((run) => run.id.includes('-redis-') && run.error?.code === 'INTERRUPTED');
    const deadline = Date.now() + 3000;
    while (interruptedRun() === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const interrupted = interruptedRun();
    expect(interrupted?.status).toBe('failed');
    expect(existsSync(join(repoDir, 'backups', interrupted!.id))).toBe(false);
  });

  it('exits 4, leaves no manifest and a failed run', async () => {
    const dir = mkdtempSync(join(root, 'lost-'));
    writeConfig(dir, `      url: ${server.url}\n      connectTimeout: 1s`);
    // The default repl-diskless-sync-delay (5 s) holds the SYNC open: the server dies while
    // redis-cli waits for the snapshot.
    const running = cli(['backup', 'run', 'redis', '--json'], dir);
    await runningRecord();
    await new Promise((resolve) => setTimeout(resolve, 500));
    server.kill('SIGKILL');
    const result = await running;
    expect(result.code, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/lost during the RDB transfer|could not|unreachable/i);
    // The newest failed redis run: the Ctrl-C test before this one left one in the same repository.
    const failed = readRuns()
      .filter((run) => run.id.includes('-redis-') && run.status === 'failed')
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
      .at(-1);
    expect(failed?.error?.code).toBe('REDIS_UNREACHABLE');
    expect(existsSync(join(repoDir, 'backups', failed!.id))).toBe(false);
  });
});

describe('backup run redis (Cluster)', () => {
  let cluster: RedisClusterTopology;
  beforeAll(async () => {
    cluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 0 });
    await Promise.all(cluster.seeds.map(noSyncDelay));
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('takes one RDB per primary with its slot ranges, covering every slot', async () => {
    const dir = mkdtempSync(join(root, 'cluster-'));
    writeConfig(dir, `      mode: cluster\n      cluster:\n        nodes:\n${cluster.seeds.map((seed) => `          - { host: ${seed.host}, port: ${seed.port} }`).join('\n')}`);
    const result = await cli(['backup', 'run', 'redis', '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const manifest = manifestOf((JSON.parse(result.stdout) as { id: string }).id);
    expect(manifest.source.server).toMatch(/^cluster /);
    expect(manifest.objects).toHaveLength(3);
    const slots = manifest.objects.flatMap((object) => object.redis.slots ?? []).sort((a, b) => a[0] - b[0]);
    expect(slots[0]![0]).toBe(0);
    expect(slots.at(-1)![1]).toBe(16383);
    expect(slots.reduce((sum, [from, to]) => sum + to - from + 1, 0)).toBe(16384);
    for (const object of manifest.objects) {
      const rdb = await rdbOf((JSON.parse(result.stdout) as { id: string }).id, object);
      expect(rdb.subarray(0, 5).toString()).toBe('REDIS');
    }
  }, 60_000);
});

describe('backup run redis (Sentinel, password)', () => {
  let topology: RedisSentinelTopology;
  beforeAll(async () => {
    topology = await startRedisSentinel({ replicas: 1, sentinels: 1, password: 'sentinel-s3cret' });
    const client = new Redis({ host: topology.primary.host, port: topology.primary.port, password: 'sentinel-s3cret' });
    await client.config('SET', 'repl-diskless-sync-delay', '0');
    await client.set('marker', MARKER);
    client.disconnect();
  }, 60_000);
  afterAll(async () => {
    await topology?.stop();
  });

  it('backs up the primary the Sentinels name, authenticating through REDISCLI_AUTH', async () => {
    const dir = mkdtempSync(join(root, 'sentinel-'));
    const nodes = topology.sentinelNodes.map((node) => `          - { host: ${node.host}, port: ${node.port} }`).join('\n');
    writeConfig(dir, `      mode: sentinel\n      password: sentinel-s3cret\n      sentinel:\n        name: ${topology.masterName}\n        nodes:\n${nodes}`);
    const result = await cli(['backup', 'run', 'redis', '--json', '--debug'], dir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('sentinel-s3cret');
    const { id } = JSON.parse(result.stdout) as { id: string };
    const manifest = manifestOf(id);
    expect(manifest.objects.map((object) => object.redis.node)).toEqual([`127.0.0.1:${topology.primary.port}`]);
    expect((await rdbOf(id, manifest.objects[0]!)).includes(MARKER)).toBe(true);
  }, 60_000);
});
