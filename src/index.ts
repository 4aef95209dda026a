/**
 * opsctl as a library: the pieces application servers and scripts import. The CLI is built from
 * the same modules, so what it administers is exactly what these write.
 *
 * @packageDocumentation
 */

// Errors: every failure is an OpsError with a stable code, a hint and an exit code.
export { OpsError, isOpsError, type OpsErrorOptions } from './core/errors.js';
export { ERROR_CODES, type ErrorCode, type ErrorCodeInfo } from './core/error-codes.js';
export { ExitCode } from './core/exit-codes.js';

// Small shared utilities.
export { parseDuration, formatDuration, parseSize, formatBytes, parseRate } from './core/parse.js';
export { redactValue, redactUrlCredentials, isSecretKey, SecretRegistry, REDACTED } from './core/redact.js';
export { systemClock, type Clock } from './core/clock.js';
export { silentTracer, streamTracer, type Tracer, type TraceKind } from './core/trace.js';

// Configuration.
export {
  configSchema,
  CONFIG_VERSION,
  type OpsConfig,
  type OpsConfigInput,
  type ProfileConfig,
  type RedisConfig,
  type PostgresConfig,
} from './config/schema.js';
export { loadConfig, selectProfile, type LoadedConfig, type SelectedProfile, type LoadOptions } from './config/loader.js';

// Connections.
export { createRedisClient, describeRedisTarget, type RedisClient, type CreateRedisClientOptions } from './redis/connection.js';
export {
  createRedisManager,
  RedisManager,
  type CreateRedisManagerOptions,
  type RedisFailoverEvent,
  type RedisLease,
  type RedisPoolSettings,
  type RedisPoolStats,
} from './redis/pool.js';
export { classifyRedisFailure, runRead, runWrite, type FailoverPolicyOptions, type RedisClientSource, type RedisFailureKind } from './redis/failover-policy.js';
export { createPgPool, describePgTarget, type CreatePgPoolOptions } from './postgres/connection.js';

// Health checks.
export { runDoctor, type DoctorDependencies, type DoctorOptions } from './doctor/run.js';
export type { Check, CheckStatus, DoctorReport, HealthStatus } from './doctor/types.js';
export { toHealthDocument, type HealthDocument } from './doctor/health.js';

// Sessions (docs/sessions.md).
export {
  createSessionStore,
  newSessionId,
  type CreateSessionStoreOptions,
  type SessionStore,
  type SessionRecord,
  type SessionBase,
  type SaveOptions as SessionSaveOptions,
  type SessionSummary,
  type SessionChanges,
  type SessionInspection,
  type UpdateOptions as SessionUpdateOptions,
  type UnreadableCounts,
} from './session/store.js';
export { createExpressSessionStore, type ExpressSessionStore, type ExpressSessionStoreOptions, type ExpressStoreClass } from './session/express.js';
export type { SessionKey, UnreadableReason } from './session/codec.js';
export { LAYOUT_VERSION as SESSION_LAYOUT_VERSION, type SessionKeys } from './session/layout.js';
export { type SessionConfig } from './config/schema.js';

// Query-result caching (docs/cache.md).
export {
  createQueryCache,
  DEFAULT_NAMESPACE_SETTINGS,
  type QueryCache,
  type CreateQueryCacheOptions,
  type CacheNamespaceSettings,
  type QueryOptions as CacheQueryOptions,
  type CachedQueryResult,
  type InvalidateOptions as CacheInvalidateOptions,
  type InvalidateResult as CacheInvalidateResult,
} from './cache/query-cache.js';
export { type CacheConfig } from './config/schema.js';
export type { CacheCounters } from './cache/stats.js';
export { KEY_LAYOUT_VERSION as CACHE_KEY_LAYOUT_VERSION, DEFAULT_KEY_PREFIX as CACHE_DEFAULT_KEY_PREFIX } from './cache/keys.js';
export { ENTRY_FORMAT_VERSION as CACHE_ENTRY_FORMAT_VERSION } from './cache/codec.js';
export { installTriggers as installCacheTriggers, uninstallTriggers as uninstallCacheTriggers } from './cache/triggers.js';

// opsctl's own PostgreSQL schema.
export { runMigrations, pendingMigrations, appliedMigrations, readMigrations, type Migration, type MigrationRecord, type MigrationResult } from './postgres/migrations.js';

// Distributed rate limiting (docs/ratelimit.md).
export { createRateLimiter, type CreateRateLimiterOptions } from './ratelimit/limiter.js';
export { createMemoryRateLimiter, type CreateMemoryRateLimiterOptions, type MemoryRateLimiter, type MemorySnapshot as RateLimitMemorySnapshot } from './ratelimit/memory.js';
export { rateLimitHeaders, rateLimitMiddleware, type RateLimitMiddlewareOptions } from './ratelimit/headers.js';
export { ALGORITHMS as RATELIMIT_ALGORITHMS, type Algorithm as RateLimitAlgorithm, type FailMode as RateLimitFailMode, type RateLimitPolicyInput } from './ratelimit/policy.js';
export type { RateLimiter, RateLimitDecision, PolicyDecision as RateLimitPolicyDecision, RateLimiterStats, ConsumeOptions as RateLimitConsumeOptions, StatusOptions as RateLimitStatusOptions, DecisionSource as RateLimitDecisionSource } from './ratelimit/types.js';
export { createShardedRateLimiter, type CreateShardedRateLimiterOptions, type ShardedRateLimiter, type RebalanceResult } from './ratelimit/sharded.js';
export { createHashRing, type HashRing } from './ratelimit/ring.js';
export { createShadowRateLimiter, type CreateShadowRateLimiterOptions, type ShadowRateLimiter, type Disagreement as RateLimitDisagreement } from './ratelimit/shadow.js';
export { migrateCounters, type MigrationSource as RateLimitMigrationSource, type MigrationOptions as RateLimitMigrationOptions, type MigrationResult as RateLimitMigrationResult, type MigrationCheckpoint as RateLimitMigrationCheckpoint } from './ratelimit/migrate.js';
export { KEY_LAYOUT_VERSION as RATELIMIT_KEY_LAYOUT_VERSION, DEFAULT_KEY_PREFIX as RATELIMIT_DEFAULT_KEY_PREFIX } from './ratelimit/keys.js';
export { type RateLimitConfig } from './config/schema.js';
