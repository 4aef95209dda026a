import { ERROR_CODES, type ErrorCode } from './error-codes.js';
import type { ExitCode } from './exit-codes.js';

export interface OpsErrorOptions {
  /** One line telling the operator what to do next. */
  hint?: string;
  /** The underlying error (pg, ioredis, a child process); shown with `--debug`. */
  cause?: unknown;
  /** Structured facts for `--json` error output (never secrets). */
  details?: Record<string, unknown>;
}

/**
 * The one error type opsctl throws on purpose. `code` is stable (scripts and the library's
 * callers match on it), `exitCode` comes from the catalogue, `hint` says what to do.
 */
export class OpsError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: OpsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OpsError';
    this.code = code;
    this.exitCode = ERROR_CODES[code].exitCode;
    this.hint = options.hint;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

export function isOpsError(value: unknown): value is OpsError {
  return value instanceof OpsError;
}
