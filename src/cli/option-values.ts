import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../core/parse.js';

/**
 * Parsers for option and argument values, shared by every command group: commander calls them
 * and turns their InvalidArgumentError into a usage error (exit 2) naming the option.
 */

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number (0 or more)');
  return n;
}

/** A duration in ms ("500ms", "2s", "1m", "30d"); 0 allowed. */
export function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as "500ms", "30s", "5m", "12h" or "30d"');
  return ms;
}

/** A duration in ms greater than zero. */
export function positiveDuration(value: string): number {
  const ms = duration(value);
  if (ms <= 0) throw new InvalidArgumentError('expected a duration greater than zero, such as "30s", "5m" or "1h"');
  return ms;
}

/** A repeatable option's values, in order (`--table a --table b`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
