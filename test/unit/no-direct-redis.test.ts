import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The connection factory builds every client; the test harness may probe servers directly. */
const ALLOWED = ['src/redis/connection.ts', 'src/testing/'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(name) ? [path] : [];
  });
}

describe('Redis clients are made in one place', () => {
  it('no source file outside src/redis/connection.ts and src/testing calls new Redis( or new Cluster(', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(join(ROOT, 'src'))) {
      const path = relative(ROOT, file).split('\\').join('/');
      if (ALLOWED.some((allowed) => path === allowed || (allowed.endsWith('/') && path.startsWith(allowed)))) continue;
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, index) => {
        // Also catches `new IORedis(`, `new Redis.Cluster(` and a renamed import.
        if (/\bnew\s+(?:[\w$]+\.)?(?:Redis|IORedis|Cluster)\s*[(<]/.test(line)) offenders.push(`${path}:${index + 1}: ${line.trim()}`);
      });
    }
    expect(offenders, 'get clients from createRedisManager (src/redis/pool.ts) instead').toEqual([]);
  });

  it('the scan sees the factory itself (so an empty result means something)', () => {
    const factory = readFileSync(join(ROOT, 'src/redis/connection.ts'), 'utf8');
    expect(factory).toMatch(/\bnew Redis\(/);
    expect(factory).toMatch(/\bnew Cluster\(/);
  });
});
