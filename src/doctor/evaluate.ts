import { formatBytes, formatDuration } from '../core/parse.js';
import type { CheckStatus, Observed } from './types.js';

/**
 * The judgement of each check, as pure functions of what was observed (INFO text, versions,
 * timings), so every threshold is unit-tested without a server. run.ts does the probing.
 */
export interface Verdict {
  status: CheckStatus;
  message: string;
  remedy?: string;
  observed?: Observed;
}

/** Redis versions before this lack commands and ACL behaviour opsctl relies on. */
export const MIN_REDIS_VERSION = '6.2.0';

/** `INFO` text → `{ redis_version: '7.0.15', role: 'master', … }` (section headers and blanks dropped). */
export function parseRedisInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}

/** Compares dotted versions numerically (`6.10.0` > `6.2.1`); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split('.').map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i += 1) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

/** The middle sample (mean of the two middle ones for an even count). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * Round trip: median of a few PINGs against the warn threshold (`redis.health.latencyWarn`, or
 * the older `doctor.redisLatencyWarn`), and against `failMs` when given.
 */
export function evaluateLatency(samplesMs: readonly number[], warnMs: number, thresholdKey: string, failMs?: number, failKey?: string): Verdict {
  const value = median(samplesMs);
  const worst = Math.max(...samplesMs);
  const message = `median ${formatDuration(value)} over ${samplesMs.length} PINGs (slowest ${formatDuration(worst)})`;
  const observed = { value: round(value, 3), unit: 'ms' };
  const remedy = (key: string) => `check the network path and the server's load (SLOWLOG GET, INFO commandstats); the threshold is ${key}`;
  if (failMs !== undefined && value > failMs) {
    return { status: 'fail', message: `${message}, above ${formatDuration(failMs)}`, remedy: remedy(failKey ?? thresholdKey), observed };
  }
  if (value > warnMs) {
    return { status: 'warn', message: `${message}, above ${formatDuration(warnMs)}`, remedy: remedy(thresholdKey), observed };
  }
  return { status: 'pass', message, observed };
}

/** Server version against MIN_REDIS_VERSION. */
export function evaluateRedisVersion(info: Record<string, string>): Verdict {
  const version = info.redis_version;
  if (version === undefined) {
    return { status: 'warn', message: 'INFO does not report redis_version', remedy: 'check that the server is Redis (or a compatible server) 6.2 or later' };
  }
  const mode = info.redis_mode === undefined ? '' : ` (${info.redis_mode})`;
  const observed = { value: version };
  if (compareVersions(version, MIN_REDIS_VERSION) < 0) {
    return {
      status: 'warn',
      message: `Redis ${version}${mode} is older than ${MIN_REDIS_VERSION}`,
      remedy: `upgrade to Redis ${MIN_REDIS_VERSION} or later: opsctl's scripts and ACL handling are tested from there on`,
      observed,
    };
  }
  return { status: 'pass', message: `Redis ${version}${mode}`, observed };
}

/**
 * Role: a master passes; a replica warns, because every opsctl write (rate limits, sessions,
 * cache) would fail with READONLY there.
 */
export function evaluateRole(info: Record<string, string>, configKey: string): Verdict {
  const role = info.role ?? 'unknown';
  if (role === 'master') {
    const replicas = Number(info.connected_slaves ?? 0);
    return { status: 'pass', message: `master, ${replicas} connected replica${replicas === 1 ? '' : 's'}`, observed: { value: role } };
  }
  if (role === 'slave') {
    const link = info.master_link_status === undefined ? '' : `, link ${info.master_link_status}`;
    return {
      status: 'warn',
      message: `read-only replica of ${info.master_host ?? '?'}:${info.master_port ?? '?'}${link}: opsctl's writes would fail`,
      remedy: `point ${configKey} at the master, or use mode: sentinel so the client follows failovers`,
      observed: { value: 'replica' },
    };
  }
  return { status: 'warn', message: `unexpected role "${role}"`, remedy: 'check INFO replication on the server', observed: { value: role } };
}

/**
 * used_memory against maxmemory: warn above `warnRatio` (`redis.health.memoryWarnRatio`, or the
 * older `doctor.redisMemoryWarnRatio`), fail above `failRatio` when given.
 */
export function evaluateMemory(info: Record<string, string>, warnRatio: number, thresholdKey: string, failRatio?: number, failKey?: string): Verdict {
  const used = Number(info.used_memory ?? Number.NaN);
  const max = Number(info.maxmemory ?? 0);
  if (!Number.isFinite(used)) {
    return { status: 'warn', message: 'INFO does not report used_memory', remedy: 'check INFO memory on the server' };
  }
  if (max === 0) {
    return {
      status: 'warn',
      message: `no maxmemory set (using ${formatBytes(used)}): Redis grows until the host runs out of memory`,
      remedy: 'set maxmemory in redis.conf (and CONFIG SET maxmemory … to apply it now) with an evicting maxmemory-policy',
      observed: { value: used, unit: 'bytes' },
    };
  }
  const ratio = used / max;
  const message = `using ${Math.round(ratio * 100)}% of maxmemory (${formatBytes(used)} of ${formatBytes(max)})`;
  const observed = { value: round(ratio, 3), unit: 'ratio' };
  if (failRatio !== undefined && ratio > failRatio) {
    return {
      status: 'fail',
      message: `${message}, above ${Math.round(failRatio * 100)}%`,
      remedy: `writes are about to fail with OOM or evict: raise maxmemory or find what grew (opsctl redis memory --top 20); the threshold is ${failKey ?? thresholdKey}`,
      observed,
    };
  }
  if (ratio > warnRatio) {
    return {
      status: 'warn',
      message: `${message}, above ${Math.round(warnRatio * 100)}%`,
      remedy: `raise maxmemory or find what grew (redis-cli --bigkeys, opsctl cache stats); the threshold is ${thresholdKey}`,
      observed,
    };
  }
  return { status: 'pass', message, observed };
}

/**
 * Persistence: fails when the last RDB snapshot or AOF write failed (Redis then refuses writes
 * with MISCONF), warns when neither RDB snapshots nor AOF are on (every key is lost on
 * restart). `save` is CONFIG GET save (`''` = no snapshots), undefined when CONFIG is refused.
 */
export function evaluatePersistence(info: Record<string, string>, save: string | undefined): Verdict {
  const aof = info.aof_enabled === '1';
  const rdb = save === undefined ? undefined : save.trim() !== '';
  const parts = [aof ? 'AOF on' : 'AOF off', rdb === undefined ? 'RDB schedule unknown' : rdb ? `RDB save "${save!.trim()}"` : 'RDB off'];
  const observed = { value: parts.join(', ') };
  if (rdb !== false && info.rdb_last_bgsave_status === 'err') {
    return {
      status: 'fail',
      message: 'the last RDB snapshot failed: Redis refuses writes (MISCONF) while stop-writes-on-bgsave-error is on',
      remedy: "read the Redis log and free disk space in the server's dir",
      observed,
    };
  }
  if (aof && info.aof_last_write_status === 'err') {
    return {
      status: 'fail',
      message: 'the last AOF write failed: Redis refuses writes until it succeeds',
      remedy: "read the Redis log and free disk space in the server's dir",
      observed,
    };
  }
  if (rdb === false && !aof) {
    return {
      status: 'warn',
      message: 'no RDB snapshots and no AOF: all data is lost on restart',
      remedy: 'enable appendonly yes (or a save schedule) in redis.conf, unless this Redis is a disposable cache',
      observed,
    };
  }
  if (rdb === undefined && !aof) {
    return {
      status: 'skip',
      message: 'AOF off and the RDB schedule could not be read (CONFIG GET refused)',
      observed,
    };
  }
  return { status: 'pass', message: parts.join(', '), observed };
}

/**
 * Eviction: with a maxmemory, `noeviction` makes every write fail with OOM once memory is
 * full, so rate limits and sessions stop working: warn. Every other policy passes: opsctl's
 * rate-limit, session and cache keys all carry TTLs, so volatile-* evicts only what can be
 * rebuilt, and allkeys-* is the operator's choice for a cache-only instance.
 */
export function evaluateEviction(info: Record<string, string>): Verdict {
  const policy = info.maxmemory_policy ?? 'unknown';
  const max = Number(info.maxmemory ?? 0);
  const observed = { value: policy };
  if (max === 0) return { status: 'pass', message: `${policy} (not in effect: no maxmemory)`, observed };
  if (policy === 'noeviction') {
    return {
      status: 'warn',
      message: 'noeviction: once maxmemory is reached every write fails with OOM',
      remedy: "set maxmemory-policy volatile-lru (opsctl's keys carry TTLs) in redis.conf and with CONFIG SET",
      observed,
    };
  }
  return { status: 'pass', message: policy, observed };
}

/**
 * A pg_dump/pg_restore against the server's major version: an older pg_dump refuses to dump a
 * newer server, and an older pg_restore cannot read its archives.
 */
export function evaluatePgTool(
  tool: { name: string; path: string; version: { major: number; minor: number } },
  serverMajor: number | undefined,
  why: string,
): Verdict {
  const found = `${tool.name} ${tool.version.major}.${tool.version.minor} (${tool.path})`;
  const observed = { value: `${tool.version.major}.${tool.version.minor}` };
  if (serverMajor === undefined) return { status: 'skip', message: `${found}; not compared: ${why}`, observed };
  if (tool.version.major < serverMajor) {
    return {
      status: 'fail',
      message: `${found} is older than the server (PostgreSQL ${serverMajor})`,
      remedy: pgClientRemedy(serverMajor),
      observed,
    };
  }
  return { status: 'pass', message: `${found}, server ${serverMajor}`, observed };
}

/** The package that provides PostgreSQL client programs of a given major version. */
export function pgClientRemedy(major: number | undefined): string {
  const version = major === undefined ? '' : `-${major}`;
  return `install postgresql-client${version} (Debian/Ubuntu, from apt.postgresql.org for other versions; macOS: brew install postgresql${major === undefined ? '' : `@${major}`}) and put its bin directory on PATH`;
}
