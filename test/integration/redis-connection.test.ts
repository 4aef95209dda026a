import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { redisSchema, type RedisConfig } from '../../src/config/schema.js';
import { createRedisClient, redisError, type RedisClient } from '../../src/redis/connection.js';
import { freePort, startRedis, startRedisCluster, startRedisSentinel, type RedisServer } from '../../src/testing/index.js';
import { recordingTracer, rejection } from '../helpers/assertions.js';

const PASSWORD = 'redis-int-pass-7Qx';
const configKey = 'profiles.test.redis';

function config(input: Record<string, unknown>): RedisConfig {
  return redisSchema.parse({ connectTimeout: '2s', commandTimeout: '1s', retry: { maxAttempts: 2, baseDelay: '50ms', maxDelay: '200ms' }, ...input });
}



describe('createRedisClient against a real redis-server', () => {
  let server: RedisServer;
  const clients: RedisClient[] = [];
  const consoleError = vi.spyOn(console, 'error');

  beforeAll(async () => {
    server = await startRedis({ password: PASSWORD });
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await server?.stop();
  });

  it('connects with a password from the config, answers PING, and traces commands with AUTH redacted', async () => {
    const tracer = recordingTracer();
    const client = await createRedisClient(config({ host: '127.0.0.1', port: server.port, password: PASSWORD }), { configKey, tracer });
    clients.push(client);
    await client.set('opsctl:test:k', 'v');
    expect(await client.get('opsctl:test:k')).toBe('v');
    const text = tracer.lines.join('\n');
    expect(text).toMatch(/^redis AUTH \*\*\*\* [\d.]+ms$/m);
    expect(text).toMatch(/^redis PING [\d.]+ms$/m);
    expect(text).toMatch(/^redis SET opsctl:test:k v [\d.]+ms$/m);
    expect(text).toMatch(/^redis GET opsctl:test:k [\d.]+ms$/m);
    expect(text).not.toContain(PASSWORD);
  });

  it('lets url credentials be overridden by fields, and reads db from the URL path', async () => {
    const client = (await createRedisClient(config({ url: `redis://:wrong@127.0.0.1:${server.port}/3`, password: PASSWORD }), { configKey })) as Redis;
    clients.push(client);
    await client.set('opsctl:test:db', '3');
    const info = await client.client('INFO');
    expect(String(info)).toMatch(/\bdb=3\b/);
    expect(String(info)).toMatch(/\bname=opsctl\b/);
  });

  it('fails a wrong password at once with REDIS_AUTH_FAILED, never naming the password', async () => {
    const started = performance.now();
    const error = await rejection(createRedisClient(config({ url: `redis://:not-the-pass-9@127.0.0.1:${server.port}` }), { configKey }));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(error.code).toBe('REDIS_AUTH_FAILED');
    expect(error.message).toBe(`authentication failed for user "default" at 127.0.0.1:${server.port}`);
    expect(JSON.stringify([error.message, error.hint, error.details])).not.toMatch(/not-the-pass-9|redis-int-pass/);
  });

  it('fails a missing password with REDIS_AUTH_FAILED and says to set one', async () => {
    const error = await rejection(createRedisClient(config({ host: '127.0.0.1', port: server.port }), { configKey }));
    expect(error.code).toBe('REDIS_AUTH_FAILED');
    expect(error.hint).toContain(`set ${configKey}.password`);
  });

  it('reports a port with nothing listening as REDIS_UNREACHABLE after the bounded retries', async () => {
    const port = await freePort();
    const started = performance.now();
    const error = await rejection(createRedisClient(config({ url: `redis://127.0.0.1:${port}` }), { configKey }));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(error.code).toBe('REDIS_UNREACHABLE');
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe(`cannot connect to Redis at 127.0.0.1:${port}: connection refused`);
    expect(error.hint).toBe(`is the server running? the address comes from ${configKey}.url`);
  });

  it('gives up on a hung server within connectTimeout with REDIS_TIMEOUT', async () => {
    server.kill('SIGSTOP');
    try {
      const started = performance.now();
      const error = await rejection(createRedisClient(config({ host: '127.0.0.1', port: server.port, password: PASSWORD, connectTimeout: '700ms' }), { configKey }));
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(650);
      expect(elapsed).toBeLessThan(1500);
      expect(error.code).toBe('REDIS_TIMEOUT');
      expect(error.message).toBe(`Redis at 127.0.0.1:${server.port} did not answer within 700ms`);
    } finally {
      server.kill('SIGCONT');
    }
  });

  it('never lets ioredis print "Unhandled error event"', () => {
    expect(consoleError).not.toHaveBeenCalled();
  });
});

/**
 * A TCP proxy in front of a real Redis that can cut the connection after a command reached
 * the server but before its reply reaches the client: the one case where a resend would apply
 * a write twice.
 */
async function cuttingProxy(targetPort: number): Promise<{ port: number; cutNextReply(): void; close(): Promise<void> }> {
  let cut = false;
  const sockets = new Set<Socket>();
  const proxy: Server = createServer((downstream) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(downstream).add(upstream);
    downstream.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (cut) {
        cut = false;
        downstream.destroy();
        upstream.destroy();
        return;
      }
      downstream.write(chunk);
    });
    const close = () => {
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  return {
    port,
    cutNextReply: () => (cut = true),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => proxy.close(() => resolve()));
    },
  };
}

describe('a connection lost mid-command', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('fails the write instead of resending it, so it is applied once, and recovers', async () => {
    const proxy = await cuttingProxy(server.port);
    const client = await createRedisClient(config({ host: '127.0.0.1', port: proxy.port }), { configKey });
    const direct = await createRedisClient(config({ host: '127.0.0.1', port: server.port }), { configKey });
    try {
      proxy.cutNextReply();
      const error = await client.incr('opsctl:test:counter').then(
        () => undefined,
        (reason: unknown) => redisError(client, reason),
      );
      expect(error?.code).toBe('REDIS_UNREACHABLE');
      expect(error?.message).not.toMatch(/max retries/i);
      expect(error?.message).toContain(`127.0.0.1:${proxy.port}`);
      // The server executed it once; the client reconnects by itself and nothing was resent.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await direct.get('opsctl:test:counter')).toBe('1');
      expect(await client.incr('opsctl:test:counter')).toBe(2);
    } finally {
      client.disconnect();
      direct.disconnect();
      await proxy.close();
    }
  });

  it('fails a command issued while the server is gone with the real cause, not a generic one', async () => {
    const doomed = await startRedis();
    const client = await createRedisClient(config({ host: '127.0.0.1', port: doomed.port }), { configKey });
    try {
      await doomed.stop();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const error = await client.get('x').then(
        () => undefined,
        (reason: unknown) => redisError(client, reason),
      );
      expect(error?.code).toBe('REDIS_UNREACHABLE');
      expect(error?.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${doomed.port}`));
      expect(error?.message).not.toMatch(/max retries|Stream isn't writeable/);
    } finally {
      client.disconnect();
    }
  });

  it('a lazy client connects on its first command', async () => {
    const client = await createRedisClient(config({ host: '127.0.0.1', port: server.port }), { configKey, lazy: true });
    try {
      expect(client.status).toBe('wait');
      expect(await client.ping()).toBe('PONG');
      expect(client.status).toBe('ready');
    } finally {
      client.disconnect();
    }
  });
});

describe('Sentinel and Cluster', () => {
  it('finds the master through a Sentinel, and explains an unknown master name or a dead Sentinel', async () => {
    const topology = await startRedisSentinel({ replicas: 0, sentinels: 1, password: PASSWORD });
    const sentinel = topology.sentinels[0]!;
    try {
      const sentinelConfig = (name: string, port = sentinel.port) =>
        config({ mode: 'sentinel', password: PASSWORD, sentinel: { name, nodes: [{ host: '127.0.0.1', port }] } });
      const client = await createRedisClient(sentinelConfig('mymaster'), { configKey });
      try {
        await client.set('opsctl:test:sentinel', 'ok');
        expect(await client.get('opsctl:test:sentinel')).toBe('ok');
      } finally {
        client.disconnect();
      }

      const unknown = await rejection(createRedisClient(sentinelConfig('nosuchmaster'), { configKey }));
      expect(unknown.code).toBe('REDIS_UNREACHABLE');
      expect(unknown.message).toBe(`cannot reach Redis through sentinel nosuchmaster via 127.0.0.1:${sentinel.port}: the Sentinels do not know this master name`);
      expect(unknown.hint).toContain(`${configKey}.sentinel.name`);

      const deadPort = await freePort();
      const dead = await rejection(createRedisClient(sentinelConfig('mymaster', deadPort), { configKey }));
      expect(dead.code).toBe('REDIS_UNREACHABLE');
      expect(dead.message).toBe(`cannot connect to Redis at 127.0.0.1:${deadPort}: connection refused`);
      expect(dead.hint).toContain(`${configKey}.sentinel.nodes`);
    } finally {
      await topology.stop();
    }
  });

  it('connects to a Cluster from a seed node, and names a dead seed', async () => {
    // A one-node cluster owning every slot: a real Cluster protocol without the join wait.
    const cluster = await startRedisCluster({ primaries: 1, replicasPerPrimary: 0 });
    const node = cluster.nodes[0]!;
    try {
      const clusterConfig = (port: number) => config({ mode: 'cluster', cluster: { nodes: [{ host: '127.0.0.1', port }] } });
      const tracer = recordingTracer();
      const client = await createRedisClient(clusterConfig(node.port), { configKey, tracer });
      try {
        await client.set('opsctl:{t}:a', '1');
        expect(await client.get('opsctl:{t}:a')).toBe('1');
        expect(tracer.lines.join('\n')).toMatch(/^redis GET opsctl:\{t\}:a [\d.]+ms$/m);
      } finally {
        client.disconnect();
      }
      const deadPort = await freePort();
      const dead = await rejection(createRedisClient(clusterConfig(deadPort), { configKey }));
      expect(dead.code).toBe('REDIS_UNREACHABLE');
      expect(dead.message).toBe(`cannot connect to Redis at 127.0.0.1:${deadPort}: connection refused`);
      expect(dead.hint).toContain(`${configKey}.cluster.nodes`);
    } finally {
      await cluster.stop();
    }
  });
});

/** A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const openssl = (...args: string[]) => promisify(execFile)('openssl', args, { cwd: dir });
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=opsctl test CA');
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext');
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

describe('TLS', () => {
  it('connects over rediss:// with the CA from tls.ca, and explains an unverifiable certificate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opsctl-redis-tls-'));
    const files = await makeCertificates(dir);
    const tlsPort = await freePort();
    // The harness keeps its plain port for readiness; the test talks to the TLS port.
    const server = await startRedis({
      password: PASSWORD,
      args: ['--tls-port', String(tlsPort), '--tls-cert-file', files.cert, '--tls-key-file', files.key, '--tls-ca-cert-file', files.ca, '--tls-auth-clients', 'no'],
    });
    try {
      const client = await createRedisClient(config({ url: `rediss://127.0.0.1:${tlsPort}`, password: PASSWORD, tls: { ca: files.ca } }), { configKey });
      try {
        expect(String(await client.call('CLIENT', 'INFO'))).toMatch(new RegExp(`laddr=127\\.0\\.0\\.1:${tlsPort}`));
      } finally {
        client.disconnect();
      }
      const unverified = await rejection(createRedisClient(config({ url: `rediss://127.0.0.1:${tlsPort}`, password: PASSWORD }), { configKey }));
      expect(unverified.code).toBe('REDIS_UNREACHABLE');
      expect(unverified.message).toBe(`TLS connection to Redis at 127.0.0.1:${tlsPort} failed: the certificate chain contains a self-signed certificate`);
      expect(unverified.hint).toContain(`${configKey}.tls.ca`);
      const missing = await rejection(createRedisClient(config({ url: `rediss://127.0.0.1:${tlsPort}`, tls: { ca: join(dir, 'nope.crt') } }), { configKey }));
      expect(missing.code).toBe('CONFIG_INVALID');
      expect(missing.message).toContain(`cannot read ${configKey}.tls.ca`);
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
