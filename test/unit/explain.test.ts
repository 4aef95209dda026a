import { describe, expect, it } from 'vitest';
import { formatExplainStep, shellQuote, step } from '../../src/core/explain.js';
import { pgInvocation } from '../../src/postgres/explain.js';

describe('explain formatting', () => {
  it('quotes only what the shell would interpret', () => {
    expect(shellQuote('PING')).toBe('PING');
    expect(shellQuote('10.0.0.1:6379')).toBe('10.0.0.1:6379');
    expect(shellQuote('<node-host>')).toBe('<node-host>');
    expect(shellQuote('user:*')).toBe("'user:*'");
    expect(shellQuote("it's")).toBe(`"it's"`);
    expect(shellQuote("it's $HOME")).toBe(`'it'\\''s $HOME'`);
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
  });

  it('joins pipelines and redirects output', () => {
    const line = formatExplainStep({
      pipeline: [{ tool: 'pg_dump', args: ['-Fc'], env: { PGDATABASE: 'app' } }, { tool: 'zstd', args: ['-3'] }],
      output: '/srv/backups/db app.zst',
    });
    expect(line).toBe("PGDATABASE=app pg_dump -Fc | zstd -3 > '/srv/backups/db app.zst'");
    expect(step('redis-cli', ['PING'], { env: {} }).pipeline[0]).toEqual({ tool: 'redis-cli', args: ['PING'] });
  });

  it('gives PostgreSQL tools the libpq environment with the password as a placeholder', () => {
    const invocation = pgInvocation('psql', { url: 'postgres://app:pw@db:5433/appdb?sslmode=require' } as never, 'profiles.prod.postgres', ['-c', 'select 1']);
    expect(invocation.env).toEqual({ PGHOST: 'db', PGPORT: '5433', PGUSER: 'app', PGDATABASE: 'appdb', PGSSLMODE: 'require', PGPASSWORD: '<profiles.prod.postgres.url>' });
  });
});
