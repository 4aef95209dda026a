import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpsError } from '../core/errors.js';
import { defaultSpoolDir, livePusher, prepareSpool, requestPush, takeAcknowledgement, type SpoolPushResult } from '../backup/wal-spool.js';
import type { Runtime } from './context.js';

/**
 * `opsctl backup wal-push` runs once per WAL segment as archive_command, so it is answered here,
 * before commander, the configuration loader or the output module load (docs/benchmarks.md,
 * "WAL archiving"): `--async` only looks into the spool; synchronous pushes with `--repo` skip
 * the configuration. Anything else (no --repo without --async, -o yaml, --help, an unknown
 * option) returns undefined and goes through the command tree as usual.
 */

export interface WalPushArgs {
  path: string;
  repo: string | undefined;
  async: boolean;
  spool: string | undefined;
  parallel: number;
  timeoutMs: number;
  json: boolean;
  config: string | undefined;
  profile: string | undefined;
}

const VALUE_FLAGS = new Set(['--repo', '--key-file', '--spool', '--parallel', '--timeout', '--config', '--profile']);
const BOOLEAN_FLAGS = new Set(['--async', '--json', '--quiet', '-q', '--no-color', '--no-input', '--yes', '--verbose', '--debug']);

export const DEFAULT_PARALLEL = 2;
export const DEFAULT_TIMEOUT_S = 60;

/** The fast path's reading of `wal-push`'s arguments; undefined for anything it does not handle. */
export function parseWalPushArgs(argv: readonly string[]): WalPushArgs | undefined {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const word = argv[i]!;
    const [flag, inline] = word.startsWith('--') && word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word, undefined];
    if (VALUE_FLAGS.has(flag)) {
      const value = inline ?? argv[(i += 1)];
      if (value === undefined) return undefined;
      values.set(flag, value);
    } else if (BOOLEAN_FLAGS.has(word)) flags.add(word);
    else if (word.startsWith('-')) return undefined;
    else positional.push(word);
  }
  const parallel = Number(values.get('--parallel') ?? DEFAULT_PARALLEL);
  const timeout = Number(values.get('--timeout') ?? DEFAULT_TIMEOUT_S);
  if (positional.length !== 1 || !Number.isInteger(parallel) || parallel < 1 || !(timeout > 0)) return undefined;
  return {
    path: positional[0]!,
    repo: values.get('--repo'),
    async: flags.has('--async'),
    spool: values.get('--spool'),
    parallel,
    timeoutMs: timeout * 1000,
    json: flags.has('--json'),
    config: values.get('--config'),
    profile: values.get('--profile'),
  };
}

/** The exit code when the fast path handled the call; undefined to use the command tree. */
export async function fastWalPush(argv: readonly string[], runtime: Runtime): Promise<number | undefined> {
  const args = parseWalPushArgs(argv);
  if (args === undefined || (!args.async && (args.repo === undefined || args.repo.startsWith('s3://')))) return undefined;
  const path = resolve(runtime.cwd, args.path);
  const result = args.async
    ? await pushThroughSpool({ ...args, path, repo: args.repo === undefined ? undefined : resolveRepo(runtime.cwd, args.repo), cwd: runtime.cwd, env: runtime.env })
    : await pushDirect(resolve(runtime.cwd, args.repo!), path, runtime.env);
  runtime.io.stdout.write(args.json ? `${JSON.stringify(result, null, 2)}\n` : `${walPushText(result)}\n`);
  return 0;
}

/** One line for people: what happened to the file and where it went. */
export function walPushText(result: SpoolPushResult): string {
  return `${result.name} ${result.status} as ${result.key} (${result.size} bytes, ${result.sizeStored} stored)`;
}

function resolveRepo(cwd: string, repo: string): string {
  return repo.startsWith('s3://') ? repo : resolve(cwd, repo);
}

async function pushDirect(location: string, path: string, env: NodeJS.ProcessEnv): Promise<SpoolPushResult> {
  const [{ Repository }, { LocalStorage }, { pushWal }, { resolveCodec, DEFAULT_COMPRESSION }] = await Promise.all([
    import('../backup/repository.js'),
    import('../backup/storage.js'),
    import('../backup/wal-archive.js'),
    import('../backup/compression.js'),
  ]);
  const repo = await Repository.open(new LocalStorage(location));
  return pushWal(repo, path, await resolveCodec(DEFAULT_COMPRESSION, env));
}

export interface SpoolPushOptions {
  path: string;
  /** Passed on to the pusher (absolute); without it the pusher reads the profile. */
  repo: string | undefined;
  spool: string | undefined;
  parallel: number;
  timeoutMs: number;
  config: string | undefined;
  profile: string | undefined;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

const BIN = fileURLToPath(new URL('../../bin/opsctl.js', import.meta.url));

/**
 * archive_command's side of `--async`: returns once the pusher acknowledged `path` (pushed and
 * fsynced in the repository), starting the pusher when none runs; its failure is thrown as it
 * was raised; BACKUP_WAL_ASYNC_TIMEOUT after `timeoutMs` (PostgreSQL retries).
 */
export async function pushThroughSpool(options: SpoolPushOptions): Promise<SpoolPushResult> {
  const walDir = dirname(options.path);
  const spool = options.spool === undefined ? defaultSpoolDir(walDir) : resolve(options.cwd, options.spool);
  const ready = () => takeAcknowledgement(spool, options.path);
  await prepareSpool(spool);
  const early = await ready();
  if (early !== undefined) return early;
  await requestPush(spool, options.path);
  const until = Date.now() + options.timeoutMs;
  let nextCheck = 0;
  for (;;) {
    const result = await ready();
    if (result !== undefined) return result;
    if (Date.now() > until) {
      throw new OpsError('BACKUP_WAL_ASYNC_TIMEOUT', `the WAL pusher did not archive ${basename(options.path)} within ${options.timeoutMs / 1000} s`, {
        hint: `see opsctl backup wal-status and ${join(spool, 'pusher.log')}`,
      });
    }
    if (Date.now() >= nextCheck) {
      if ((await livePusher(spool)) === undefined) startPusher(spool, walDir, options);
      nextCheck = Date.now() + 2_000;
    }
    await new Promise((done) => setTimeout(done, 20));
  }
}

/** Starts `opsctl backup wal-pusher` detached (it outlives this archive_command), logging into the spool. */
function startPusher(spool: string, walDir: string, options: SpoolPushOptions): void {
  const log = openSync(join(spool, 'pusher.log'), 'a', 0o600);
  const args = [
    BIN,
    'backup',
    'wal-pusher',
    ...(options.repo === undefined ? [] : ['--repo', options.repo]),
    ...(options.config === undefined ? [] : ['--config', options.config]),
    ...(options.profile === undefined ? [] : ['--profile', options.profile]),
    '--parallel',
    String(options.parallel),
    '--spool',
    spool,
    walDir,
  ];
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', log, log] });
  child.unref();
  closeSync(log);
}
