import type { Redis, Cluster } from 'ioredis';
import type { Pool } from 'pg';
import type { RedisNodes } from '../redis/topology.js';
import type { PostgresConfig, RedisConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import { OpsError } from '../core/errors.js';
import type { ProgressReporter } from '../core/progress.js';
import { formatDuration } from '../core/parse.js';
import { silentTracer, streamTracer, teeTracer, tracePhase, TimingCollector, type Tracer } from '../core/trace.js';
import type { LoadedConfig, SelectedProfile } from '../config/loader.js';
import type { IOStreams } from './ui/io.js';
import { Output, resolveFormat } from './ui/output.js';
import { terminalProgress } from './ui/progress.js';
import { createPrompter, type Prompter } from './ui/prompt.js';
import { createTheme, type Theme } from './ui/theme.js';

/** The global flags of DESIGN.md, as commander hands them over (`--no-x` arrives as `x: false`). */
export interface GlobalOptions {
  profile?: string;
  config?: string;
  json?: boolean;
  output?: string;
  quiet?: boolean;
  verbose?: boolean;
  debug?: boolean;
  color?: boolean;
  input?: boolean;
  yes?: boolean;
  /** `--yes=<profile>`: confirms destructive steps on that (protected) profile only. */
  yesProfile?: string;
  /** `--timings`: a per-phase table on stderr when the command ends. */
  timings?: boolean;
  /** `--cpu-prof`: a .cpuprofile of the run (handled by main). */
  cpuProf?: boolean;
  /** `--explain`: print the equivalent redis-cli / psql / pg_dump lines instead of running. */
  explain?: boolean;
}

/** What main hands every command: the process's streams and environment, swappable in tests. */
export interface Runtime {
  io: IOStreams;
  env: NodeJS.ProcessEnv;
  cwd: string;
  clock: Clock;
  /** Aborted on Ctrl-C / SIGTERM; long work passes it down. */
  signal: AbortSignal;
}

export type RedisClient = Redis | Cluster;

/**
 * The lazy context a command receives (gh's Factory): config, profile and connections are
 * created on first use and closed when the command ends, so `--help` costs nothing and a
 * command that needs only config never opens a socket.
 */
export class CommandContext {
  readonly io: IOStreams;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly globals: GlobalOptions;
  readonly theme: Theme;
  readonly out: Output;
  readonly prompter: Prompter;
  readonly tracer: Tracer;
  /** Progress of long work: bar/spinner on a terminal's stderr, a periodic line elsewhere. */
  readonly progress: ProgressReporter;
  /** Set by a command that succeeded but must report a non-zero status (exit 3 for checks). */
  exitCode = 0;

  #config: Promise<LoadedConfig> | undefined;
  #profile: Promise<SelectedProfile> | undefined;
  #redis: Promise<RedisClient> | undefined;
  #pg: Promise<Pool> | undefined;
  #redisNodes: Promise<RedisNodes> | undefined;
  readonly #cleanups: (() => Promise<void> | void)[] = [];
  readonly #timings: TimingCollector | undefined;
  readonly #started: number;

  constructor(runtime: Runtime, globals: GlobalOptions) {
    this.io = runtime.io;
    this.env = runtime.env;
    this.cwd = runtime.cwd;
    this.clock = runtime.clock ?? systemClock;
    this.signal = runtime.signal;
    this.globals = globals;
    this.theme = createTheme(runtime.io.colorStdout);
    this.out = new Output(runtime.io, resolveFormat(globals), this.theme, globals.quiet === true);
    this.prompter = createPrompter(runtime.io, { noInput: globals.input === false });
    this.#timings = globals.timings === true ? new TimingCollector() : undefined;
    this.tracer = teeTracer(
      globals.debug === true ? streamTracer((line) => runtime.io.stderr.write(line)) : silentTracer,
      this.#timings ?? silentTracer,
    );
    this.#started = this.clock.monotonic();
    this.progress = terminalProgress({ io: runtime.io, clock: this.clock, quiet: globals.quiet === true });
  }

  /** `--verbose` detail on stderr. */
  verbose(text: string): void {
    if (this.globals.verbose === true || this.globals.debug === true) this.io.stderr.write(`${this.theme.dim(text)}\n`);
  }

  /** The configuration file, found by `--config` or the cosmiconfig search. */
  config(): Promise<LoadedConfig> {
    this.#config ??= tracePhase(this.tracer, 'load configuration', () =>
      import('../config/loader.js').then((m) => m.loadConfig({ configPath: this.globals.config, cwd: this.cwd, env: this.env, tracer: this.tracer })),
    )
      .then((loaded) => {
        // e.g. "written for configuration version 1 … run `opsctl config migrate`".
        for (const warning of loaded.warnings) this.out.warning(warning);
        return loaded;
      });
    return this.#config;
  }

  /** The profile chosen by `--profile`, `OPSCTL_PROFILE`, `defaultProfile`, or the only one. */
  profile(): Promise<SelectedProfile> {
    this.#profile ??= Promise.all([this.config(), import('../config/loader.js')]).then(([config, m]) =>
      m.selectProfile(config, { profile: this.globals.profile, env: this.env }),
    );
    return this.#profile;
  }

  /** The profile's redis section and its key path in the file; CONFIG_INVALID when it has none. */
  async redisSection(): Promise<{ config: RedisConfig; configKey: string }> {
    const selected = await this.profile();
    if (selected.profile.redis === undefined) {
      throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no redis section`, {
        hint: `add profiles.${selected.name}.redis to ${selected.filepath}`,
      });
    }
    return { config: selected.profile.redis, configKey: `profiles.${selected.name}.redis` };
  }

  /** The profile's shared Redis client (connected, from its RedisManager), closed when the command ends. */
  redis(): Promise<RedisClient> {
    this.#redis ??= (async () => {
      const { config, configKey } = await this.redisSection();
      // Through the manager (src/redis/pool.ts): the one way opsctl gets Redis clients.
      const { createRedisManager } = await import('../redis/pool.js');
      const manager = createRedisManager(config, {
        configKey,
        tracer: this.tracer,
      });
      this.onClose(() => manager.close());
      return tracePhase(this.tracer, 'connect to Redis', () => manager.shared());
    })();
    return this.#redis;
  }

  /**
   * Connections to each node of the profile's Redis deployment (the `redis` verbs and doctor
   * visit every primary, replica and Sentinel), opened per node on first use.
   */
  redisNodes(): Promise<RedisNodes> {
    this.#redisNodes ??= (async () => {
      const { config, configKey } = await this.redisSection();
      const { RedisNodes } = await import('../redis/topology.js');
      const nodes = new RedisNodes(config, configKey, this.tracer);
      this.onClose(() => nodes.close());
      return nodes;
    })();
    return this.#redisNodes;
  }

  /** The profile's postgres section and its key path in the file; CONFIG_INVALID when it has none. */
  async postgresSection(): Promise<{ config: PostgresConfig; configKey: string }> {
    const selected = await this.profile();
    if (selected.profile.postgres === undefined) {
      throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no postgres section`, {
        hint: `add profiles.${selected.name}.postgres to ${selected.filepath}`,
      });
    }
    return { config: selected.profile.postgres, configKey: `profiles.${selected.name}.postgres` };
  }

  /** The profile's PostgreSQL pool (one connection verified), closed when the command ends. */
  pg(): Promise<Pool> {
    this.#pg ??= (async () => {
      const { config, configKey } = await this.postgresSection();
      const { createPgPool } = await import('../postgres/connection.js');
      const pool = await tracePhase(this.tracer, 'connect to PostgreSQL', () => createPgPool(config, { configKey, tracer: this.tracer }));
      this.onClose(() => pool.end());
      return pool;
    })();
    return this.#pg;
  }

  /**
   * Asks before a destructive step, after stating its measured impact ("deletes 12,408 keys").
   * `--yes` answers for scripts; without a terminal and without `--yes` it fails naming the flag.
   *
   * With `onProfile`, the step acts on the selected profile's servers: a profile marked
   * `protected: true` then needs its name typed (or `--yes=<profile>` in scripts, where a bare
   * `--yes` is refused), and the profile is named in words that survive NO_COLOR.
   */
  async confirm(message: string, options: { impact?: string; onProfile?: boolean } = {}): Promise<void> {
    const selected = options.onProfile === true ? await this.profile() : undefined;
    const guarded = selected !== undefined && selected.profile.protected;
    const target = selected === undefined ? '' : `${guarded ? 'PROTECTED profile' : 'profile'} "${selected.name}": `;
    if (options.impact !== undefined) this.out.message(`${this.theme.warn(target || 'impact: ')}${target === '' ? '' : 'impact: '}${options.impact}`);

    if (guarded) {
      const name = selected.name;
      if (this.globals.yesProfile === name) return;
      if (this.globals.yesProfile !== undefined) {
        throw new OpsError('USAGE', `--yes=${this.globals.yesProfile} does not match the protected profile "${name}"`, { hint: `pass --yes=${name}` });
      }
      if (this.globals.yes === true && !this.prompter.interactive) {
        throw new OpsError('INPUT_REQUIRED', `profile "${name}" is protected: a bare --yes is not enough`, { hint: `pass --yes=${name}` });
      }
      const typed = await this.prompter.input(`${message} Type the profile name "${name}" to continue:`, { flag: `--yes=${name}` });
      if (typed.trim() !== name) throw new OpsError('INTERRUPTED', 'cancelled: the name typed does not match', { hint: 'nothing was changed' });
      return;
    }
    if (this.globals.yes === true || this.globals.yesProfile !== undefined) return;
    const accepted = await this.prompter.confirm(`${target}${message}`, { default: false, flag: '--yes' });
    if (!accepted) throw new OpsError('INTERRUPTED', 'cancelled', { hint: 'nothing was changed' });
  }

  onClose(cleanup: () => Promise<void> | void): void {
    this.#cleanups.push(cleanup);
  }

  async close(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch {
        // Closing is best effort: the command's own outcome is what the operator needs to see.
      }
    }
    if (this.#timings !== undefined) this.#printTimings(this.#timings);
  }

  /** `--timings`: the phases and the time spent in Redis, SQL and child processes, on stderr. */
  #printTimings(timings: TimingCollector): void {
    const total = this.clock.monotonic() - this.#started;
    const rows = [...timings.rows(), { phase: 'total', count: 1, totalMs: total }];
    const table = new Output(this.io, 'table', this.theme).table(
      rows.map((row) => ({ phase: row.phase, count: String(row.count), time: formatDuration(row.totalMs), share: `${Math.round((row.totalMs / total) * 100)}%` })),
      [{ key: 'phase' }, { key: 'count' }, { key: 'time' }, { key: 'share' }],
    );
    this.io.stderr.write(table);
  }

}
