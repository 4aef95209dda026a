import { ExitCode } from './exit-codes.js';

/**
 * The error catalogue: every stable code an OpsError can carry, its exit code, and what an
 * operator should know about it. docs/troubleshooting.md is generated from this table, so a
 * code is added here before it is thrown anywhere.
 */
export interface ErrorCodeInfo {
  exitCode: ExitCode;
  /** One line: what this code means. */
  summary: string;
  /** Typical causes, for the troubleshooting page. */
  causes: string[];
  /** What to do about it. */
  fixes: string[];
}

function entry(exitCode: ExitCode, summary: string, causes: string[], fixes: string[]): ErrorCodeInfo {
  return { exitCode, summary, causes, fixes };
}

export const ERROR_CODES = {
  // ---- usage -------------------------------------------------------------------------------
  USAGE: entry(ExitCode.Usage, 'The command line could not be understood.', [
    'An unknown command, option or a missing argument.',
  ], ['Read `opsctl <command> --help`; the error names the closest valid spelling.']),
  INPUT_REQUIRED: entry(ExitCode.Usage, 'The command needs an answer but may not prompt.', [
    'stdin is not a terminal (cron, CI, a pipe) or `--no-input` was given.',
  ], ['Pass the answer as a flag: `--yes` to confirm, or the flag the message names.']),
  EXPLAIN_UNSUPPORTED: entry(ExitCode.Usage, 'This command has no --explain.', [
    '--explain describes what a command sends to Redis or PostgreSQL; this one reaches neither, or reads answers it cannot predict.',
  ], ['Run it without --explain, or with --debug to trace every command it sends.']),
  // ---- configuration -----------------------------------------------------------------------
  CONFIG_NOT_FOUND: entry(ExitCode.Usage, 'No configuration file was found.', [
    'No opsctl.config.*, .opsctlrc* or package.json#opsctl in this directory or its parents.',
  ], ['Create one with `opsctl config init`, or point at one with `--config <path>`.']),
  CONFIG_PARSE: entry(ExitCode.Usage, 'The configuration file is not valid YAML/JSON/JS.', [
    'A syntax error: bad indentation, an unclosed quote or bracket.',
  ], ['Fix the file at the line and column given.']),
  CONFIG_INVALID: entry(ExitCode.Usage, 'The configuration does not match the schema.', [
    'A misspelt key, a value of the wrong type, a missing required value.',
  ], ['Run `opsctl config validate` to list every problem with its key path.']),
  CONFIG_ENV_UNSET: entry(ExitCode.Usage, 'The configuration references an environment variable that is not set.', [
    'A `${env:NAME}` reference whose variable is missing from the environment.',
  ], ['Export the variable, or remove the reference.']),
  CONFIG_PROFILE_UNKNOWN: entry(ExitCode.Usage, 'The requested profile does not exist.', [
    'A typo in `--profile` / `OPSCTL_PROFILE`, or the profile was never defined.',
  ], ['Use one of the profiles listed, or add it under `profiles:`.']),
  CONFIG_PATH_UNKNOWN: entry(ExitCode.Usage, 'The key path does not exist in the configuration.', [
    'A typo in the dotted path given to `config get`/`config set`.',
  ], ['Check the path with `opsctl config show`.']),
  CONFIG_HISTORY_UNKNOWN: entry(ExitCode.Usage, 'No such entry in the configuration history.', [
    'The id given to `config diff`/`config rollback` is not in `.opsctl/config-history/`.',
  ], ['List the entries with `opsctl config history`.']),
  CONFIG_MIGRATION: entry(ExitCode.Usage, 'The configuration file cannot be migrated.', [
    'Its `version:` is newer than this opsctl understands, or not a number.',
  ], ['Upgrade opsctl, or fix the `version:` key.']),
  CONFIG_EXISTS: entry(ExitCode.Usage, 'A configuration file already exists.', [
    '`config init` would overwrite an existing file.',
  ], ['Pass `--force` to replace it (the old one is kept in the history).']),
  CONFIG_READ_ONLY: entry(ExitCode.Usage, 'opsctl cannot edit this configuration file.', [
    'The configuration is a JS/TS module (`opsctl.config.js`, `.ts`, …): it is code, so opsctl only reads it.',
  ], ['Edit the file by hand, or move the configuration to opsctl.config.yaml.']),
  // ---- connections -------------------------------------------------------------------------
  REDIS_UNREACHABLE: entry(ExitCode.Unreachable, 'Redis could not be reached.', [
    'The server is down, the host/port is wrong, a firewall drops the connection, or DNS fails.',
  ], ['Check the host:port named in the message and the config key it came from.']),
  REDIS_AUTH_FAILED: entry(ExitCode.Unreachable, 'Redis refused the credentials.', [
    'Wrong password or ACL user, or the user lacks permission for the command.',
  ], ['Fix the password/username in the profile (prefer `${env:REDIS_PASSWORD}`).']),
  REDIS_TIMEOUT: entry(ExitCode.Unreachable, 'Redis did not answer in time.', [
    'The server is overloaded, paused (SIGSTOP), or the network drops packets.',
  ], ['Check the server; raise `redis.commandTimeout` only if the server is known to be slow.']),
  REDIS_COMMAND_FAILED: entry(ExitCode.Failed, 'Redis answered a command with an error.', [
    'A wrong type, an out-of-memory condition, a read-only replica.',
  ], ['Read the Redis error quoted in the message.']),
  REDIS_POOL_EXHAUSTED: entry(ExitCode.Failed, 'Every dedicated Redis connection stayed in use for the whole acquire timeout.', [
    'More concurrent blocking commands, transactions or subscriptions than the pool allows, or a caller that never releases its connection.',
  ], ['Raise `redis.pool.max` (the message names the key), or release connections sooner (`withConnection`).']),
  REDIS_WRITE_UNCERTAIN: entry(ExitCode.Failed, 'A Redis write was sent but its answer was lost: it may or may not have been applied.', [
    'The primary died, hung or failed over while the write was in flight; opsctl never resends such a write, to avoid applying it twice.',
  ], ['Check whether the write took effect (read it back) before repeating it, or make the write idempotent.']),
  PG_UNREACHABLE: entry(ExitCode.Unreachable, 'PostgreSQL could not be reached.', [
    'The server is down, the host/port is wrong, a firewall drops the connection, or DNS fails.',
  ], ['Check the host:port named in the message and the config key it came from.']),
  PG_AUTH_FAILED: entry(ExitCode.Unreachable, 'PostgreSQL refused the role or password.', [
    'Wrong password, unknown role, or pg_hba.conf does not allow this client.',
  ], ['Fix `postgres.user`/`postgres.password` in the profile, or pg_hba.conf on the server.']),
  PG_DATABASE_MISSING: entry(ExitCode.Unreachable, 'The PostgreSQL database named in the profile does not exist.', [
    'A typo in `postgres.database` (or the URL path), or the database was never created.',
  ], ['Create it (`createdb <name>`) or fix the database name in the profile.']),
  PG_TIMEOUT: entry(ExitCode.Unreachable, 'PostgreSQL did not answer in time.', [
    'The server is overloaded or unreachable, or a statement exceeded `statementTimeout`.',
  ], ['Check the server; raise `postgres.connectTimeout`/`statementTimeout` if needed.']),
  PG_QUERY_FAILED: entry(ExitCode.Failed, 'PostgreSQL answered a statement with an error.', [
    'A missing table, a permission problem, a constraint violation.',
  ], ['Read the PostgreSQL error, its detail and hint, quoted in the message.']),
  // ---- tools and local stack ---------------------------------------------------------------
  TOOL_NOT_FOUND: entry(ExitCode.Unreachable, 'A required program is not installed.', [
    'redis-server, initdb, pg_ctl, pg_dump or another binary is not on PATH or under /usr/lib/postgresql/*/bin.',
  ], ['Install the package the message names (Debian: redis-server, postgresql).']),
  TOOL_FAILED: entry(ExitCode.Failed, 'An external program exited with an error.', [
    'The program reported a problem; its stderr is quoted in the message.',
  ], ['Read the quoted output; rerun with `--debug` to see the exact command line.']),
  DEV_PORT_TAKEN: entry(ExitCode.Failed, 'A port the dev stack needs is used by another process.', [
    'Another server listens on the port recorded for the dev stack.',
  ], ['Stop that process, or run `opsctl dev reset` to pick new ports.']),
  DEV_DIR_FOREIGN: entry(ExitCode.Failed, 'The dev stack directory holds data opsctl did not create.', [
    '`.opsctl/dev/` contains files that are not an opsctl dev stack.',
  ], ['Move the directory away; opsctl will not touch it.']),
  DEV_START_FAILED: entry(ExitCode.Failed, 'A dev stack server did not start.', [
    'The server exited during start-up; its log is quoted in the message.',
  ], ['Read the log under `.opsctl/dev/`; `opsctl dev reset` starts from scratch.']),
  // ---- backups -----------------------------------------------------------------------------
  BACKUP_NOT_CONFIGURED: entry(ExitCode.Usage, 'No backup repository is configured.', [
    'The profile has no `backup.repository` and no `--repo` was given.',
  ], ['Add profiles.<name>.backup.repository to the configuration, or pass `--repo <dir>`.']),
  BACKUP_REPO_NOT_FOUND: entry(ExitCode.Usage, 'The backup repository does not exist.', [
    'The directory has no repo.json: it was never initialised, or the path is wrong.',
  ], ['Create it with `opsctl backup init`, or fix `backup.repository` / `--repo`.']),
  BACKUP_REPO_EXISTS: entry(ExitCode.Usage, 'A backup repository already exists there.', [
    '`backup init` was pointed at an initialised repository.',
  ], ['Use the repository as it is; it is never overwritten.']),
  BACKUP_REPO_FOREIGN: entry(ExitCode.Usage, 'The directory holds files that are not a backup repository.', [
    '`backup init` was pointed at a non-empty directory without repo.json.',
  ], ['Choose an empty or new directory; opsctl does not write among foreign files.']),
  BACKUP_REPO_VERSION: entry(ExitCode.Usage, 'The backup repository was written by a newer opsctl.', [
    'repo.json or a manifest has a format version this opsctl does not understand.',
  ], ['Upgrade opsctl; the repository is left untouched.']),
  BACKUP_REPO_CORRUPT: entry(ExitCode.Failed, 'A repository file (repo.json, a manifest, a run record) cannot be read.', [
    'The file was edited or damaged, or is not JSON of the expected shape.',
  ], ['Restore the file from a copy; `opsctl backup verify --all` checks the backups.']),
  BACKUP_KEY_MISSING: entry(ExitCode.Usage, 'The repository is encrypted but no key is available.', [
    'No `backup.keyFile` in the profile and no `--key-file`, or the key file cannot be read.',
  ], ['Point `backup.keyFile` (or `--key-file`) at the age identity file the repository was created with.']),
  BACKUP_KEY_INVALID: entry(ExitCode.Usage, 'The key file is not an age X25519 identity.', [
    'The file is not `age-keygen` output (AGE-SECRET-KEY-1… lines), or a recipient is malformed.',
  ], ['Create a key with `opsctl backup init --generate-key` or `age-keygen -o <file>`.']),
  BACKUP_WRONG_KEY: entry(ExitCode.Usage, 'The configured key does not open this repository or object.', [
    'A key file from another repository, or the repository was rekeyed.',
  ], ['Use the key file the repository was created with; repo.json lists the key ids it expects.']),
  BACKUP_DECRYPT_FAILED: entry(ExitCode.Failed, 'An encrypted object could not be decrypted: it is damaged.', [
    'The stored bytes were altered or truncated after the backup was written.',
  ], ['Run `opsctl backup verify <id>` to name the damaged object; use another backup.']),
  BACKUP_STORAGE_FAILED: entry(ExitCode.Failed, 'Writing to the backup repository failed.', [
    'The disk is full (or over quota), the directory became read-only, or an I/O error occurred.',
  ], ['Free space or fix the storage, then run the backup again; the failed run left no backup.']),
  BACKUP_VAULT_UNENCRYPTED: entry(ExitCode.Usage, 'A vault backup was asked of an unencrypted repository.', [
    'Secrets are only ever stored encrypted; this repository was created with --no-encryption.',
  ], ['Back the vault up into an encrypted repository (`opsctl backup init` with a key file).']),
  BACKUP_SET_INCOMPLETE: entry(ExitCode.Failed, 'A member of a backup set (`backup run --all`) failed; the set was not recorded.', [
    'One of PostgreSQL, Redis or the vault could not be backed up; the members taken before it stay as single backups.',
  ], ['Read the quoted cause, fix it and run `opsctl backup run --all` again.']),
  BACKUP_LOCKED: entry(ExitCode.Failed, 'Another backup of the same kind is running.', [
    'A second run was started while the first still holds `locks/<kind>.lock` in the repository.',
  ], ['Wait for the running backup to finish; remove the lock file only if its process is gone.']),
  BACKUP_NOT_FOUND: entry(ExitCode.Failed, 'No backup with that id exists.', [
    'A typo in the id, or the backup never completed (no manifest) or was pruned.',
  ], ['List backups with `opsctl backup list`.']),
  BACKUP_PG_NOT_LOCAL: entry(ExitCode.Usage, 'A physical backup needs the data directory of the server on this host.', [
    'opsctl runs on another host than PostgreSQL, or cannot read the data directory (permissions).',
    'The data directory found is of another cluster (its system identifier differs).',
  ], ['Run the physical backup on the database host as a user that can read the data directory (root or postgres).']),
  BACKUP_PG_TABLESPACES: entry(ExitCode.Usage, 'The cluster has tablespaces and the physical backup would go through pg_basebackup, which cannot stream them as one tar.', [
    'The data directory is not readable on this host, or --via basebackup was given.',
  ], ['Run the physical backup on the database host (--via local), where tablespaces are copied, or use the logical backup.']),
  BACKUP_NO_REFERENCE: entry(ExitCode.Usage, 'A differential or incremental backup needs an earlier physical backup of the same cluster.', [
    'No full physical backup of this cluster (same system identifier) is in the repository yet.',
  ], ['Take a full one first: `opsctl backup run postgres-physical --type full`.']),
  BACKUP_WAL_CONFLICT: entry(ExitCode.Failed, 'A different WAL file is already archived under that name.', [
    'Two clusters archive into one repository, or a restored cluster reuses a timeline it should not.',
  ], ['Give each cluster its own repository; after a restore, let the cluster switch to a new timeline.']),
  BACKUP_WAL_MISSING: entry(ExitCode.Failed, 'The WAL file is not in the archive.', [
    'PostgreSQL asks for the next WAL file during recovery and it was never archived (the normal end of recovery).',
    'Archiving stopped or failed: see `opsctl backup wal-status`.',
  ], ['During recovery nothing: PostgreSQL stops asking. Otherwise fix archive_command and check `backup wal-status`.']),
  BACKUP_WAL_PUSH_FAILED: entry(ExitCode.Failed, 'The asynchronous WAL pusher could not archive the file.', [
    'The WAL file could not be read, or the repository could not be written (disk full, permissions).',
  ], ['Read the message and `<spool>/pusher.log`; PostgreSQL retries the segment by itself once the cause is fixed.']),
  BACKUP_WAL_ASYNC_TIMEOUT: entry(ExitCode.Failed, 'The asynchronous WAL pusher did not acknowledge the file in time.', [
    'The pusher is far behind (a slow repository) or cannot start (see `<spool>/pusher.log`).',
  ], ['Check `opsctl backup wal-status` and the pusher log; raise --timeout; PostgreSQL retries the segment by itself.']),
  // ---- sessions ----------------------------------------------------------------------------
  SESSION_TOO_LARGE: entry(ExitCode.Failed, 'A session write would make the session larger than its size limit.', [
    'The application stores too much in the session (a cart, a cached profile, a file).',
  ], ['Keep large data elsewhere and store its id in the session, or raise `session.maxBytes`.']),
  SESSION_NOT_DURABLE: entry(ExitCode.Failed, 'A session write was not acknowledged by enough replicas in time.', [
    "`session.durability: replica` asks WAIT for `session.replicas` copies; a replica is down, lagging or disconnected.",
  ], ['Check `opsctl redis topology`; the write reached the primary but may be lost if it fails now. Retry, or lower `session.replicas`.']),
  SESSION_NOT_FOUND: entry(ExitCode.Failed, 'No session with that id exists.', [
    'A typo in the id, or the session expired or was revoked.',
  ], ['List live sessions with `opsctl session list`.']),
  SESSION_UNREADABLE: entry(ExitCode.Failed, 'A stored session cannot be read: unknown format version, corrupt value or wrong encryption key.', [
    'The session was written by a newer opsctl, altered by hand, or encrypted with a key that is no longer configured.',
  ], ['Add the old key to `session.encryption.keys` (it is still needed to decrypt), or revoke the session; applications treat it as signed out.']),
  SESSION_KEY_INVALID: entry(ExitCode.Usage, 'A session encryption key is not usable.', [
    'A key that is not 32 bytes in base64, a duplicate key id, or a key id containing `:`.',
  ], ['Generate a key with `openssl rand -base64 32` and give it a short unique id.']),
  SESSION_NOT_CONFIGURED: entry(ExitCode.Usage, 'The session store is used in a way its configuration does not allow.', [
    '`session rekey` without `session.encryption`.',
  ], ['Add the missing `session` settings to the profile (docs/sessions.md).']),
  SESSION_CONFLICT: entry(ExitCode.Failed, 'A session save kept losing the compare-and-set to other writes of the same session.', [
    'Many requests of one session change it at the same moment (a polling page, a retry storm).',
  ], ['Retry the request; write less often to the session (keep counters elsewhere).']),
  // ---- query cache -------------------------------------------------------------------------
  CACHE_UNKNOWN_NAMESPACE: entry(ExitCode.Usage, 'The cache namespace is not configured.', [
    'A query or command names a namespace that is not in `cache.namespaces` (or the factory\'s `namespaces`).',
  ], ['Add the namespace to the profile\'s cache.namespaces, or use one of those listed in the message.']),
  CACHE_UNCACHEABLE_QUERY: entry(ExitCode.Usage, 'The statement cannot be cached.', [
    'It calls a volatile function (now(), random(), nextval(), clock_timestamp(), …) whose result changes on every run.',
    'It is not a read (INSERT, UPDATE, DELETE, DDL, or SELECT … FOR UPDATE).',
    'The tables it reads cannot be read from the SQL (the message says where) and the query declares no `tables`.',
  ], ['Run it on the pool directly; cache only statements whose result depends on the data alone.', 'For unreadable FROM clauses, pass `tables` in the query options.']),
  CACHE_BAD_INPUT: entry(ExitCode.Usage, 'A cache option or argument is invalid.', [
    'A negative TTL, an empty tag, a key that is not a cache entry key, or a malformed warm file.',
  ], ['Read the message: it names the option and the accepted values.']),
  CACHE_ENTRY_NOT_FOUND: entry(ExitCode.Failed, 'No cache entry exists under that key.', [
    'The key expired, was invalidated, or was typed wrong.',
  ], ['List entries with `opsctl cache keys`.']),
  CACHE_ENTRY_CORRUPT: entry(ExitCode.Failed, 'A cache entry has a format this opsctl cannot read.', [
    'The value was written by a newer opsctl (format version) or by another program under the cache prefix.',
  ], ['Invalidate the key (`opsctl cache invalidate --key K`); the next query fills it again.']),
  PG_MIGRATION_CHANGED: entry(ExitCode.Failed, 'An already-applied migration file of the opsctl schema was changed.', [
    'The SQL file\'s checksum differs from the one recorded in opsctl.schema_migrations when it was applied.',
  ], ['Restore the original file; schema changes go into a new numbered migration.']),
  PG_MIGRATION_FAILED: entry(ExitCode.Failed, 'A migration of the opsctl schema failed and was rolled back.', [
    'The role lacks CREATE on the database, or the SQL conflicts with existing objects.',
  ], ['Read the PostgreSQL error quoted in the message; fix the cause and run the command again.']),
  // ---- rate limiting -----------------------------------------------------------------------
  RATELIMIT_BAD_INPUT: entry(ExitCode.Usage, 'A rate limit call or option is invalid.', [
    'A cost that is zero, negative or not a whole number, an empty key, or no policy named.',
  ], ['Pass cost as a positive integer and a non-empty key; read the message for the exact value.']),
  RATELIMIT_BAD_POLICY: entry(ExitCode.Usage, 'A rate limit policy is invalid.', [
    'A rate that is not "<count>/<period>" (e.g. "100/1m"), a burst that is not a positive integer, or an unknown algorithm.',
  ], ['Fix the policy under ratelimit.policies in the profile (docs/ratelimit.md lists the fields).']),
  RATELIMIT_UNKNOWN_POLICY: entry(ExitCode.Usage, 'The rate limit policy is not configured.', [
    'A call or command names a policy that is not in ratelimit.policies (or the factory\'s `policies`).',
  ], ['Use one of the names `opsctl ratelimit policies` lists, or add the policy to the profile.']),
  // ---- general -----------------------------------------------------------------------------
  CHECK_FAILED: entry(ExitCode.CheckFailed, 'A check found problems.', [
    'doctor/verify/scan found at least one warning or failure.',
  ], ['Read the report: every failing check has a one-line remedy.']),
  INTERRUPTED: entry(ExitCode.Interrupted, 'The command was interrupted.', [
    'Ctrl-C (SIGINT) or SIGTERM.',
  ], ['Run the command again; interrupted work was rolled back or left clearly incomplete.']),
  INTERNAL: entry(ExitCode.Failed, 'An unexpected internal error (a bug in opsctl).', [
    'Something opsctl did not anticipate.',
  ], ['Rerun with `--debug` and report the stack trace.']),
} satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;
