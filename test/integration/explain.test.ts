import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { freePort, useRedis } from '../helpers/redis.js';
import { usePostgres } from '../helpers/postgres.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';

const PASSWORD = 'explain-s3cret';
const redis = useRedis({ password: PASSWORD });
const postgres = usePostgres();
const dirs = useCaseDirs('explain');

function writeConfig(profiles: string): string {
  const dir = dirs.dir();
  writeFileSync(join(dir, 'opsctl.config.yaml'), `version: 2\ndefaultProfile: local\nprofiles:\n${profiles}`);
  return dir;
}

/** Runs a printed line in a shell with the password placeholder filled in, as an operator would. */
function runPrinted(line: string): string {
  const filled = line.replace(/REDISCLI_AUTH=<[^>]+>/, `REDISCLI_AUTH=${PASSWORD}`);
  return execFileSync('sh', ['-c', filled], { encoding: 'utf8' });
}

describe('--explain', () => {
  it('prints redis-cli lines that do what the command does, without the password', async () => {
    const dir = writeConfig(`  local:\n    redis: { url: "redis://:${PASSWORD}@127.0.0.1:${redis().port}" }\n`);
    const result = await runCli(['redis', 'ping', '--explain'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`REDISCLI_AUTH=<profiles.local.redis.url> redis-cli -h 127.0.0.1 -p ${redis().port} PING\n`);
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    expect(runPrinted(result.stdout.trim())).toBe('PONG\n');

    await redisCli('SET', 'explain:a', '1');
    const keys = await runCli(['redis', 'keys', '--pattern', 'explain:*', '--explain'], { cwd: dir });
    expect(keys.stdout).toContain("--scan --pattern 'explain:*'");
    expect(runPrinted(keys.stdout.trim())).toBe('explain:a\n');
  });

  it('connects to nothing: works with every server unreachable', async () => {
    const port = await freePort();
    const dir = writeConfig(`  local:\n    redis: { host: 127.0.0.1, port: ${port}, connectTimeout: 50ms, retry: { maxAttempts: 0 } }\n`);
    const result = await runCli(['redis', 'info', 'memory', '--explain'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`redis-cli -h 127.0.0.1 -p ${port} INFO memory\n`);
  });

  it('shows discovery then per-node lines for Sentinel and Cluster, as JSON on request', async () => {
    const dir = writeConfig(
      [
        '  local:',
        '    redis: { mode: sentinel, password: pw-sentinel-data, sentinel: { name: mymaster, nodes: [{ host: 10.0.0.1, port: 26379 }] } }',
        '  clu:',
        '    redis: { mode: cluster, cluster: { nodes: [{ host: 10.0.0.5, port: 7000 }] } }',
        '',
      ].join('\n'),
    );
    const sentinel = await runCli(['redis', 'slowlog', '--limit', '5', '--explain', '--json'], { cwd: dir });
    expect(sentinel.code).toBe(0);
    const steps = JSON.parse(sentinel.stdout) as { note: string | null; command: string }[];
    expect(steps.map((step) => step.command)).toEqual([
      'redis-cli -h 10.0.0.1 -p 26379 SENTINEL GET-MASTER-ADDR-BY-NAME mymaster',
      'redis-cli -h 10.0.0.1 -p 26379 SENTINEL REPLICAS mymaster',
      'redis-cli -h 10.0.0.1 -p 26379 SENTINEL SENTINELS mymaster',
      'REDISCLI_AUTH=<profiles.local.redis.password> redis-cli -h <node-host> -p <node-port> SLOWLOG GET 5',
    ]);
    expect(sentinel.stdout).not.toContain('pw-sentinel-data');

    const cluster = await runCli(['--profile', 'clu', 'redis', 'memory', '--explain'], { cwd: dir });
    expect(cluster.stdout).toContain('redis-cli -h 10.0.0.5 -p 7000 CLUSTER NODES');
    expect(cluster.stdout).toContain('# on every primary found above');
  });

  it('doctor: the psql line runs as printed and answers the version doctor checks', async () => {
    const dir = writeConfig(`  local:\n    postgres: { url: "${postgres().url}" }\n`);
    const result = await runCli(['doctor', '--explain'], { cwd: dir });
    expect(result.code).toBe(0);
    const psqlLine = result.stdout.split('\n').find((line) => line.includes(' psql '))!;
    expect(psqlLine).toContain(`PGPORT=${postgres().port}`);
    const answer = execFileSync('sh', ['-c', psqlLine], { encoding: 'utf8', env: { ...process.env, PATH: `${postgres().binDir}:${process.env.PATH}` } });
    expect(answer).toMatch(/^\d{6}\|\d+\.\d+/);
    expect(result.stdout).toContain('pg_dump --version');
  });

  it('ratelimit consume: the printed EVALSHA consumes exactly as the command would', async () => {
    const dir = writeConfig(
      `  local:\n    redis: { url: "redis://:${PASSWORD}@127.0.0.1:${redis().port}" }\n    ratelimit: { policies: { api: { algorithm: fixed-window, rate: "10/1m" } } }\n`,
    );
    const explained = await runCli(['ratelimit', 'consume', 'api', 'user:7', '--cost', '3', '--explain'], { cwd: dir });
    expect(explained.code).toBe(0);
    expect(explained.stdout).toMatch(/# Lua script ratelimit \(sha1 [0-9a-f]{40}\)/);
    const line = explained.stdout.split('\n').find((text) => text.includes('EVALSHA'))!;
    await redisCli('SCRIPT', 'FLUSH');
    // A server without the script answers NOSCRIPT, as the note says; loaded, the line runs.
    expect(runPrinted(line)).toMatch(/NOSCRIPT/);
    const status = await runCli(['ratelimit', 'status', 'api', 'user:7', '--json'], { cwd: dir });
    expect(JSON.parse(status.stdout).remaining).toBe(10);
    runPrinted(line);
    const after = await runCli(['ratelimit', 'status', 'api', 'user:7', '--json'], { cwd: dir });
    expect(JSON.parse(after.stdout).remaining).toBe(7);
  });

  it('backup run postgres: the printed pipeline makes a dump that age -d | zstd -d | pg_restore --list reads', async () => {
    const dir = writeConfig(`  local:\n    postgres: { url: "${postgres().url}" }\n    backup: { repository: ./repo, keyFile: ./key.txt }\n`);
    expect((await runCli(['backup', 'init', '--generate-key'], { cwd: dir })).code).toBe(0);
    const result = await runCli(['backup', 'run', 'postgres', '--db', 'postgres', '--no-globals', '--explain'], { cwd: dir });
    expect(result.code).toBe(0);
    const line = result.stdout.split('\n').find((text) => text.includes('pg_dump'))!;
    expect(line).toMatch(/pg_dump -Fc -Z0 --no-password \| zstd -q -c -3 -T2 \| age -r age1[0-9a-z]+ > '.*\/repo\/backups\/<backup-id>\/db-postgres\.dump\.zst\.age'$/);
    const out = join(dir, 'by-hand.dump.zst.age');
    const env = { ...process.env, PATH: `${postgres().binDir}:${process.env.PATH}` };
    execFileSync('sh', ['-c', line.replace(/> \S+$/, `> ${out}`)], { env });
    const listing = execFileSync('sh', ['-c', `age -d -i ${join(dir, 'key.txt')} ${out} | zstd -d | pg_restore --list`], { encoding: 'utf8', env });
    expect(listing).toContain('dbname: postgres');
    // Nothing was backed up by --explain itself.
    expect(JSON.parse((await runCli(['backup', 'list', '--json'], { cwd: dir })).stdout)).toEqual([]);
  });

  it('session list and cache flush: the printed lines find the sessions and bump the namespace version', async () => {
    const dir = writeConfig(`  local:\n    redis: { url: "redis://:${PASSWORD}@127.0.0.1:${redis().port}" }\n    cache: { namespaces: { users: { ttl: 1m } } }\n`);
    await redisCli('HSET', 'opsctl:sess:{s:abc}', '_v', '1');
    const list = await runCli(['session', 'list', '--explain'], { cwd: dir });
    expect(list.code, list.stderr).toBe(0);
    const scan = list.stdout.split('\n').find((line) => line.includes('--scan'))!;
    expect(runPrinted(scan)).toBe('opsctl:sess:{s:abc}\n');

    const flush = await runCli(['cache', 'flush', '--explain'], { cwd: dir });
    expect(flush.code, flush.stderr).toBe(0);
    const lines = flush.stdout.split('\n').filter((line) => line.includes(' INCR '));
    expect(lines.map((line) => line.split(' ').at(-1))).toEqual(['opsctl:cache:v:default', 'opsctl:cache:v:users']);
    for (const line of lines) runPrinted(line);
    expect(await redisCli('GET', 'opsctl:cache:v:users')).toBe('1\n');
  });

  it('refuses commands that have nothing to explain (exit 2)', async () => {
    const dir = writeConfig('  local:\n    redis: { host: 127.0.0.1, port: 6379 }\n');
    const result = await runCli(['config', 'show', '--explain'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('`opsctl config show` has no --explain');
    expect(result.stderr).toContain('hint:');
  });
});

async function redisCli(...args: string[]): Promise<string> {
  return execFileSync('redis-cli', ['-p', String(redis().port), ...args], { encoding: 'utf8', env: { ...process.env, REDISCLI_AUTH: PASSWORD } });
}
