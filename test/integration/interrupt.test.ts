import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { useRedis } from '../helpers/redis.js';

// A Redis that accepts connections but never answers (SIGSTOP): a command against it would wait
// for its 30 s timeouts. Ctrl-C must end it at once with exit 130, not after the timeout.
const redis = useRedis();
const dir = mkdtempSync(join(tmpdir(), 'opsctl-interrupt-'));
afterAll(() => {
  redis().kill('SIGCONT');
  rmSync(dir, { recursive: true, force: true });
});

function runUntilSignal(signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'doctor'], { cwd: dir, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let sentAt = 0;
    setTimeout(() => {
      sentAt = performance.now();
      child.kill(signal);
    }, 1500);
    child.on('exit', (code) => resolve({ code, stderr, ms: performance.now() - sentAt }));
  });
}

describe('interrupting a command', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s ends a hung command with exit 130 and a clear message', async (signal) => {
    writeFileSync(
      join(dir, 'opsctl.config.yaml'),
      `version: 2\nprofiles:\n  dev:\n    redis: { url: "${redis().url}", connectTimeout: 30s, commandTimeout: 30s }\n`,
    );
    redis().kill('SIGSTOP');
    const result = await runUntilSignal(signal);
    expect(result.code).toBe(130);
    expect(result.ms).toBeLessThan(3000);
    expect(result.stderr).toMatch(/^error: interrupted by SIG(INT|TERM)$/m);
  });
});
