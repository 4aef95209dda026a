import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from 'pg';
import { postgresSchema, type PostgresConfig } from '../../src/config/schema.js';
import { createPgPool, pgError } from '../../src/postgres/connection.js';
import { pgServerUser } from '../../src/postgres/tools.js';
import { freePort, startPostgres, type PostgresServer } from '../../src/testing/index.js';
import { recordingTracer, rejection } from '../helpers/assertions.js';

const PASSWORD = 'pg-int-pass-4Kd';
const configKey = 'profiles.test.postgres';

function config(input: Record<string, unknown>): PostgresConfig {
  return postgresSchema.parse({ connectTimeout: '2s', statementTimeout: '5s', ...input });
}



describe('createPgPool against a real PostgreSQL', () => {
  let server: PostgresServer;
  const pools: Pool[] = [];

  beforeAll(async () => {
    server = await startPostgres({ password: PASSWORD });
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)));
    await server?.stop();
  });

  const good = () => config({ host: '127.0.0.1', port: server.port, user: 'postgres', password: PASSWORD, database: 'postgres' });

  it('connects, sets application_name and statement_timeout, and traces SQL without parameters', async () => {
    const tracer = recordingTracer();
    const pool = await createPgPool({ ...good(), statementTimeout: '7s' }, { configKey, tracer });
    pools.push(pool);
    const { rows } = await pool.query<{ app: string; timeout: string; secret: string }>(
      "select current_setting('application_name') as app, current_setting('statement_timeout') as timeout, $1::text as secret",
      ['param-value-zz'],
    );
    expect(rows[0]).toMatchObject({ app: 'opsctl', timeout: '7s' });
    const client = await pool.connect();
    await client.query('select 2');
    client.release();
    const text = tracer.lines.join('\n');
    expect(text).toMatch(new RegExp(`^sql connect postgres@127\\.0\\.0\\.1:${server.port}/postgres [\\d.]+ms$`, 'm'));
    expect(text).toMatch(/^sql select 1 [\d.]+ms$/m);
    expect(text).toMatch(/\[1 param\] [\d.]+ms$/m);
    expect(text).toMatch(/^sql select 2 [\d.]+ms$/m);
    expect(text).not.toContain('param-value-zz');
    expect(text).not.toContain(PASSWORD);
  });

  it('fails a wrong password with PG_AUTH_FAILED (exit 4), never naming it', async () => {
    const error = await rejection(createPgPool({ ...good(), password: 'wrong-pg-pass-1' }, { configKey }));
    expect(error.code).toBe('PG_AUTH_FAILED');
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe(`authentication failed for role "postgres" at 127.0.0.1:${server.port}`);
    expect(JSON.stringify([error.message, error.hint, error.details, (error.cause as Error).message])).not.toMatch(/wrong-pg-pass|pg-int-pass/);
  });

  it('fails a missing password with PG_AUTH_FAILED saying one is required', async () => {
    const error = await rejection(createPgPool({ ...good(), password: undefined }, { configKey }));
    expect(error.code).toBe('PG_AUTH_FAILED');
    expect(error.hint).toContain(`${configKey}.password`);
  });

  it('fails a missing database with PG_DATABASE_MISSING naming the key', async () => {
    const error = await rejection(createPgPool(config({ url: `postgres://postgres@127.0.0.1:${server.port}/nosuchdb`, password: PASSWORD }), { configKey }));
    expect(error.code).toBe('PG_DATABASE_MISSING');
    expect(error.message).toBe(`database "nosuchdb" does not exist at 127.0.0.1:${server.port}`);
    expect(error.hint).toContain(`${configKey}.url`);
  });

  it('reports a port with nothing listening as PG_UNREACHABLE naming the config key', async () => {
    const port = await freePort();
    const error = await rejection(createPgPool(config({ url: `postgres://postgres@127.0.0.1:${port}/postgres` }), { configKey }));
    expect(error.code).toBe('PG_UNREACHABLE');
    expect(error.message).toBe(`cannot connect to PostgreSQL at 127.0.0.1:${port}: connection refused`);
    expect(error.hint).toBe(`is the server running? the address comes from ${configKey}.url`);
  });

  it('gives up on a hung server within connectTimeout with PG_TIMEOUT', async () => {
    server.kill('SIGSTOP');
    try {
      const started = performance.now();
      const error = await rejection(createPgPool({ ...good(), connectTimeout: '800ms' }, { configKey }));
      expect(performance.now() - started).toBeLessThan(2000);
      expect(error.code).toBe('PG_TIMEOUT');
      expect(error.hint).toContain(`${configKey}.connectTimeout`);
    } finally {
      server.kill('SIGCONT');
    }
  });

  it('maps statement errors with their SQLSTATE, detail and hint', async () => {
    const pool = await createPgPool({ ...good(), statementTimeout: '300ms' }, { configKey });
    pools.push(pool);
    const timeout = await pool.query('select pg_sleep(2)').then(() => undefined, (error: unknown) => pgError(pool, error));
    expect(timeout?.code).toBe('PG_TIMEOUT');
    expect(timeout?.message).toBe('PostgreSQL cancelled a statement after 300ms (statement_timeout)');
    const missing = await pool.query('select * from no_such_table').then(() => undefined, (error: unknown) => pgError(pool, error));
    expect(missing?.code).toBe('PG_QUERY_FAILED');
    expect(missing?.details).toMatchObject({ code: '42P01' });
    const hinted = await pool.query('select no_such_function(1)').then(() => undefined, (error: unknown) => pgError(pool, error));
    expect(hinted?.details).toMatchObject({ code: '42883' });
    expect(hinted?.hint).toMatch(/No function matches/);
  });

  it('survives the server killing an idle connection', async () => {
    const pool = await createPgPool(good(), { configKey });
    pools.push(pool);
    const admin = await createPgPool(good(), { configKey });
    pools.push(admin);
    await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'opsctl' and pid <> pg_backend_pid()");
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The pool dropped the dead client ('error' handled); the next query gets a fresh one.
    const { rows } = await pool.query<{ one: number }>('select 1 as one');
    expect(rows[0]!.one).toBe(1);
  });
});

/**
 * A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI), readable by the OS user
 * the test server runs as; PostgreSQL insists its key is private to that user.
 */
async function makeCertificates(): Promise<{ dir: string; ca: string; cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'opsctl-pg-tls-'));
  const openssl = (...args: string[]) => promisify(execFile)('openssl', args, { cwd: dir });
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=opsctl test CA');
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext');
  const files = { dir, ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  await chmod(files.key, 0o600);
  const user = await pgServerUser();
  if (user !== undefined) {
    for (const path of [dir, files.cert, files.key]) await chown(path, user.uid, user.gid);
  }
  return files;
}

describe('createPgPool over TLS', () => {
  let server: PostgresServer;
  let files: Awaited<ReturnType<typeof makeCertificates>>;

  beforeAll(async () => {
    files = await makeCertificates();
    server = await startPostgres({ password: PASSWORD, settings: { ssl: 'on', ssl_cert_file: files.cert, ssl_key_file: files.key } });
  });

  afterAll(async () => {
    await server?.stop();
    if (files !== undefined) await rm(files.dir, { recursive: true, force: true });
  });

  const tls = (ssl: Record<string, unknown>) => config({ host: '127.0.0.1', port: server.port, password: PASSWORD, ssl });

  it.each([
    ['require', false],
    ['verify-ca', true],
    ['verify-full', true],
  ])('connects with sslmode %s (CA given: %s)', async (mode, withCa) => {
    const pool = await createPgPool(tls({ mode, ...(withCa ? { ca: files.ca } : {}) }), { configKey });
    try {
      const { rows } = await pool.query<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
      expect(rows[0]!.ssl).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it('refuses an unverifiable certificate under verify-full, naming ssl.ca', async () => {
    const error = await rejection(createPgPool(tls({ mode: 'verify-full' }), { configKey }));
    expect(error.code).toBe('PG_UNREACHABLE');
    // The server sends only its own certificate: Node cannot find the issuer.
    expect(error.message).toBe(`TLS connection to PostgreSQL at 127.0.0.1:${server.port} failed: the server certificate cannot be verified`);
    expect(error.hint).toContain(`${configKey}.ssl.ca`);
  });
});
