import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));

// Node resolves a package's own name from inside it ("self-reference"), through the same
// `exports` map users get: this checks what `import … from 'opsctl'` really exposes.
function exportsOf(specifier: string): Record<string, string> {
  const script = `const m = await import(${JSON.stringify(specifier)}); process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v]))));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Record<string, string>;
}

describe('package exports', () => {
  it('exposes the library API from "opsctl"', () => {
    expect(exportsOf('opsctl')).toMatchObject({
      OpsError: 'function',
      createRedisClient: 'function',
      createPgPool: 'function',
      loadConfig: 'function',
      selectProfile: 'function',
      configSchema: 'object',
      runDoctor: 'function',
      ExitCode: 'object',
      ERROR_CODES: 'object',
    });
  });

  it('exposes the test harness from "opsctl/testing"', () => {
    expect(exportsOf('opsctl/testing')).toMatchObject({ startRedis: 'function', startPostgres: 'function', freePort: 'function' });
  });

  it('does not expose internals', () => {
    expect(() => exportsOf('opsctl/dist/cli/main.js')).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED|not exported/);
  });
});
