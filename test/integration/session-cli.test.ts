import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStore, type SessionStore } from '../../src/session/store.js';
import { runCli } from '../helpers/cli.js';
import { useRedis } from '../helpers/redis.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';

const redis = useRedis();
const cases = useCaseDirs('session-cli');
let client: Redis;
let prefixCount = 0;

const KEY_OLD = randomBytes(32).toString('base64');
const KEY_NEW = randomBytes(32).toString('base64');

beforeAll(() => {
  client = new Redis(redis().url);
});
afterAll(() => {
  client.disconnect();
});

/** A project whose profile `t` uses a prefix of its own; returns the CLI runner and a store on the same keys. */
async function project(sessionYaml = ''): Promise<{ run: (argv: string[], tty?: boolean) => ReturnType<typeof runCli>; prefix: string }> {
  prefixCount += 1;
  const prefix = `cli${prefixCount}:`;
  const dir = cases.dir();
  await writeFile(
    join(dir, 'opsctl.config.yaml'),
    `version: 2\nprofiles:\n  t:\n    redis:\n      url: ${redis().url}\n    session:\n      keyPrefix: "${prefix}"\n      idleTtl: 1h\n${sessionYaml.replace(/^/gm, '      ')}\n`,
  );
  const env = { PATH: process.env.PATH, HOME: dir, KEY_OLD, KEY_NEW };
  return { prefix, run: (argv, tty = false) => runCli(['--profile', 't', ...argv], { cwd: dir, env, tty }) };
}

function storeFor(prefix: string, options: Partial<Parameters<typeof createSessionStore>[0]> = {}): SessionStore {
  return createSessionStore({ client, keyPrefix: prefix, idleTtlMs: 3_600_000, ...options });
}

describe('opsctl session', () => {
  it('list: streams sessions as a table or JSON, filters by user, idle time and limit', async () => {
    const { run, prefix } = await project();
    const store = storeFor(prefix);
    const a = await store.create({ user: 'alice', data: { x: 1 } });
    await store.create({ user: 'bob' });
    await store.create({});
    // An hour-long idle TTL with 20 minutes left: idle for 40 minutes.
    await client.pexpire(store.keys.session(a.id), 20 * 60_000);

    const table = await run(['session', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+USER\s+CREATED\s+IDLE/m);
    expect(table.stdout).toContain(a.id);
    expect(table.stderr).toContain('3 sessions');

    const json = JSON.parse((await run(['session', 'list', '--json'])).stdout) as { id: string; user: string }[];
    expect(json).toHaveLength(3);
    expect(JSON.parse((await run(['session', 'list', '--user', 'alice', '--json'])).stdout)).toEqual([expect.objectContaining({ id: a.id, user: 'alice' })]);
    expect(JSON.parse((await run(['session', 'list', '--idle-over', '30m', '--json'])).stdout)).toEqual([expect.objectContaining({ id: a.id })]);
    expect(JSON.parse((await run(['session', 'list', '--limit', '2', '--json'])).stdout)).toHaveLength(2);
    expect((await run(['session', 'list', '--idle-over', 'soon'])).code).toBe(2);
  });

  it('show: metadata always, data only with --reveal (which needs --yes without a terminal); unknown id exits 1', async () => {
    const { run, prefix } = await project();
    const store = storeFor(prefix);
    const { id } = await store.create({ user: 'alice', data: { email: 'alice@example.com' } });
    const shown = await run(['session', 'show', id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('user      alice');
    expect(shown.stdout).toContain('email');
    expect(shown.stdout).not.toContain('alice@example.com');
    const refused = await run(['session', 'show', id, '--reveal']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
    const revealed = JSON.parse((await run(['session', 'show', id, '--reveal', '--yes', '--json'])).stdout) as { data: unknown };
    expect(revealed.data).toEqual({ email: 'alice@example.com' });
    const missing = await run(['session', 'show', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no session');
  });

  it('show names an unreadable session and exits 1', async () => {
    const { run, prefix } = await project();
    const store = storeFor(prefix);
    const { id } = await store.create({ data: { a: 1 } });
    const key = store.keys.session(id);
    await client.set(key, (await client.get(key))!.replace('{"a":1}', '{broken'), 'KEEPTTL');
    const result = await run(['session', 'show', id]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot be read: corrupt/);
  });

  it('revoke: one id or every session of a user; --dry-run counts; no --yes without a terminal is refused', async () => {
    const { run, prefix } = await project();
    const store = storeFor(prefix);
    const one = await store.create({ user: 'carol' });
    await store.create({ user: 'carol' });
    const other = await store.create({ user: 'dave' });
    const dry = await run(['session', 'revoke', '--user', 'carol', '--dry-run', '--json']);
    expect(JSON.parse(dry.stdout)).toEqual({ dryRun: true, sessions: 2 });
    expect((await store.listForUser('carol')).length).toBe(2);
    const refused = await run(['session', 'revoke', '--user', 'carol']);
    expect(refused.code).toBe(2);
    expect((await store.listForUser('carol')).length).toBe(2);
    expect(JSON.parse((await run(['session', 'revoke', one.id, '--yes', '--json'])).stdout)).toEqual({ revoked: 1 });
    expect(JSON.parse((await run(['session', 'revoke', '--user', 'carol', '--yes', '--json'])).stdout)).toEqual({ revoked: 1 });
    expect(await store.listForUser('carol')).toEqual([]);
    expect(await store.get(other.id)).not.toBeNull();
    expect((await run(['session', 'revoke'])).code).toBe(2);
  });

  it('stats: counts, per-user distribution, histograms and size percentiles', async () => {
    const { run, prefix } = await project();
    const store = storeFor(prefix);
    await store.create({ user: 'u1', data: { pad: 'x'.repeat(100) } });
    await store.create({ user: 'u1' });
    await store.create({ user: 'u2' });
    await store.create({});
    const stats = JSON.parse((await run(['session', 'stats', '--json'])).stdout) as Record<string, unknown>;
    expect(stats).toMatchObject({ count: 4, users: 2, anonymous: 1, perUser: { 1: 1, 2: 1 }, age: { '<1m': 4 }, expiringWithinHour: 4 });
    expect((stats['bytes'] as { max: number }).max).toBeGreaterThan(100);
    expect(stats['memoryBytes']).toBeGreaterThan(0);
    const table = await run(['session', 'stats']);
    expect(table.stdout).toMatch(/sessions\s+4 \(2 users, 1 anonymous\)/);
  });

  it('purge: dry-run counts, then destroys only sessions idle long enough', async () => {
    const { run, prefix } = await project();
    const store = storeFor(prefix);
    const idle = await Promise.all([1, 2, 3].map(() => store.create({ user: 'idle' })));
    const fresh = await store.create({ user: 'fresh' });
    for (const s of idle) await client.pexpire(store.keys.session(s.id), 10 * 60_000);
    expect(JSON.parse((await run(['session', 'purge', '--idle-over', '30m', '--dry-run', '--json'])).stdout)).toEqual({ dryRun: true, sessions: 3 });
    expect(JSON.parse((await run(['session', 'purge', '--idle-over', '30m', '--yes', '--json'])).stdout)).toEqual({ purged: 3 });
    expect(await store.get(fresh.id)).not.toBeNull();
    expect(await store.listForUser('idle')).toEqual([]);
  });

  it('rekey: rewrites values under old keys with the first key, and fails naming sessions under a missing key', async () => {
    const { run, prefix } = await project('encryption:\n  keys:\n    - { id: new, key: "${env:KEY_NEW}" }\n    - { id: old, key: "${env:KEY_OLD}" }');
    const old = storeFor(prefix, { encryptionKeys: [{ id: 'old', key: Buffer.from(KEY_OLD, 'base64') }] });
    const sessions = await Promise.all([1, 2].map((i) => old.create({ data: { i } })));
    expect(JSON.parse((await run(['session', 'rekey', '--dry-run', '--json'])).stdout)).toMatchObject({ sessions: 2, fields: 2 });
    expect(JSON.parse((await run(['session', 'rekey', '--yes', '--json'])).stdout)).toMatchObject({ sessions: 2, fields: 2, unreadable: 0 });
    for (const s of sessions) expect(await client.get(old.keys.session(s.id))).toMatch(/^2:2:\d+:\d+::!new:/);
    const lost = storeFor(prefix, { encryptionKeys: [{ id: 'gone', key: randomBytes(32) }] });
    await lost.create({ data: { z: 1 } });
    const failed = await run(['session', 'rekey', '--yes']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/1 session\(s\) could not be rekeyed/);
    const noKeys = await (await project()).run(['session', 'rekey', '--yes']);
    expect(noKeys.code).toBe(2);
  });

  it('every verb has examples in its help', async () => {
    const { run } = await project();
    for (const verb of ['list', 'show', 'revoke', 'stats', 'purge', 'rekey', 'migrate']) {
      const help = await run(['session', verb, '--help']);
      expect(help.code, verb).toBe(0);
      expect(help.stdout, verb).toMatch(/Examples:\n\s+\$ opsctl session /);
    }
  });

  it('migrate: copies from a URL into the profile, verifies, resumes nothing twice; imports connect-redis keys', async () => {
    const { run, prefix } = await project();
    const source = storeFor('src-cli:');
    const sessions = await Promise.all(Array.from({ length: 30 }, (_, i) => source.create({ user: `m${i % 3}`, data: { i } })));
    const dry = JSON.parse((await run(['session', 'migrate', '--from', redis().url, '--from-prefix', 'src-cli:', '--to', 't', '--dry-run', '--json'])).stdout);
    expect(dry).toMatchObject({ dryRun: true, source: 30, matching: 0, missing: 30 });
    const result = await run(['session', 'migrate', '--from', redis().url, '--from-prefix', 'src-cli:', '--to', 't', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ copied: 30, source: 30, matching: 30, missing: 0, different: 0 });
    const target = storeFor(prefix);
    expect((await target.get(sessions[4]!.id))?.data).toEqual({ i: 4 });
    expect((await target.listForUser('m1')).length).toBe(10);
    expect((await run(['session', 'migrate', '--from', redis().url, '--from-prefix', 'src-cli:', '--to', 't', '--verify-only'])).code).toBe(0);
    await source.create({ data: { late: true } });
    const stale = await run(['session', 'migrate', '--from', redis().url, '--from-prefix', 'src-cli:', '--to', 't', '--verify-only']);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain('1 session(s) missing');

    await client.set('legacy:abc', JSON.stringify({ cookie: { originalMaxAge: 60_000 }, userId: 'old-user' }), 'PX', 60_000);
    const imported = await run(['session', 'migrate', '--from', redis().url, '--format', 'connect-redis', '--from-prefix', 'legacy:', '--to', 't', '--json']);
    expect(JSON.parse(imported.stdout)).toMatchObject({ copied: 1, matching: 1 });
    expect((await target.listForUser('old-user')).map((s) => s.id)).toEqual(['abc']);
    expect((await run(['session', 'migrate', '--from', 'nope', '--to', 't'])).code).toBe(2);
  });
});
