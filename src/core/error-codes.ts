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
  BACKUP_LOCKED: entry(ExitCode.Failed, 'Another backup of the same kind is running.', [
    'A second run was started while the first still holds `locks/<kind>.lock` in the repository.',
  ], ['Wait for the running backup to finish; remove the lock file only if its process is gone.']),
  BACKUP_NOT_FOUND: entry(ExitCode.Failed, 'No backup with that id exists.', [
    'A typo in the id, or the backup never completed (no manifest) or was pruned.',
  ], ['List backups with `opsctl backup list`.']),
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
