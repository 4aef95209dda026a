import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// Runs the built CLI in a fresh process and lists which heavy CommonJS packages ended up in
// require.cache (ioredis and pg are CommonJS, so an ESM import of them lands there too).
const probe = `
import { createRequire } from 'node:module';
const { main } = await import(${JSON.stringify(new URL('../../dist/cli/main.js', import.meta.url).href)});
const sink = { write: () => true };
const io = { stdout: sink, stderr: sink, stdin: {}, stdoutIsTTY: false, stderrIsTTY: false, stdinIsTTY: false, colorStdout: false, colorStderr: false, columns: 80 };
await main(JSON.parse(process.argv[1]), { io, env: process.env, cwd: process.cwd() });
const loaded = Object.keys(createRequire(import.meta.url).cache)
  .map((file) => /node_modules\\/(ioredis|pg|pg-pool)\\//.exec(file)?.[1])
  .filter(Boolean);
process.stdout.write(JSON.stringify([...new Set(loaded)].sort()));
`;

const dir = mkdtempSync(join(tmpdir(), 'opsctl-lazy-'));
writeFileSync(
  join(dir, 'opsctl.config.yaml'),
  'version: 2\nprofiles:\n  dev:\n    redis: { url: "redis://127.0.0.1:1" , connectTimeout: 200ms, retry: { maxAttempts: 0 } }\n    postgres: { url: "postgres://postgres@127.0.0.1:1/postgres", connectTimeout: 200ms }\n',
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function heavyModulesLoadedBy(argv: string[]): string[] {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe, JSON.stringify(argv)], { cwd: dir, encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

describe('lazy loading', () => {
  it.each([[['--version']], [['--help']], [['config', 'validate']], [['config', '--help']]])('%j loads neither ioredis nor pg', (argv) => {
    expect(heavyModulesLoadedBy(argv)).toEqual([]);
  });

  it('does load them for a command that connects (the probe sees CommonJS packages)', () => {
    expect(heavyModulesLoadedBy(['doctor'])).toEqual(expect.arrayContaining(['ioredis', 'pg']));
  });
});
