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
export { parseDuration, formatDuration, parseSize, formatBytes } from './core/parse.js';
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
