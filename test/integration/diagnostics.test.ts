import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useRedis } from '../helpers/redis.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';

const redis = useRedis();
const { dir } = useCaseDirs('diagnostics');

function project(): string {
  writeFileSync(path.join(dir(), 'opsctl.config.yaml'), `version: 2\nprofiles:\n  dev:\n    redis: { url: "${redis().url}" }\n`);
  return dir();
}

describe('--timings', () => {
  it('prints the phases and the Redis time on stderr, leaving stdout as data', async () => {
    const result = await runCli(['redis', 'ping', '--json', '--timings'], { cwd: project() });
    expect(result.code).toBe(0);
    expect(() => JSON.parse(result.stdout) as unknown).not.toThrow();
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PHASE\s+COUNT\s+TIME\s+SHARE$/);
    expect(result.stderr).toMatch(/^load configuration\s+1\s+[\d.]+m?s\s+\d+%$/m);
    expect(result.stderr).toMatch(/^Redis commands\s+\d+\s/m);
    expect(lines.at(-1)).toMatch(/^total\s+1\s+[\d.]+m?s\s+100%$/);
  });
});

describe('--cpu-prof', () => {
  it('writes a V8 .cpuprofile of the run and says where', async () => {
    const cwd = project();
    const result = await runCli(['--cpu-prof', 'config', 'validate'], { cwd });
    expect(result.code).toBe(0);
    const written = readdirSync(cwd).filter((name) => name.endsWith('.cpuprofile'));
    expect(written).toHaveLength(1);
    expect(result.stderr).toContain(`cpu profile written to ${path.join(cwd, written[0]!)}`);
    const profile = JSON.parse(readFileSync(path.join(cwd, written[0]!), 'utf8')) as { nodes: unknown[]; samples: unknown[] };
    expect(profile.nodes.length).toBeGreaterThan(0);
  });
});
