import type { Argument, Option } from 'commander';
import type { RedisClient } from '../context.js';
import type { ConfigProbe } from './config-probe.js';

/**
 * What the shell should do besides offering the candidates (cobra's ShellCompDirective, same
 * bit values so the scripts read like cobra's).
 */
export const Directive = {
  Default: 0,
  /** Something went wrong: offer nothing, not even files. */
  Error: 1,
  /** Do not add a space after the completion (a key path or prefix to continue). */
  NoSpace: 2,
  /** Do not fall back to file names when there are no candidates. */
  NoFileComp: 4,
  /** Offer directories only. */
  FilterDirs: 16,
} as const;

export interface Candidate {
  value: string;
  description?: string;
}

export interface CompletionResult {
  candidates: Candidate[];
  /** Bit set of Directive values. */
  directive: number;
  /** A completer stopped early (time budget, too many values): offered, never cached. */
  partial?: boolean;
}

/** The global flags seen on the line being completed, as far as completers need them. */
export interface CompletionGlobals {
  profile?: string;
  config?: string;
  /** Every option value given on the line so far, by long flag (`--repo` → `/srv/backups`). */
  options?: Readonly<Record<string, string>>;
}

/**
 * What a dynamic completer may use. `__complete` builds one per Tab press (short timeouts, a
 * throw-away connection); the REPL builds one over its open connections.
 */
export interface CompleterContext {
  /** The word being completed (the part before the cursor). */
  prefix: string;
  globals: CompletionGlobals;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted when the time budget is spent: return what you have. */
  signal: AbortSignal;
  /** Profile names and descriptions from the configuration file (cheap: no validation). */
  profiles(): Promise<ProfileSummary[]>;
  /** The configuration file as written (parsed, not validated); undefined without one. */
  configData(): Promise<unknown>;
  /** The configuration file found (path, data, profiles, defaultProfile); undefined without one. */
  config(): Promise<ConfigProbe | undefined>;
  /** A connected client for the selected profile (the REPL's own, or a short-lived one). */
  redis(): Promise<RedisClient>;
}

export interface ProfileSummary {
  name: string;
  description?: string;
  protected: boolean;
}

/**
 * A source of values for an argument or option that cannot be listed statically. `server`
 * completers ask Redis/PostgreSQL: they run under a time budget and their answers are cached
 * for `ttlMs` in the XDG cache directory (per configuration file, profile and prefix).
 */
export interface DynamicCompleter {
  /** Stable name: part of the cache key and of the generated docs. */
  name: string;
  server: boolean;
  ttlMs: number;
  complete(context: CompleterContext): Promise<CompletionResult>;
}

const COMPLETER = Symbol.for('opsctl.completer');

type Completable = Option | Argument;

/**
 * Attaches a dynamic completer to a commander option or argument:
 * `completeWith(new Option('--profile <name>', …), profileCompleter)`. Returns its target.
 */
export function completeWith<T extends Completable>(target: T, completer: DynamicCompleter): T {
  (target as T & { [COMPLETER]?: DynamicCompleter })[COMPLETER] = completer;
  return target;
}

/** The completer attached with completeWith, if any. */
export function completerOf(target: Completable): DynamicCompleter | undefined {
  return (target as Completable & { [COMPLETER]?: DynamicCompleter })[COMPLETER];
}
