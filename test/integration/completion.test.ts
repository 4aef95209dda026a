import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, spawnCli } from '../helpers/cli.js';
import { useRedis } from '../helpers/redis.js';

// Real shells run the committed scripts against the built binary, through an `opsctl` on PATH.
const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'opsctl-complete-'));
const binDir = join(dir, 'bin');
const redis = useRedis();
const env = () => ({ PATH: `${binDir}:${process.env.PATH}`, HOME: dir, XDG_CACHE_HOME: join(dir, 'cache') });

beforeAll(async () => {
  mkdirSync(binDir);
  writeFileSync(join(binDir, 'opsctl'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(join(binDir, 'opsctl'), 0o755);
  writeFileSync(
    join(dir, 'opsctl.config.yaml'),
    `version: 2\ndefaultProfile: dev\nprofiles:\n  dev:\n    redis: { url: "${redis().url}" }\n` +
      `    ratelimit: { policies: { api: { algorithm: gcra, rate: "100/1m" }, login: { algorithm: fixed-window, rate: "5/1m" } } }\n` +
      `    cache: { namespaces: { users: { ttl: 5m } } }\n  prod:\n    protected: true\n    redis: { url: "redis://127.0.0.1:1" }\n`,
  );
  const client = new Redis(redis().url);
  await client.mset('user:1', 'a', 'user:2', 'b', 'session:abc', 'c', 'cache:x', 'd');
  client.disconnect();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function shellAvailable(shell: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
}

/** Calls the bash completion function the way bash does on Tab and returns COMPREPLY. */
function bashComplete(line: string): string[] {
  const script = `
source ${JSON.stringify(join(root, 'completions/opsctl.bash'))}
COMP_LINE=${JSON.stringify(line)}
COMP_POINT=\${#COMP_LINE}
read -r -a COMP_WORDS <<< "$COMP_LINE"
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
__opsctl_complete
printf '%s\\n' "\${COMPREPLY[@]}"
`;
  const out = execFileSync('bash', ['-c', script], { cwd: dir, env: env(), encoding: 'utf8' });
  return out.split('\n').filter((word) => word !== '');
}

describe('opsctl __complete', () => {
  it('prints candidates with descriptions and the directive', async () => {
    const result = await spawnCli(['__complete', 'config', 'va'], { cwd: dir, env: env() });
    expect(result).toMatchObject({ code: 0, stdout: 'validate\tCheck the file against the schema and list every problem with file:line:col (exit 2 on errors)\n:4\n' });
  });

  it('loads neither ioredis nor pg for static completion and profile names', () => {
    const probe = `
import { createRequire } from 'node:module';
const { main } = await import(${JSON.stringify(new URL('../../dist/cli/main.js', import.meta.url).href)});
const sink = { write: () => true };
const io = { stdout: sink, stderr: sink, stdin: {}, stdoutIsTTY: false, stderrIsTTY: false, stdinIsTTY: false, colorStdout: false, colorStderr: false, columns: 80 };
for (const argv of [['__complete', ''], ['__complete', 'config', 'init', '--template', ''], ['__complete', '--profile', '']]) await main(argv, { io, env: process.env, cwd: process.cwd() });
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((file) => /node_modules\\/(ioredis|pg|pg-pool)\\//.test(file));
process.stdout.write(JSON.stringify(loaded));
`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: dir, env: env(), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([]);
  });

  it('completes Redis key names with SCAN and caches the answer for a few seconds', async () => {
    const first = await spawnCli(['__complete', 'redis', 'keys', '--pattern', 'user:'], { cwd: dir, env: env() });
    expect(first.stdout).toBe('user:1\nuser:2\n:4\n');
    expect(readdirSync(join(dir, 'cache', 'opsctl', 'completion'))).toHaveLength(1);
    // Within the TTL the cache answers, even for a key deleted since.
    const client = new Redis(redis().url);
    await client.del('user:2');
    client.disconnect();
    expect((await spawnCli(['__complete', 'redis', 'keys', '--pattern', 'user:'], { cwd: dir, env: env() })).stdout).toBe('user:1\nuser:2\n:4\n');
    // Without the cache, the server's current keys.
    rmSync(join(dir, 'cache'), { recursive: true });
    expect((await spawnCli(['__complete', 'redis', 'keys', '--pattern', 'user:'], { cwd: dir, env: env() })).stdout).toBe('user:1\n:4\n');
  });

  it('completes rate limit policies and cache namespaces from the selected profile', async () => {
    const policies = await spawnCli(['__complete', 'ratelimit', 'status', ''], { cwd: dir, env: env() });
    expect(policies.stdout).toBe('api\tgcra 100/1m\nlogin\tfixed-window 5/1m\n:4\n');
    const namespaces = await spawnCli(['__complete', 'cache', 'keys', '--namespace', ''], { cwd: dir, env: env() });
    expect(namespaces.stdout).toBe('default\nusers\tttl 5m\n:4\n');
    // Another profile has none.
    expect((await spawnCli(['__complete', '--profile', 'prod', 'ratelimit', 'consume', ''], { cwd: dir, env: env() })).stdout).toBe(':4\n');
  });

  it('offers nothing (quickly, exit 0) when the server is down', async () => {
    const started = performance.now();
    const result = await spawnCli(['__complete', '--profile', 'prod', 'redis', 'keys', '--pattern', ''], { cwd: dir, env: env() });
    expect(result).toMatchObject({ code: 0, stdout: ':4\n' });
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe('bash', () => {
  it('completes groups, verbs, flags and fixed values', () => {
    expect(bashComplete('opsctl co')).toEqual(['config', 'completion']);
    expect(bashComplete('opsctl config in')).toEqual(['init']);
    expect(bashComplete('opsctl config init --tem')).toEqual(['--template']);
    expect(bashComplete('opsctl config init --template s')).toEqual(['single-node', 'sentinel']);
    expect(bashComplete('opsctl -o ')).toEqual(['table', 'json', 'yaml', 'csv']);
  });

  it('completes profile names and Redis keys (after the colon bash splits at)', () => {
    expect(bashComplete('opsctl doctor --profile ')).toEqual(['dev', 'prod']);
    expect(bashComplete('opsctl redis keys --pattern sess')).toEqual(['session:abc']);
    expect(bashComplete('opsctl redis keys --pattern session:')).toEqual(['abc']);
  });

  it('falls back to file names for free values, not for commands; no space after a key path', () => {
    const script = `
source ${JSON.stringify(join(root, 'completions/opsctl.bash'))}
compopt() { echo "compopt $*"; }
COMP_LINE="opsctl config init --path "; COMP_POINT=\${#COMP_LINE}
__opsctl_complete
COMP_LINE="opsctl config shxx"; COMP_POINT=\${#COMP_LINE}
__opsctl_complete
COMP_LINE="opsctl config get profiles.d"; COMP_POINT=\${#COMP_LINE}
__opsctl_complete
echo "\${COMPREPLY[@]}"
`;
    const out = execFileSync('bash', ['-c', script], { cwd: dir, env: env(), encoding: 'utf8' });
    // Key paths go on after the dot: no space.
    expect(out).toBe('compopt -o default\ncompopt -o nospace\nprofiles.dev.\n');
  });
});

describe.skipIf(!shellAvailable('zsh'))('zsh', () => {
  it('hands the candidates with descriptions to _describe', () => {
    // The completion system's widgets need a terminal; its functions are replaced by probes
    // that print what the script handed them.
    const script = `
_describe() { local name=$4; print -rl -- "\${(@P)name}"; }
_files() { print -- FILES; }
compdef() { : }
source ${JSON.stringify(join(root, 'completions/_opsctl'))}
words=(opsctl config in); CURRENT=3; _opsctl
words=(opsctl redis keys --pattern session:); CURRENT=5; _opsctl
words=(opsctl config init --path ''); CURRENT=5; _opsctl
`;
    const out = execFileSync('zsh', ['-f', '-c', script], { cwd: dir, env: env(), encoding: 'utf8' });
    expect(out.split('\n')).toEqual([
      'init:Create a configuration file from a template (asks on a terminal)',
      'session\\:abc',
      'FILES',
      '',
    ]);
  });
});

describe.skipIf(!shellAvailable('fish'))('fish', () => {
  it('completes through `complete -C` as fish does on Tab', () => {
    const complete = (line: string) =>
      execFileSync('fish', ['--no-config', '-c', `source ${join(root, 'completions/opsctl.fish')}; complete -C ${JSON.stringify(line)}`], { cwd: dir, env: env(), encoding: 'utf8' })
        .split('\n')
        .filter((l) => l !== '');
    expect(complete('opsctl config in')).toEqual(['init\tCreate a configuration file from a template (asks on a terminal)']);
    expect(complete('opsctl --profile ')).toEqual(['dev', 'prod\tprotected']);
    expect(complete('opsctl redis keys --pattern session:')).toEqual(['session:abc']);
  });
});
