import { Cluster, type Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Clock } from '../core/clock.js';
import { isOpsError } from '../core/errors.js';
import { formatDuration } from '../core/parse.js';
import type { ProfileConfig, RedisConfig } from '../config/schema.js';
import { describePgTarget, pgError } from '../postgres/connection.js';
import type { PgTool } from '../postgres/tools.js';
import { describeRedisTarget, redisError, type RedisClient } from '../redis/connection.js';
import {
  evaluateBlockedClients,
  evaluateClusterInfo,
  evaluateEvictions,
  evaluateFragmentation,
  evaluateRejectedConnections,
  evaluateReplication,
  latencyVerdict,
  memoryVerdict,
  resolveHealthThresholds,
  sentinelQuorum,
} from '../redis/health.js';
import { flattenInfo, parseInfoSections } from '../redis/info.js';
import type { RedisNodes } from '../redis/topology.js';
import {
  evaluateEviction,
  evaluatePersistence,
  evaluatePgTool,
  evaluateRedisVersion,
  evaluateRole,
  parseRedisInfo,
  pgClientRemedy,
  type Verdict,
} from './evaluate.js';
import type { Check, CheckStatus, DoctorReport, HealthStatus } from './types.js';

/** The check names, in report order: `component:measurement` as in the health+json draft. */
export const CHECK_NAMES = {
  config: 'config:valid',
  redisConnection: 'redis:connection',
  redisLatency: 'redis:latency',
  redisVersion: 'redis:version',
  redisRole: 'redis:role',
  redisMemory: 'redis:memory',
  redisPersistence: 'redis:persistence',
  redisEviction: 'redis:eviction',
  redisFragmentation: 'redis:fragmentation',
  redisEvictions: 'redis:evictions',
  redisRejectedConnections: 'redis:rejected-connections',
  redisBlockedClients: 'redis:blocked-clients',
  redisReplication: 'redis:replication',
  redisCluster: 'redis:cluster',
  redisSentinel: 'redis:sentinel',
  pgConnection: 'postgres:connection',
  pgVersion: 'postgres:version',
  pgDump: 'pg_dump:version',
  pgRestore: 'pg_restore:version',
} as const;

const REDIS_SERVER_CHECKS = [
  CHECK_NAMES.redisLatency,
  CHECK_NAMES.redisVersion,
  CHECK_NAMES.redisRole,
  CHECK_NAMES.redisMemory,
  CHECK_NAMES.redisPersistence,
  CHECK_NAMES.redisEviction,
  CHECK_NAMES.redisFragmentation,
  CHECK_NAMES.redisEvictions,
  CHECK_NAMES.redisRejectedConnections,
  CHECK_NAMES.redisBlockedClients,
  CHECK_NAMES.redisReplication,
] as const;

/** The topology check of the configured mode (none for a standalone server). */
function topologyCheck(config: RedisConfig): string[] {
  if (config.mode === 'cluster') return [CHECK_NAMES.redisCluster];
  if (config.mode === 'sentinel') return [CHECK_NAMES.redisSentinel];
  return [];
}

/** The profile as the config loader selects it. */
export interface DoctorProfile {
  name: string;
  profile: ProfileConfig;
  filepath: string;
}

/**
 * What the doctor needs, handed in so it runs the same from the CLI, a test or a library
 * caller. Connections are owned (and closed) by the caller.
 */
export interface DoctorDependencies {
  clock: Clock;
  /** Loads the configuration and selects the profile; throws an OpsError when it cannot. */
  loadProfile(): Promise<DoctorProfile>;
  /** The profile's Redis, connected and verified (createRedisClient); throws an OpsError. */
  connectRedis(): Promise<RedisClient>;
  /** The profile's PostgreSQL pool, verified (createPgPool); throws an OpsError. */
  connectPg(): Promise<Pool>;
  /** findPgTool from src/postgres/tools.ts (with the caller's environment). */
  findPgTool(name: string, options: { minMajor?: number }): Promise<PgTool>;
  /**
   * Connections to the deployment's individual nodes (the Sentinels' quorum check needs them);
   * owned and closed by the caller. Without it that check is skipped.
   */
  redisNodes?(): Promise<RedisNodes>;
}

export interface DoctorOptions {
  /** PINGs behind the latency median (default 5). */
  pings?: number;
}

/**
 * Runs every check against the selected profile and returns the report. Never throws for a
 * failing dependency: a failure is a `fail` check with a remedy, and the checks that depend on
 * it are `skip`. Redis and PostgreSQL are checked concurrently; each connection is bounded by
 * its connectTimeout.
 */
export async function runDoctor(deps: DoctorDependencies, options: DoctorOptions = {}): Promise<DoctorReport> {
  const recorder = new Recorder(deps.clock);
  const started = deps.clock.monotonic();
  let selected: DoctorProfile;
  try {
    selected = await deps.loadProfile();
  } catch (error) {
    const notFound = isOpsError(error) && error.code === 'CONFIG_NOT_FOUND';
    recorder.add(CHECK_NAMES.config, 'system', started, {
      status: 'fail',
      message: errorMessage(error),
      remedy: notFound
        ? 'create one with `opsctl config init`, or start a local stack and its profile with `opsctl dev up`'
        : (isOpsError(error) ? error.hint : undefined) ?? 'run `opsctl config validate` to list every problem',
    }, { code: isOpsError(error) ? error.code : undefined });
    const why = 'the configuration could not be loaded';
    for (const name of Object.values(CHECK_NAMES).slice(1)) recorder.skip(name, name.startsWith('redis') || name.startsWith('postgres') ? 'datastore' : 'component', why);
    return recorder.report(undefined, {});
  }

  const { name, profile } = selected;
  const parts = [profile.redis && 'redis', profile.postgres && 'postgres'].filter(Boolean);
  recorder.add(CHECK_NAMES.config, 'system', started, parts.length === 0
    ? {
        status: 'warn',
        message: `profile "${name}" (${selected.filepath}) has neither redis nor postgres: nothing to check`,
        remedy: `add profiles.${name}.redis and/or profiles.${name}.postgres`,
      }
    : { status: 'pass', message: `profile "${name}" from ${selected.filepath} (${parts.join(', ')})` });

  const [redisReachable, pg] = await Promise.all([
    checkRedis(deps, selected, recorder, options.pings ?? 5),
    checkPostgres(deps, selected, recorder),
  ]);
  await checkPgTools(deps, selected, pg, recorder);
  return recorder.report(name, {
    ...(redisReachable === undefined ? {} : { redis: redisReachable }),
    ...(pg.reachable === undefined ? {} : { postgres: pg.reachable }),
  });
}

/** fail beats warn beats pass; skips do not count. */
export function overallStatus(checks: readonly Pick<Check, 'status'>[]): HealthStatus {
  if (checks.some((check) => check.status === 'fail')) return 'fail';
  if (checks.some((check) => check.status === 'warn')) return 'warn';
  return 'pass';
}

// ---- Redis --------------------------------------------------------------------------------

async function checkRedis(
  deps: DoctorDependencies,
  selected: DoctorProfile,
  recorder: Recorder,
  pings: number,
): Promise<boolean | undefined> {
  const config = selected.profile.redis;
  if (config === undefined) {
    const why = `profile "${selected.name}" has no redis section`;
    for (const name of [CHECK_NAMES.redisConnection, ...REDIS_SERVER_CHECKS]) recorder.skip(name, 'datastore', why);
    return undefined;
  }
  const topologyChecks = topologyCheck(config);
  const target = describeRedisTarget(config);
  const started = deps.clock.monotonic();
  let client: RedisClient;
  try {
    client = await deps.connectRedis();
  } catch (error) {
    recorder.fromError(CHECK_NAMES.redisConnection, 'datastore', started, error, target);
    for (const name of [...REDIS_SERVER_CHECKS, ...topologyChecks]) recorder.skip(name, 'datastore', 'Redis is not reachable');
    return false;
  }
  const connectMs = deps.clock.monotonic() - started;
  recorder.add(CHECK_NAMES.redisConnection, 'datastore', started, {
    status: 'pass',
    message: `connected to ${target} in ${formatDuration(connectMs)}`,
    observed: { value: Math.round(connectMs * 100) / 100, unit: 'ms' },
  }, { componentId: target });

  const keyBase = `profiles.${selected.name}`;
  // redis.health.* first, the older doctor.redisLatencyWarn / redisMemoryWarnRatio next.
  const thresholds = resolveHealthThresholds(selected.profile, keyBase);
  // A Cluster is judged node by node: memory, persistence and role are per server.
  const nodes: { id: string; node: Redis }[] = client instanceof Cluster
    ? client.nodes('master').map((node) => ({ id: `${node.options.host}:${node.options.port}`, node }))
    : [{ id: target, node: client }];
  for (const { id, node } of nodes) {
    const extra = { componentId: id };
    let t = deps.clock.monotonic();
    try {
      const samples: number[] = [];
      for (let i = 0; i < pings; i += 1) {
        const before = deps.clock.monotonic();
        await node.ping();
        samples.push(deps.clock.monotonic() - before);
      }
      recorder.add(CHECK_NAMES.redisLatency, 'datastore', t, latencyVerdict(samples, thresholds), extra);
    } catch (error) {
      recorder.fromError(CHECK_NAMES.redisLatency, 'datastore', t, redisError(client, error), id);
    }

    t = deps.clock.monotonic();
    let info: Record<string, string>;
    try {
      info = parseRedisInfo(await node.info());
    } catch (error) {
      const mapped = redisError(client, error);
      for (const name of [...REDIS_SERVER_CHECKS.slice(1), ...topologyChecks]) recorder.fromError(name, 'datastore', t, mapped, id);
      continue;
    }
    // CONFIG is often disabled on managed Redis; the persistence check copes without it.
    const save = await node.config('GET', 'save').then(
      (reply) => (Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined),
      () => undefined,
    );
    recorder.add(CHECK_NAMES.redisVersion, 'datastore', t, evaluateRedisVersion(info), extra);
    recorder.add(CHECK_NAMES.redisRole, 'datastore', t, evaluateRole(info, `${keyBase}.redis`), extra);
    recorder.add(CHECK_NAMES.redisMemory, 'datastore', t, memoryVerdict(info, thresholds), extra);
    recorder.add(CHECK_NAMES.redisPersistence, 'datastore', t, evaluatePersistence(info, save), extra);
    recorder.add(CHECK_NAMES.redisEviction, 'datastore', t, evaluateEviction(info), extra);
    const { values, keys } = thresholds;
    recorder.add(CHECK_NAMES.redisFragmentation, 'datastore', t, evaluateFragmentation(info, values.fragmentationWarn, keys.fragmentationWarn), extra);
    recorder.add(CHECK_NAMES.redisEvictions, 'datastore', t, evaluateEvictions(info, values.evictionsWarn, keys.evictionsWarn), extra);
    recorder.add(CHECK_NAMES.redisRejectedConnections, 'datastore', t, evaluateRejectedConnections(info, values.rejectedConnectionsWarn, keys.rejectedConnectionsWarn), extra);
    recorder.add(CHECK_NAMES.redisBlockedClients, 'datastore', t, evaluateBlockedClients(info, values.blockedClientsWarn, keys.blockedClientsWarn), extra);
    recorder.add(CHECK_NAMES.redisReplication, 'datastore', t, evaluateReplication(info, undefined, thresholds), extra);
    if (config.mode === 'cluster') {
      t = deps.clock.monotonic();
      try {
        const clusterInfo = flattenInfo(parseInfoSections(String(await node.call('CLUSTER', 'INFO'))));
        recorder.add(CHECK_NAMES.redisCluster, 'datastore', t, evaluateClusterInfo(clusterInfo), extra);
      } catch (error) {
        recorder.fromError(CHECK_NAMES.redisCluster, 'datastore', t, redisError(client, error), id);
      }
    }
  }
  if (config.mode === 'sentinel' && config.sentinel !== undefined) await checkSentinels(deps, config.sentinel, recorder);
  return true;
}

/** SENTINEL CKQUORUM on every configured Sentinel. */
async function checkSentinels(deps: DoctorDependencies, sentinel: NonNullable<RedisConfig['sentinel']>, recorder: Recorder): Promise<void> {
  if (deps.redisNodes === undefined) {
    recorder.skip(CHECK_NAMES.redisSentinel, 'datastore', 'not checked: no connections to the individual Sentinels');
    return;
  }
  const t = deps.clock.monotonic();
  const nodes = await deps.redisNodes();
  const list = sentinel.nodes.map((node) => ({ ...node, id: `${node.host}:${node.port}` }));
  for (const result of await sentinelQuorum(nodes, list, sentinel.name, undefined)) {
    if (result.verdict !== undefined) recorder.add(CHECK_NAMES.redisSentinel, 'datastore', t, result.verdict, { componentId: result.node });
    else recorder.fromError(CHECK_NAMES.redisSentinel, 'datastore', t, result.error, result.node);
  }
}

// ---- PostgreSQL ---------------------------------------------------------------------------

interface PgOutcome {
  reachable: boolean | undefined;
  serverMajor: number | undefined;
  /** Why the server version is unknown, for the tool checks' messages. */
  why: string;
}

async function checkPostgres(deps: DoctorDependencies, selected: DoctorProfile, recorder: Recorder): Promise<PgOutcome> {
  const config = selected.profile.postgres;
  if (config === undefined) {
    const why = `profile "${selected.name}" has no postgres section`;
    recorder.skip(CHECK_NAMES.pgConnection, 'datastore', why);
    recorder.skip(CHECK_NAMES.pgVersion, 'datastore', why);
    return { reachable: undefined, serverMajor: undefined, why };
  }
  const target = describePgTarget(config);
  const started = deps.clock.monotonic();
  let pool: Pool;
  try {
    pool = await deps.connectPg();
  } catch (error) {
    recorder.fromError(CHECK_NAMES.pgConnection, 'datastore', started, error, target);
    recorder.skip(CHECK_NAMES.pgVersion, 'datastore', 'PostgreSQL is not reachable');
    return { reachable: false, serverMajor: undefined, why: 'PostgreSQL is not reachable' };
  }
  const connectMs = deps.clock.monotonic() - started;
  recorder.add(CHECK_NAMES.pgConnection, 'datastore', started, {
    status: 'pass',
    message: `connected to ${target} in ${formatDuration(connectMs)}`,
    observed: { value: Math.round(connectMs * 100) / 100, unit: 'ms' },
  }, { componentId: target });

  const t = deps.clock.monotonic();
  try {
    const result = await pool.query<{ num: string; text: string }>(
      "select current_setting('server_version_num') as num, current_setting('server_version') as text",
    );
    const row = result.rows[0]!;
    // server_version_num is MMmmpp since PostgreSQL 10 (150004 = 15.4).
    const serverMajor = Math.floor(Number(row.num) / 10_000);
    recorder.add(CHECK_NAMES.pgVersion, 'datastore', t, {
      status: 'pass',
      message: `PostgreSQL ${row.text}`,
      observed: { value: row.text },
    }, { componentId: target });
    return { reachable: true, serverMajor, why: '' };
  } catch (error) {
    recorder.fromError(CHECK_NAMES.pgVersion, 'datastore', t, pgError(pool, error), target);
    return { reachable: true, serverMajor: undefined, why: 'the server version could not be read' };
  }
}

async function checkPgTools(deps: DoctorDependencies, selected: DoctorProfile, pg: PgOutcome, recorder: Recorder): Promise<void> {
  for (const name of [CHECK_NAMES.pgDump, CHECK_NAMES.pgRestore]) {
    const tool = name.split(':')[0]!;
    if (selected.profile.postgres === undefined) {
      recorder.skip(name, 'component', pg.why);
      continue;
    }
    const t = deps.clock.monotonic();
    try {
      // With the server's major version, an older copy earlier on PATH is passed over for a
      // suitable installation elsewhere, exactly as backup and restore will choose.
      const found = await deps.findPgTool(tool, pg.serverMajor === undefined ? {} : { minMajor: pg.serverMajor });
      recorder.add(name, 'component', t, evaluatePgTool(found, pg.serverMajor, pg.why), { componentId: found.path });
    } catch (error) {
      recorder.add(name, 'component', t, {
        status: 'fail',
        message: errorMessage(error),
        remedy: pgClientRemedy(pg.serverMajor),
      }, { code: isOpsError(error) ? error.code : undefined });
    }
  }
}

// ---- recording ----------------------------------------------------------------------------

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class Recorder {
  readonly #checks: Check[] = [];

  constructor(private readonly clock: Clock) {}

  add(
    name: string,
    componentType: Check['componentType'],
    startedAt: number,
    verdict: Verdict,
    extra: { componentId?: string; code?: Check['code'] } = {},
  ): void {
    this.#checks.push({
      name,
      status: verdict.status,
      message: verdict.message,
      ...(verdict.remedy === undefined ? {} : { remedy: verdict.remedy }),
      durationMs: Math.max(0, Math.round((this.clock.monotonic() - startedAt) * 100) / 100),
      ...(verdict.observed === undefined ? {} : { observed: verdict.observed }),
      componentType,
      ...(extra.componentId === undefined ? {} : { componentId: extra.componentId }),
      time: new Date(this.clock.now()).toISOString(),
      ...(extra.code === undefined ? {} : { code: extra.code }),
    });
  }

  skip(name: string, componentType: Check['componentType'], why: string): void {
    this.add(name, componentType, this.clock.monotonic(), { status: 'skip', message: why });
  }

  /**
   * A failed probe. Missing permissions (an ACL user without +info) only warn: the server may be
   * fine, the doctor just cannot see it. Everything else fails.
   */
  fromError(name: string, componentType: Check['componentType'], startedAt: number, error: unknown, componentId: string): void {
    const status: CheckStatus = isOpsError(error) && error.code === 'REDIS_AUTH_FAILED' && /lacks a permission/.test(error.message) ? 'warn' : 'fail';
    this.add(name, componentType, startedAt, {
      status,
      message: errorMessage(error),
      ...(isOpsError(error) && error.hint !== undefined ? { remedy: error.hint } : {}),
    }, { componentId, code: isOpsError(error) ? error.code : undefined });
  }

  report(profile: string | undefined, reachable: DoctorReport['reachable']): DoctorReport {
    const order = Object.values(CHECK_NAMES) as string[];
    const sorted = [...this.#checks].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    const checks: Record<string, Check[]> = {};
    for (const check of sorted) (checks[check.name] ??= []).push(check);
    return {
      status: overallStatus(sorted),
      ...(profile === undefined ? {} : { profile }),
      checks,
      reachable,
    };
  }
}
