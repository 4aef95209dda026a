import { Chalk, type ChalkInstance } from 'chalk';

/**
 * The colour theme: status words, severities and headings look the same in every command.
 * With colour off every function is the identity, so meaning never depends on colour alone
 * (status words are words: PASS / WARN / FAIL).
 */
export interface Theme {
  heading(text: string): string;
  dim(text: string): string;
  ok(text: string): string;
  warn(text: string): string;
  fail(text: string): string;
  info(text: string): string;
  code(text: string): string;
  /** `pass`/`warn`/`fail`/… → upper-case word in its colour. */
  status(status: string): string;
}

export function createTheme(enabled: boolean): Theme {
  const c: ChalkInstance = new Chalk({ level: enabled ? 1 : 0 });
  const byStatus: Record<string, (t: string) => string> = {
    pass: c.green,
    ok: c.green,
    up: c.green,
    running: c.green,
    warn: c.yellow,
    degraded: c.yellow,
    fail: c.red,
    error: c.red,
    down: c.red,
    stopped: c.dim,
    skip: c.dim,
  };
  return {
    heading: (t) => c.bold(t),
    dim: (t) => c.dim(t),
    ok: (t) => c.green(t),
    warn: (t) => c.yellow(t),
    fail: (t) => c.red(t),
    info: (t) => c.cyan(t),
    code: (t) => c.cyan(t),
    status: (s) => (byStatus[s.toLowerCase()] ?? ((t: string) => t))(s.toUpperCase()),
  };
}
