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

    await redisCliSet('explain:a', '1');
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

  it('refuses commands that have nothing to explain (exit 2)', async () => {
    const dir = writeConfig('  local:\n    redis: { host: 127.0.0.1, port: 6379 }\n');
    const result = await runCli(['config', 'show', '--explain'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('`opsctl config show` has no --explain');
    expect(result.stderr).toContain('hint:');
  });
});

async function redisCliSet(key: string, value: string): Promise<void> {
  execFileSync('redis-cli', ['-p', String(redis().port), 'SET', key, value], { env: { ...process.env, REDISCLI_AUTH: PASSWORD } });
}
