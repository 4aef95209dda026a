import { createHash } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isOpsError, OpsError } from '../core/errors.js';
import type { ErrorCode } from '../core/error-codes.js';

/**
 * The spool of asynchronous WAL archiving (`wal-push --async`, docs/backup.md "Asynchronous
 * archiving"), modelled on pgBackRest's archive-push async. archive_command only asks; one
 * long-running pusher per spool ships every `.ready` segment of pg_wal, several at once, and
 * leaves an acknowledgement per segment:
 *
 *   <spool>/pusher.pid        the pusher's lock: its pid, mtime refreshed every second
 *   <spool>/queue/<name>      a request from archive_command: the file's absolute path
 *   <spool>/ack/<name>.ok     pushed and fsynced in the repository (size and mtime of the file)
 *   <spool>/ack/<name>.error  the push failed: code, message, hint
 *
 * Only the repository holds WAL data: an acknowledgement is written after the object is fsynced
 * and renamed into place, so archive_command returning 0 means what it means in synchronous
 * mode. Losing the spool (a reboot clearing /tmp) costs a second push, never a segment.
 *
 * Imported by the wal-push fast path: node built-ins and core/errors only.
 */

/** A pusher whose lock has not been refreshed for this long is gone (or its pid was reused). */
const HEARTBEAT_MS = 1_000;
const STALE_MS = 10_000;

/** Default spool of a pg_wal directory: one spool, and so one pusher, per directory. */
export function defaultSpoolDir(walDir: string): string {
  return join(tmpdir(), `opsctl-wal-${createHash('sha256').update(walDir).digest('hex').slice(0, 16)}`);
}

/** Creates the spool (0700) and refuses one that is a symlink or belongs to another user. */
export async function prepareSpool(spool: string): Promise<void> {
  await mkdir(join(spool, 'queue'), { recursive: true, mode: 0o700 });
  await mkdir(join(spool, 'ack'), { recursive: true, mode: 0o700 });
  const info = await lstat(spool);
  if (!info.isDirectory() || (process.getuid !== undefined && info.uid !== process.getuid())) {
    throw new OpsError('USAGE', `${spool} is not a directory of this user: refusing it as the WAL spool`, { hint: 'pass --spool <dir> with a directory only this user can write' });
  }
}

interface Acknowledgement {
  size: number;
  mtimeMs: number;
  key: string;
  sizeStored: number;
  status: string;
}

interface FailureRecord {
  code: ErrorCode;
  message: string;
  hint?: string;
}

export interface SpoolPushResult {
  name: string;
  status: string;
  key: string;
  size: number;
  sizeStored: number;
}

const ackPath = (spool: string, name: string, kind: 'ok' | 'error') => join(spool, 'ack', `${name}.${kind}`);

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * Takes the acknowledgement of `path` out of the spool: the result when the pusher archived
 * this very file (same size and mtime), the pusher's error (thrown) when it failed, undefined
 * when it has not answered yet. Consumed either way, so PostgreSQL's retry pushes again.
 */
export async function takeAcknowledgement(spool: string, path: string): Promise<SpoolPushResult | undefined> {
  const name = basename(path);
  const ok = await readJson<Acknowledgement>(ackPath(spool, name, 'ok'));
  if (ok !== undefined) {
    await unlink(ackPath(spool, name, 'ok')).catch(() => undefined);
    const file = await stat(path);
    // Another file under that name since (a recycled segment): the acknowledgement is not its.
    if (file.size !== ok.size || file.mtimeMs !== ok.mtimeMs) return undefined;
    return { name, status: ok.status, key: ok.key, size: ok.size, sizeStored: ok.sizeStored };
  }
  const failed = await readJson<FailureRecord>(ackPath(spool, name, 'error'));
  if (failed === undefined) return undefined;
  await unlink(ackPath(spool, name, 'error')).catch(() => undefined);
  throw new OpsError(failed.code, failed.message, failed.hint === undefined ? {} : { hint: failed.hint });
}

/** Asks the pusher for `path` (it also finds it through archive_status, but not outside pg_wal). */
export async function requestPush(spool: string, path: string): Promise<void> {
  await writeFile(join(spool, 'queue', basename(path)), path, { mode: 0o600 });
}

/** The pid of the live pusher of this spool, if there is one. */
export async function livePusher(spool: string): Promise<number | undefined> {
  try {
    const lock = join(spool, 'pusher.pid');
    const [text, info] = await Promise.all([readFile(lock, 'utf8'), stat(lock)]);
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || Date.now() - info.mtimeMs > STALE_MS || !processAlive(pid)) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the spool's lock for this process; false when a live pusher holds it. Two processes
 * replacing the same stale lock at once both run for a while: each sees the lock is not its
 * own at the next heartbeat and the loser stops (a segment pushed twice is harmless).
 */
async function takeLock(spool: string): Promise<boolean> {
  const lock = join(spool, 'pusher.pid');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if ((await livePusher(spool)) !== undefined) return false;
      await rename(lock, `${lock}.stale-${process.pid}`).catch(() => undefined);
      await unlink(`${lock}.stale-${process.pid}`).catch(() => undefined);
    }
  }
  return false;
}

async function holdsLock(spool: string): Promise<boolean> {
  const text = await readFile(join(spool, 'pusher.pid'), 'utf8').catch(() => '');
  return Number(text.trim()) === process.pid;
}

/** What the pusher needs to archive one file (wal-archive.ts's pushWal bound to a repository). */
export type PushOne = (path: string) => Promise<SpoolPushResult>;

export interface PusherOptions {
  spool: string;
  /** pg_wal: its archive_status/*.ready files are the segments PostgreSQL will ask for. */
  walDir: string;
  push: PushOne;
  /** Segments pushed at once. */
  parallel: number;
  /** Stop after this long with nothing to do. */
  idleMs: number;
  signal?: AbortSignal;
}

export interface PusherSummary {
  /** False when another live pusher holds the spool (this one did nothing). */
  ran: boolean;
  pushed: number;
  failed: number;
}

/**
 * The long-running side: pushes what archive_command asked for and every `.ready` segment of
 * pg_wal ahead of PostgreSQL's request, `parallel` at a time, oldest first, acknowledging each;
 * ends after `idleMs` with nothing to do (the next wal-push --async starts it again).
 */
export async function runPusher(options: PusherOptions): Promise<PusherSummary> {
  const { spool, walDir } = options;
  await prepareSpool(spool);
  if (!(await takeLock(spool))) return { ran: false, pushed: 0, failed: 0 };
  const lock = join(spool, 'pusher.pid');
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(lock, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  const summary: PusherSummary = { ran: true, pushed: 0, failed: 0 };
  const inFlight = new Map<string, Promise<void>>();
  let idleSince = Date.now();
  let checked = Date.now();
  try {
    while (options.signal?.aborted !== true) {
      if (Date.now() - checked > HEARTBEAT_MS) {
        if (!(await holdsLock(spool))) break;
        checked = Date.now();
      }
      const waiting = (await pendingWork(spool, walDir)).filter(([name]) => !inFlight.has(name));
      for (const [name, path] of waiting.slice(0, options.parallel - inFlight.size)) {
        inFlight.set(
          name,
          pushAndAcknowledge(spool, name, path, options.push).then((ok) => {
            if (ok) summary.pushed += 1;
            else summary.failed += 1;
            inFlight.delete(name);
          }),
        );
      }
      if (inFlight.size > 0) idleSince = Date.now();
      else if (Date.now() - idleSince > options.idleMs) break;
      await Promise.race([...inFlight.values(), sleep(inFlight.size === 0 ? 50 : 200)]);
    }
    await Promise.all(inFlight.values());
  } finally {
    clearInterval(heartbeat);
    if (await holdsLock(spool)) await unlink(lock).catch(() => undefined);
  }
  return summary;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Files to push, in the order PostgreSQL archives them: requests first, then `.ready` files
 * (history files before segments, oldest first); none that already has an acknowledgement.
 */
async function pendingWork(spool: string, walDir: string): Promise<Array<[string, string]>> {
  const [queued, ready, acked] = await Promise.all([
    readdir(join(spool, 'queue')).catch(() => [] as string[]),
    readdir(join(walDir, 'archive_status')).catch(() => [] as string[]),
    readdir(join(spool, 'ack')).catch(() => [] as string[]),
  ]);
  const answered = new Set(acked.map((file) => file.replace(/\.(ok|error)$/, '')));
  const work = new Map<string, string>();
  for (const name of queued) {
    const path = await readFile(join(spool, 'queue', name), 'utf8').catch(() => undefined);
    if (path !== undefined && !answered.has(name)) work.set(name, path);
  }
  const readyNames = ready
    .filter((file) => file.endsWith('.ready'))
    .map((file) => file.slice(0, -'.ready'.length))
    .sort((a, b) => Number(b.endsWith('.history')) - Number(a.endsWith('.history')) || a.localeCompare(b));
  for (const name of readyNames) if (!answered.has(name) && !work.has(name)) work.set(name, join(walDir, name));
  return [...work];
}

async function pushAndAcknowledge(spool: string, name: string, path: string, push: PushOne): Promise<boolean> {
  let ok = true;
  try {
    const before = await stat(path);
    const result = await push(path);
    const record: Acknowledgement = { size: before.size, mtimeMs: before.mtimeMs, key: result.key, sizeStored: result.sizeStored, status: result.status };
    await writeAck(ackPath(spool, name, 'ok'), record);
  } catch (error) {
    ok = false;
    await writeAck(ackPath(spool, name, 'error'), failureRecord(name, error));
  }
  await unlink(join(spool, 'queue', name)).catch(() => undefined);
  return ok;
}

function failureRecord(name: string, error: unknown): FailureRecord {
  return isOpsError(error)
    ? { code: error.code, message: error.message, ...(error.hint === undefined ? {} : { hint: error.hint }) }
    : { code: 'BACKUP_WAL_PUSH_FAILED', message: `pushing ${name} failed: ${error instanceof Error ? error.message : String(error)}` };
}

/**
 * A pusher that cannot start (no repository, a newer format, a wrong configuration) answers
 * every waiting request with its error, so archive_command reports the cause at once rather
 * than a timeout.
 */
export async function failQueued(spool: string, error: unknown): Promise<void> {
  for (const name of await readdir(join(spool, 'queue')).catch(() => [] as string[])) {
    await writeAck(ackPath(spool, name, 'error'), failureRecord(name, error));
    await unlink(join(spool, 'queue', name)).catch(() => undefined);
  }
}

/** Written whole or not at all: archive_command may read it at any moment. */
async function writeAck(path: string, record: object): Promise<void> {
  const temp = `${path}.tmp`;
  await writeFile(temp, JSON.stringify(record), { mode: 0o600 });
  await rename(temp, path);
}

export interface SpoolState {
  dir: string;
  /** pid of the running pusher, if any. */
  pusher: number | undefined;
  /** Requests from archive_command not answered yet. */
  queued: number;
  /** Pushed ahead, waiting for PostgreSQL to ask. */
  acknowledged: number;
  /** Segments whose last push failed, with the reason. */
  failed: Array<{ name: string; message: string }>;
}

/** The spool as `wal-status` shows it; undefined when there is none (async mode never used). */
export async function spoolState(spool: string): Promise<SpoolState | undefined> {
  const [queued, acked] = await Promise.all([readdir(join(spool, 'queue')).catch(() => undefined), readdir(join(spool, 'ack')).catch(() => [] as string[])]);
  if (queued === undefined) return undefined;
  const failed: SpoolState['failed'] = [];
  for (const file of acked.filter((entry) => entry.endsWith('.error')).sort()) {
    const record = await readJson<FailureRecord>(join(spool, 'ack', file));
    failed.push({ name: file.slice(0, -'.error'.length), message: record?.message ?? '(unreadable)' });
  }
  return { dir: spool, pusher: await livePusher(spool), queued: queued.length, acknowledged: acked.filter((file) => file.endsWith('.ok')).length, failed };
}
