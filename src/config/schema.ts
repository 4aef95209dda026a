import { z } from 'zod';
import { parseDuration, parseRate, parseSize } from '../core/parse.js';

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

/** One retention policy of `backup prune` (src/backup/retention.ts). */
const retentionPolicySchema = z
  .object({
    keepLast: z.number().int().min(1).optional().describe('Keep the newest N backups.'),
    daily: z.number().int().min(1).optional().describe('Keep the newest backup of each of the last N days (UTC) that have one.'),
    weekly: z.number().int().min(1).optional().describe('… of each of the last N ISO weeks.'),
    monthly: z.number().int().min(1).optional().describe('… of each of the last N months.'),
  })
  .strict();

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
    vault: z
      .object({
        sources: z
          .array(
            z.union([
              z.object({ path: z.string().min(1).describe('File or directory, archived with tar; relative to the configuration file.') }).strict(),
              z.object({ command: z.array(z.string()).min(1).describe('Program and arguments (no shell) whose standard output is the snapshot.') }).strict(),
            ]),
          )
          .min(1),
      })
      .strict()
      .optional()
      .describe('The secrets vault (`backup run vault`): files, directories or a snapshot command; always encrypted.'),
    retention: retentionPolicySchema
      .extend({ kinds: z.record(z.enum(['pg-logical', 'pg-physical', 'redis', 'vault']), retentionPolicySchema).optional().describe('Per-kind policies replacing the default one.') })
      .strict()
      .optional()
      .describe('What `backup prune` keeps; kinds without a policy keep everything. The newest backup of each kind is always kept.'),
    schedules: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').describe('Job name (unique; the advisory lock and unit names use it).'),
            kind: z.enum(['postgres', 'postgres-physical', 'redis', 'vault', 'all']).describe('What `backup run` takes (`all`: `backup run --all`).'),
            type: z.enum(['full', 'diff', 'incr']).optional().describe('postgres-physical only: full, diff or incr.'),
            cron: z.string().min(1).describe('Cron expression: 5 fields, or 6 with seconds first (UTC).'),
          })
          .strict(),
      )
      .optional()
      .describe('Scheduled backups run by `opsctl backup daemon` (or installed with `backup schedule install`).'),
    s3: z
      .object({
        endpoint: z.string().optional().describe('S3 endpoint URL (MinIO, Ceph, …); unset: AWS.'),
        region: z.string().optional().describe('Region; unset: AWS_REGION, else us-east-1.'),
        accessKeyId: z.string().optional().describe('Access key; unset: the AWS SDK chain (AWS_ACCESS_KEY_ID, profiles, instance roles). May use ${env:NAME}.'),
        secretAccessKey: z.string().optional().describe('Secret key. May use ${env:NAME}.'),
        forcePathStyle: z.boolean().optional().describe('Path-style addressing (most non-AWS stores).'),
      })
      .strict()
      .optional()
      .describe('Object store settings when backup.repository is an s3://bucket/prefix URL.'),
  })
  .strict()
  .describe('Backups: repository, encryption key and compression.');

/** The session store (docs/sessions.md): key layout, lifetimes, durability, encryption at rest. */
export const sessionSchema = z
  .object({
    keyPrefix: z.string().default('opsctl:sess:').describe('Prefix of every session key and user index.'),
    idleTtl: durationSchema.default('30m').describe('A session unused this long expires (rolling: each write or touch restarts it).'),
    absoluteTtl: durationSchema.default('7d').describe('A session never lives longer than this after its creation.'),
    maxBytes: sizeSchema.default('64KiB').describe('Largest session (field names plus stored values); a bigger write fails with SESSION_TOO_LARGE.'),
    durability: z.enum(['primary', 'replica']).default('primary').describe('`replica`: every write waits (WAIT) until `replicas` replicas have it.'),
    replicas: z.number().int().min(1).default(1).describe('Replica acknowledgements a `replica`-durable write waits for.'),
    waitTimeout: durationSchema.default('500ms').describe('How long a `replica`-durable write waits for the acknowledgements.'),
    layout: z.union([z.literal(1), z.literal(2)]).default(2).describe('Layout new sessions are written in: 2 (one string) or 1 (a hash, for applications still on an opsctl that reads only 1).'),
    encryption: z
      .object({
        keys: z
          .array(
            z
              .object({
                id: z.string().min(1).describe('Short key id stored beside each value (no `:`).'),
                key: z.string().min(1).optional().describe('32 random bytes in base64; write ${env:NAME} rather than the key itself.'),
                keyFile: z.string().min(1).optional().describe('File holding the 32 bytes in base64 (instead of `key`).'),
              })
              .strict()
              .refine((entry) => (entry.key === undefined) !== (entry.keyFile === undefined), { message: 'give exactly one of key or keyFile' }),
          )
          .min(1)
          .describe('The first key encrypts; all of them decrypt (rotation: put the new key first).'),
      })
      .strict()
      .optional()
      .describe('AES-256-GCM encryption of session values at rest.'),
  })
  .strict()
  .describe('Distributed sessions stored in Redis.');

const cacheNamespaceSchema = z
  .object({
    ttl: durationSchema.optional().describe('How long a result stays fresh (default 60s).'),
    jitter: z.number().min(0).lt(1).optional().describe('Random spread of the TTL as a fraction: 0.1 = up to ±10 % (default 0.1).'),
    maxBytes: sizeSchema.optional().describe('Largest encoded result that is stored (default 1MiB); bigger results are served, not cached.'),
    staleWhileRevalidate: durationSchema.optional().describe('How long after expiry a stale result is served while one caller refreshes it (default 0).'),
  })
  .strict();

/** The query cache (docs/cache.md): key prefix and per-namespace lifetimes. */
export const cacheSchema = z
  .object({
    keyPrefix: z.string().min(1).default('opsctl:cache:').describe('Prefix of every cache key (key layout v1).'),
    defaults: cacheNamespaceSchema.default({}).describe('Settings every namespace starts from.'),
    namespaces: z
      .record(z.string().regex(/^[A-Za-z0-9_-]+$/, { message: 'namespace names use letters, digits, "-" and "_"' }), cacheNamespaceSchema)
      .default({})
      .describe('Namespaces (`default` always exists) and their own settings.'),
  })
  .strict()
  .describe('Query-result caching in Redis.');

const rateLimitRateSchema = z
  .string()
  .refine((value) => parseRate(value) !== undefined, { message: 'expected "<count>/<period>" such as "100/1m" or "50/s"' })
  .describe('Units per period: "100/1m", "50/s", "10/500ms".');

/** A rate limit policy (docs/ratelimit.md). */
const rateLimitPolicySchema = z
  .object({
    algorithm: z.enum(['fixed-window', 'sliding-window', 'token-bucket', 'gcra']).describe('How the limit is counted.'),
    rate: rateLimitRateSchema,
    burst: z.number().int().min(1).optional().describe('Units allowed at once (token-bucket, gcra); default: the rate\'s count.'),
    failMode: z.enum(['open', 'closed']).default('open').describe('While Redis is unreachable: `open` decides in-process, `closed` refuses.'),
    overrides: z
      .record(
        z.string().min(1),
        z
          .object({ rate: rateLimitRateSchema.optional(), burst: z.number().int().min(1).optional().describe('Burst for this key.') })
          .strict(),
      )
      .optional()
      .describe('Per-key rate and burst (e.g. a partner with a higher quota), by key.'),
  })
  .strict();

/** The distributed rate limiter (docs/ratelimit.md): key prefix and named policies. */
export const rateLimitSchema = z
  .object({
    keyPrefix: z.string().min(1).default('opsctl:rl').describe('Prefix of every rate limit key (key layout v1).'),
    policies: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: 'policy names use letters, digits, ".", "-" and "_"' }), rateLimitPolicySchema)
      .default({})
      .describe('Named policies, e.g. api: { algorithm: gcra, rate: 100/1m, burst: 20 }.'),
    ring: z
      .object({
        nodes: z
          .record(z.string().regex(/^[A-Za-z0-9_.-]+$/), z.string().regex(/^rediss?:\/\//, { message: 'expected a redis:// URL' }))
          .refine((nodes) => Object.keys(nodes).length > 0, { message: 'a ring needs at least one node' })
          .describe('Independent Redis primaries by stable name (the name places a node on the ring): { a: "redis://10.0.0.1:6379" }.'),
        virtualNodes: z.number().int().min(1).default(160).describe('Points per node on the ring.'),
      })
      .strict()
      .optional()
      .describe('Spread keys over several independent primaries with a consistent-hash ring (createShardedRateLimiter) instead of `redis`.'),
  })
  .strict()
  .describe('Distributed rate limiting in Redis.');

export const profileSchema = z
  .object({
    description: z.string().optional().describe('What this profile points at.'),
    protected: z.boolean().default(false).describe('Destructive commands require typing the profile name.'),
    redis: redisSchema.optional(),
    postgres: postgresSchema.optional(),
    doctor: doctorSchema.optional(),
    backup: backupSchema.optional(),
    cache: cacheSchema.optional(),
    session: sessionSchema.optional(),
    ratelimit: rateLimitSchema.optional(),
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
export type SessionConfig = z.output<typeof sessionSchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
export type RedisHealthConfig = z.output<typeof redisHealthSchema>;
export type CacheConfig = z.output<typeof cacheSchema>;
