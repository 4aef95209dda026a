/**
 * `--explain`: what a command would run, written as the standard tools an operator already trusts
 * (redis-cli, psql, pg_dump …), so the work can be checked or reproduced by hand. Nothing here
 * connects: a step that depends on an answer from the server says so in its note and uses a
 * `<placeholder>` where that answer goes.
 */

/** One program invocation. Secrets never appear: env values that hold them are placeholders. */
export interface Invocation {
  tool: string;
  args: readonly string[];
  /** Environment the invocation needs (passwords as `<profiles.x.redis.password>` placeholders). */
  env?: Readonly<Record<string, string>>;
}

export interface ExplainStep {
  /** Why this step exists or what varies (one line). */
  note?: string;
  /** Invocations joined by `|`. */
  pipeline: readonly Invocation[];
  /** `> path`: where the last invocation's output goes. */
  output?: string;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
const PLACEHOLDER = /^<[^<>'\s]+>$/;

/**
 * POSIX shell quoting: words made only of safe characters stay bare (placeholders such as
 * `<host>` included, so they read as placeholders rather than as quoted literals).
 */
export function shellQuote(word: string): string {
  if (SAFE_WORD.test(word) || PLACEHOLDER.test(word)) return word;
  // SQL is full of single quotes: double quotes read better where nothing in them expands.
  if (word.includes("'") && !/[$`"\\!]/.test(word)) return `"${word}"`;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function formatInvocation(invocation: Invocation): string {
  const env = Object.entries(invocation.env ?? {}).map(([name, value]) => `${name}=${shellQuote(value)}`);
  return [...env, invocation.tool, ...invocation.args.map(shellQuote)].join(' ');
}

/** The step as one shell line. */
export function formatExplainStep(step: ExplainStep): string {
  const line = step.pipeline.map(formatInvocation).join(' | ');
  return step.output === undefined ? line : `${line} > ${shellQuote(step.output)}`;
}

/** A step of one invocation. */
export function step(tool: string, args: readonly string[], options: { env?: Record<string, string>; note?: string; output?: string } = {}): ExplainStep {
  const invocation: Invocation = options.env === undefined || Object.keys(options.env).length === 0 ? { tool, args } : { tool, args, env: options.env };
  return {
    ...(options.note === undefined ? {} : { note: options.note }),
    pipeline: [invocation],
    ...(options.output === undefined ? {} : { output: options.output }),
  };
}

/** Placeholder for a secret the command would read from the configuration. */
export function secretPlaceholder(configKey: string): string {
  return `<${configKey}>`;
}
