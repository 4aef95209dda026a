import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runShell } from '../../src/cli/repl/shell.js';
import { runCli } from '../helpers/cli.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';

// The shell driven through readline as a terminal would drive it: streams that say they are
// TTYs, keys written as the bytes a terminal sends. Real redis-server behind it.
const redis = useRedis();
const postgres = usePostgres();
const dir = mkdtempSync(join(tmpdir(), 'opsctl-repl-'));

beforeAll(async () => {
  writeFileSync(
    join(dir, 'opsctl.config.yaml'),
    `version: 2\ndefaultProfile: dev\nprofiles:\n  dev:\n    redis: { url: "${redis().url}" }\n    postgres: { url: "${postgres().url}" }\n  prod:\n    protected: true\n    redis: { url: "${redis().url}" }\n`,
  );
  const client = new Redis(redis().url);
  await client.mset('session:abc', '1', 'user:1', '2');
  client.disconnect();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// eslint-disable-next-line no-control-regex -- terminal escape sequences are what is stripped
const strip = (text: string) => text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');

interface Terminal {
  type(text: string): Promise<void>;
  /** Waits until the (ANSI-stripped) output since the last mark contains `text`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<string>;
  mark(): void;
  done: Promise<number>;
}

function startShell(options: { env?: NodeJS.ProcessEnv; historyFile?: string; cwd?: string } = {}): Terminal {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => undefined });
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  const errorOutput = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  // One log in arrival order, as a terminal shows stdout and stderr.
  let log = '';
  let markAt = 0;
  output.on('data', (chunk) => (log += String(chunk)));
  errorOutput.on('data', (chunk) => (log += String(chunk)));
  const done = runShell({
    input,
    output,
    errorOutput,
    env: { PATH: process.env.PATH, HOME: dir, NO_COLOR: '1', ...options.env },
    cwd: options.cwd ?? dir,
    historyFile: options.historyFile ?? join(dir, 'history'),
  });
  const all = () => strip(log);
  return {
    async type(text) {
      input.write(text);
      await new Promise((resolve) => setTimeout(resolve, 30));
    },
    async waitFor(text, timeoutMs = 10_000) {
      const started = Date.now();
      for (;;) {
        const seen = all().slice(markAt);
        if (typeof text === 'string' ? seen.includes(text) : text.test(seen)) return seen;
        if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${String(text)}; output:\n${seen}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    mark() {
      markAt = all().length;
    },
    done,
  };
}

describe('opsctl shell', () => {
  it('shows the profile in the prompt (protected marked without colour), runs commands, goes on after errors', async () => {
    const term = startShell();
    await term.waitFor('opsctl [dev] › ');
    term.mark();
    await term.type('config get profiles.dev.redis.url\r');
    await term.waitFor(redis().url);
    term.mark();
    await term.type('config nosuch\r');
    await term.waitFor(/error: unknown command 'nosuch'[\s\S]*opsctl \[dev\] › /);
    term.mark();
    await term.type('use prod\r');
    await term.waitFor('opsctl [prod!] › ');
    term.mark();
    await term.type('use nope\r');
    await term.waitFor(/profile "nope".*not defined[\s\S]*opsctl \[prod!\] › /);
    term.mark();
    await term.type('help\r');
    await term.waitFor(/use <profile>[\s\S]*opsctl \[prod!\] › /);
    await term.type('exit\r');
    // The status of the last command (help): 0.
    expect(await term.done).toBe(0);
  });

  it('keeps its Redis and PostgreSQL connections across commands and shows them in the prompt', async () => {
    const admin = new Redis(redis().url);
    const redisConnections = async () => Number(/total_connections_received:(\d+)/.exec(await admin.info('stats'))?.[1]);
    const pgAdmin = new pg.Client({ connectionString: postgres().url });
    await pgAdmin.connect();
    const pgSessions = async () => Number((await pgAdmin.query("SELECT sessions FROM pg_stat_database WHERE datname = 'postgres'")).rows[0].sessions);
    const redisBefore = await redisConnections();
    const term = startShell();
    await term.waitFor('opsctl [dev] › ');
    await term.type('doctor\r');
    await term.waitFor('opsctl [dev] redis✓ pg✓ › ');
    const pgAfterFirst = await pgSessions();
    for (let i = 0; i < 2; i += 1) {
      term.mark();
      await term.type('doctor\r');
      await term.waitFor('opsctl [dev] redis✓ pg✓ › ');
    }
    expect((await redisConnections()) - redisBefore).toBe(1);
    expect(await pgSessions()).toBe(pgAfterFirst);
    // The redis verbs' per-node connections are kept too.
    const redisBeforePing = await redisConnections();
    for (let i = 0; i < 3; i += 1) {
      term.mark();
      await term.type('redis ping\r');
      await term.waitFor('primary  OK');
      await term.waitFor('› ');
    }
    expect((await redisConnections()) - redisBeforePing).toBeLessThanOrEqual(1);
    await term.type('\u0004');
    await term.done;
    // Closed when the shell ended.
    const clients = await admin.client('LIST');
    expect(String(clients).split('\n').filter((line) => line.trim() !== '')).toHaveLength(1);
    // A backend leaves pg_stat_activity a moment after its client has gone.
    const others = async () => (await pgAdmin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid() AND backend_type = 'client backend'")).rows[0].n as number;
    for (let i = 0; i < 50 && (await others()) > 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await others()).toBe(0);
    admin.disconnect();
    await pgAdmin.end();
  });

  it('Ctrl-C cancels the running command, not the shell; Ctrl-C at the prompt clears the line', async () => {
    const term = startShell();
    await term.waitFor('opsctl [dev] › ');
    term.mark();
    await term.type('redis latency --samples 100000 --interval 10ms\r');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await term.type('\u0003');
    await term.waitFor(/interrupted[\s\S]*opsctl \[dev\] › /);
    term.mark();
    await term.type('config get defaultProfile\r');
    await term.waitFor(/dev\n/);
    term.mark();
    await term.type('config sho\u0003');
    await term.waitFor('opsctl [dev] › ');
    term.mark();
    await term.type('exit\r');
    expect(await term.done).toBe(0);
  });

  it('completes on Tab from the command tree and the profile list', async () => {
    const term = startShell();
    await term.waitFor('opsctl [dev] › ');
    term.mark();
    await term.type('config va\t');
    await term.waitFor('config validate ');
    await term.type('\u0015'); // Ctrl-U: kill the line
    term.mark();
    await term.type('use p\t');
    await term.waitFor('use prod ');
    await term.type('\r');
    await term.waitFor('opsctl [prod!] › ');
    term.mark();
    await term.type('redis keys --pattern sess\t');
    await term.waitFor('--pattern session:');
    await term.type('\u0015\u0004');
    await term.done;
  });

  it('draws the hint of what a command still expects after the cursor (with colour)', async () => {
    const term = startShell({ env: { NO_COLOR: '', FORCE_COLOR: '1' } });
    await term.waitFor('opsctl [dev] › ');
    term.mark();
    await term.type('config get ');
    // (ANSI stripped: the dim hint follows the cursor)
    await term.waitFor('get <path>');
    term.mark();
    await term.type('\u0015config se\t'); // completed by Tab, then hinted
    await term.waitFor('set <path> <value> [--string]');
    await term.type('\u0015\u0004');
    await term.done;
  });

  it('keeps history across shells (appended per line) with Up and Ctrl-R search', async () => {
    const historyFile = join(dir, 'state', 'history');
    mkdirSync(join(dir, 'state'));
    writeFileSync(historyFile, 'config profiles\n');
    const first = startShell({ historyFile });
    await first.waitFor('opsctl [dev] › ');
    await first.type('config get defaultProfile\r');
    await first.waitFor(/dev\n[\s\S]*› /);
    await first.type('exit\r');
    await first.done;
    expect(readFileSync(historyFile, 'utf8')).toBe('config profiles\nconfig get defaultProfile\nexit\n');

    const second = startShell({ historyFile });
    await second.waitFor('opsctl [dev] › ');
    second.mark();
    await second.type('\u0012profi'); // Ctrl-R, then the text searched for: a line of the first file
    await second.waitFor(/i-search: profi/);
    await second.type('\r');
    await second.waitFor(/NAME\s+DEFAULT[\s\S]*› /);
    second.mark();
    await second.type('\u001b[A\u001b[A'); // Up, Up: the line before, from the previous shell
    await second.waitFor('exit');
    await second.type('\u0015');
    await second.type('\u0004');
    await second.done;
  });

  it('is what `opsctl` alone opens on a terminal; without a terminal `opsctl` prints help', async () => {
    // The in-process runner's stdin is not a stream: reaching the shell is what this shows.
    const onTerminal = await runCli([], { tty: true, cwd: dir });
    expect(onTerminal).toMatchObject({ code: 2, stderr: expect.stringContaining('the shell needs a readable stdin') });
    const piped = await runCli([], { cwd: dir });
    expect(piped.stdout + piped.stderr).toContain('Usage: opsctl');
  });

  it('runs commands piped into it, one after the other, and exits with the last status', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let out = '';
    output.on('data', (chunk) => (out += String(chunk)));
    const done = runShell({ input, output, env: { PATH: process.env.PATH, HOME: dir }, cwd: dir, historyFile: join(dir, 'piped-history') });
    input.end('config get defaultProfile\nconfig get profiles.prod.protected\nconfig get nope\n');
    expect(await done).toBe(2);
    expect(out).toMatch(/^dev\ntrue\nerror: /);
  });

  it('passes the flags it was started with to every line that does not give its own', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let out = '';
    output.on('data', (chunk) => (out += String(chunk)));
    const done = runShell({ input, output, env: { PATH: process.env.PATH, HOME: dir }, cwd: dir, globals: { json: true, profile: 'prod' }, historyFile: join(dir, 'flags-history') });
    input.end('config show --resolved\nconfig get profiles.prod.protected -o yaml\n');
    expect(await done).toBe(0);
    const [json, yaml] = [out.slice(0, out.lastIndexOf('}') + 1), out.slice(out.lastIndexOf('}') + 2)];
    expect(JSON.parse(json)).toMatchObject({ name: 'prod', profile: { protected: true } });
    expect(yaml).toBe('true\n');
  });
});
