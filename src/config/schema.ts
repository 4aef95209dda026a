import { z } from 'zod';
import { parseDuration, parseSize } from '../core/parse.js';

/**
 * The one configuration schema. The JSON Schema users point their editor at
 * (schema/opsctl.schema.json) is generated from it, so every field carries a description.
 */
export const CONFIG_VERSION = 2;

/**
 * Profile names appear in dotted key paths (`profiles.prod.redis.url`) and on command lines, so
 * they are restricted to characters that need no quoting there.
 */
export const PROFILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

// A value whose `${env:NAME}` variable is unset stays literal until a command selects its profile;
// format checks skip it rather than report a problem that is really an unset variable.
const ENV_REFERENCE = /\$\{env:[^}]*\}/;

function urlWithScheme(schemes: readonly string[]) {
  return (value: string) => ENV_REFERENCE.test(value) || schemes.some((scheme) => value.startsWith(`${scheme}://`));
}

/** Durations are written `"5s"`, `"250ms"`, `"1m"` or as a number of milliseconds. */
export const durationSchema = z
  .union([z.string(), z.number()])
  .refine((value) => parseDuration(value) !== undefined, {
    message: 'expected a duration such as "500ms", "5s", "1m" or a number of milliseconds',
  })
  .describe('A duration: "500ms", "5s", "1m", "2h" or a number of milliseconds.');

const hostPortSchema = z
  .object({
    host: z.string().min(1).describe('Host name or IP address.'),
    port: z.number().int().min(1).max(65535).describe('TCP port.'),
  })
  .strict();

const tlsSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Use TLS.'),
    ca: z.string().optional().describe('Path to a PEM CA bundle that signs the server certificate.'),
    cert: z.string().optional().describe('Path to a PEM client certificate (mutual TLS).'),
    key: z.string().optional().describe('Path to the PEM private key of the client certificate.'),
    servername: z.string().optional().describe('SNI server name, when it differs from the host.'),
    rejectUnauthorized: z.boolean().default(true).describe('Verify the server certificate (keep true in production).'),
  })
  .strict();

/** Byte sizes are written `"1MiB"`, `"512kb"` or as a number of bytes. */
const sizeSchema = z
  .union([z.string(), z.number()])
  .refine((value) => parseSize(value) !== undefined, { message: 'expected a size such as "1MiB", "512kb" or a number of bytes' })
  .describe('A size: "1MiB", "512kb", "2GB" or a number of bytes.');

/**
 * Thresholds of `opsctl redis health` and of the Redis checks of `opsctl doctor`. Every field is
 * optional: an unset one falls back to the older `doctor.redisLatencyWarn` /
 * `doctor.redisMemoryWarnRatio` where those exist, then to the default named in its description.
 */
export const redisHealthSchema = z
  .object({
    latencyWarn: durationSchema.optional().describe('Warn when the median PING round trip is slower (default 50ms).'),
    latencyFail: durationSchema.optional().describe('Fail when the median PING round trip is slower (default 500ms).'),
    memoryWarnRatio: z.number().min(0).max(1).optional().describe('Warn when used_memory / maxmemory exceeds this (default 0.8).'),
    memoryFailRatio: z.number().min(0).max(1).optional().describe('Fail when used_memory / maxmemory exceeds this (default 0.95).'),
    fragmentationWarn: z.number().min(1).optional().describe('Warn when mem_fragmentation_ratio exceeds this and the excess is over 32 MiB (default 1.5).'),
    evictionsWarn: z.number().int().min(0).optional().describe('Warn when more keys than this were evicted since the server started (default 0).'),
    rejectedConnectionsWarn: z.number().int().min(0).optional().describe('Warn when more connections than this were refused at maxclients since start (default 0).'),
    blockedClientsWarn: z.number().int().min(0).optional().describe('Warn when more clients than this wait in blocking commands (default 50).'),
    replicaLagBytesWarn: sizeSchema.optional().describe('Warn when a replica is this far behind its primary\'s replication offset (default 1MiB).'),
    replicaLagSecondsWarn: z.number().min(0).optional().describe('Warn when a replica\'s last acknowledgement is older than this many seconds (default 10).'),
  })
  .strict()
  .describe('Health thresholds (opsctl redis health, opsctl doctor).');

export const redisSchema = z
  .object({
    mode: z.enum(['standalone', 'sentinel', 'cluster']).default('standalone').describe('Topology of the Redis deployment.'),
    url: z
      .string()
      .refine(urlWithScheme(['redis', 'rediss']), { message: 'expected a redis:// or rediss:// URL' })
      .optional()
      .describe('redis:// or rediss:// URL (standalone). Credentials may use ${env:NAME}.'),
    host: z.string().optional().describe('Host (standalone), when no url is given.'),
    port: z.number().int().min(1).max(65535).optional().describe('Port (standalone), when no url is given.'),
    db: z.number().int().min(0).optional().describe('Database number (standalone/sentinel).'),
    username: z.string().optional().describe('ACL user name.'),
    password: z.string().optional().describe('Password; write "${env:REDIS_PASSWORD}" rather than the value.'),
    tls: tlsSchema.optional().describe('TLS settings; rediss:// URLs enable TLS too.'),
    sentinel: z
      .object({
        name: z.string().min(1).describe('Master name the Sentinels monitor.'),
        nodes: z.array(hostPortSchema).min(1).describe('Sentinel addresses.'),
        username: z.string().optional().describe('ACL user for the Sentinels, when they require one.'),
        password: z.string().optional().describe('Password for the Sentinels, when they require one.'),
      })
      .strict()
      .optional()
      .describe('Sentinel settings (mode: sentinel).'),
    cluster: z
      .object({
        nodes: z.array(hostPortSchema).min(1).describe('Seed nodes; the rest are discovered.'),
      })
      .strict()
      .optional()
      .describe('Cluster settings (mode: cluster).'),
    connectTimeout: durationSchema.default('5s').describe('Give up connecting after this long.'),
    commandTimeout: durationSchema.default('5s').describe('Fail a command that gets no answer after this long.'),
    retry: z
      .object({
        maxAttempts: z.number().int().min(0).default(3).describe('Reconnection attempts before giving up (0: none).'),
        baseDelay: durationSchema.default('100ms').describe('First reconnection delay; doubles each attempt.'),
        maxDelay: durationSchema.default('2s').describe('Upper bound of the reconnection delay.'),
      })
      .strict()
      .default({ maxAttempts: 3, baseDelay: '100ms', maxDelay: '2s' })
      .describe('Reconnection with exponential backoff.'),
    keyPrefix: z.string().default('opsctl:').describe('Prefix of every key opsctl writes.'),
    failoverTimeout: durationSchema
      .default('10s')
      .describe('How long a command waits out a failover (Sentinel election, cluster promotion) before failing; keep it above cluster-node-timeout plus a few seconds.'),
    pool: z
      .object({
        max: z.number().int().min(1).default(10).describe('Most dedicated connections (blocking commands, MULTI, pub/sub) open at once.'),
        acquireTimeout: durationSchema.default('5s').describe('Fail a request for a dedicated connection after waiting this long for one to be free.'),
        idleTimeout: durationSchema.default('30s').describe('Close a dedicated connection unused for this long.'),
      })
      .strict()
      .default({ max: 10, acquireTimeout: '5s', idleTimeout: '30s' })
      .describe('Pool of dedicated connections; ordinary commands share one multiplexed connection.'),
    health: redisHealthSchema.optional(),
  })
  .strict()
  .superRefine((redis, ctx) => {
    if (redis.mode === 'standalone' && redis.url === undefined && redis.host === undefined) {
      ctx.addIssue({ code: 'custom', message: 'standalone mode needs "url" or "host"', path: ['url'] });
    }
    if (redis.mode === 'sentinel' && redis.sentinel === undefined) {
      ctx.addIssue({ code: 'custom', message: 'sentinel mode needs a "sentinel" section', path: ['sentinel'] });
    }
    if (redis.mode === 'cluster' && redis.cluster === undefined) {
      ctx.addIssue({ code: 'custom', message: 'cluster mode needs a "cluster" section', path: ['cluster'] });
    }
  })
  .describe('Redis connection.');

export const postgresSchema = z
  .object({
    url: z
      .string()
      .refine(urlWithScheme(['postgres', 'postgresql']), { message: 'expected a postgres:// or postgresql:// URL' })
      .optional()
      .describe('postgres:// URL. Credentials may use ${env:NAME}.'),
    host: z.string().optional().describe('Host or Unix socket directory, when no url is given.'),
    port: z.number().int().min(1).max(65535).optional().describe('Port, when no url is given.'),
    database: z.string().optional().describe('Database name.'),
    user: z.string().optional().describe('Role name.'),
    password: z.string().optional().describe('Password; write "${env:PGPASSWORD}" rather than the value.'),
    ssl: z
      .object({
        mode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).default('disable').describe('libpq-style sslmode.'),
        ca: z.string().optional().describe('Path to a PEM CA bundle.'),
        cert: z.string().optional().describe('Path to a PEM client certificate.'),
        key: z.string().optional().describe('Path to the client certificate key.'),
      })
      .strict()
      .optional()
      .describe('TLS settings.'),
    pool: z
      .object({
        max: z.number().int().min(1).default(10).describe('Maximum connections in the pool.'),
        idleTimeout: durationSchema.default('30s').describe('Close a connection idle this long.'),
      })
      .strict()
      .default({ max: 10, idleTimeout: '30s' })
      .describe('Connection pool.'),
    connectTimeout: durationSchema.default('5s').describe('Give up connecting after this long.'),
    statementTimeout: durationSchema.default('30s').describe('Server-side statement_timeout for opsctl sessions.'),
  })
  .strict()
  .superRefine((pg, ctx) => {
    if (pg.url === undefined && pg.host === undefined) {
      ctx.addIssue({ code: 'custom', message: 'needs "url" or "host"', path: ['url'] });
    }
  })
  .describe('PostgreSQL connection.');

export const doctorSchema = z
  .object({
    redisLatencyWarn: durationSchema.default('50ms').describe('Warn when the Redis round trip is slower.'),
    redisMemoryWarnRatio: z.number().min(0).max(1).default(0.8).describe('Warn when used_memory / maxmemory exceeds this.'),
  })
  .strict()
  .describe('Thresholds of `opsctl doctor`.');

/** The profile's backup repository (docs/backup.md, docs/backup-repository.md). */
export const backupSchema = z
  .object({
    repository: z
      .string()
      .min(1)
      .describe('Directory of the backup repository; a relative path is relative to the configuration file.'),
    keyFile: z
      .string()
      .optional()
      .describe('age identity file (age-keygen format) that opens the repository; unset for an unencrypted repository. May use ${env:NAME}.'),
    compression: z
      .object({
        algorithm: z.enum(['zstd', 'gzip']).default('zstd').describe('zstd (the zstd program, fast) or gzip (built in, slower).'),
        level: z.number().int().min(1).max(19).default(3).describe('Compression level: zstd 1-19, gzip 1-9.'),
        threads: z.number().int().min(1).max(64).default(2).describe('zstd worker threads.'),
      })
      .strict()
      .default({ algorithm: 'zstd', level: 3, threads: 2 })
      .describe('Compression of data objects.'),
  })
  .strict()
  .describe('Backups: repository, encryption key and compression.');

export const profileSchema = z
  .object({
    description: z.string().optional().describe('What this profile points at.'),
    protected: z.boolean().default(false).describe('Destructive commands require typing the profile name.'),
    redis: redisSchema.optional(),
    postgres: postgresSchema.optional(),
    doctor: doctorSchema.optional(),
    backup: backupSchema.optional(),
  })
  .strict()
  .describe('A named target (like a kubectl context).');

export const configSchema = z
  .object({
    $schema: z.string().optional().describe('Path or URL of the JSON Schema, for editors.'),
    version: z.literal(CONFIG_VERSION).describe('Schema version of this file; `opsctl config migrate` upgrades older ones.'),
    defaultProfile: z.string().optional().describe('Profile used when neither --profile nor OPSCTL_PROFILE is given.'),
    profiles: z
      .record(
        z.string().regex(PROFILE_NAME_PATTERN, { message: 'profile names use letters, digits, "-" and "_"' }),
        profileSchema,
      )
      .describe('Named profiles.'),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.defaultProfile !== undefined && !(config.defaultProfile in config.profiles)) {
      ctx.addIssue({
        code: 'custom',
        message: `defaultProfile "${config.defaultProfile}" is not one of the profiles (${Object.keys(config.profiles).join(', ') || 'none'})`,
        path: ['defaultProfile'],
      });
    }
  })
  .describe('opsctl configuration.');

export type OpsConfig = z.output<typeof configSchema>;
export type OpsConfigInput = z.input<typeof configSchema>;
export type ProfileConfig = z.output<typeof profileSchema>;
export type RedisConfig = z.output<typeof redisSchema>;
export type PostgresConfig = z.output<typeof postgresSchema>;
export type DoctorConfig = z.output<typeof doctorSchema>;
export type BackupConfig = z.output<typeof backupSchema>;
export type RedisHealthConfig = z.output<typeof redisHealthSchema>;
