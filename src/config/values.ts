import { readFile } from 'node:fs/promises';
import { OpsError } from '../core/errors.js';
import { parseDuration } from '../core/parse.js';

/**
 * Turning validated config values into what the drivers take, with errors that name the key.
 * The schema already checked the shapes; these guard callers that build configs in code.
 */

/** A duration setting in milliseconds; CONFIG_INVALID naming `key` when it is not one. */
export function configDuration(value: string | number, key: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new OpsError('CONFIG_INVALID', `${key} is not a duration: ${JSON.stringify(value)}`, {
      hint: 'write it like "500ms", "5s" or "1m"',
    });
  }
  return ms;
}

/** A file a setting points at (a PEM certificate or key); CONFIG_INVALID naming `key` when unreadable. */
export async function readConfigFile(path: string, key: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new OpsError('CONFIG_INVALID', `cannot read ${key} (${path}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      hint: `fix the path in ${key}; it is read relative to the current directory`,
      cause: error,
    });
  }
}

/** The parts of a `scheme://user:password@host:port/path?query` server URL, decoded. */
export interface ServerUrl {
  protocol: string;
  host: string | undefined;
  port: number | undefined;
  username: string | undefined;
  password: string | undefined;
  /** The path without its leading slash, decoded ('' when none). */
  path: string;
  params: URLSearchParams;
}

/** Parses a server URL of one of `protocols` (`'redis:'`, …); undefined when it is not one. */
export function parseServerUrl(text: string, protocols: readonly string[]): ServerUrl | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (!protocols.includes(url.protocol)) return undefined;
  const decoded = (part: string) => (part === '' ? undefined : decodeURIComponent(part));
  return {
    protocol: url.protocol,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || undefined,
    port: url.port === '' ? undefined : Number(url.port),
    username: decoded(url.username),
    password: decoded(url.password),
    path: decodeURIComponent(url.pathname.replace(/^\//, '')),
    params: url.searchParams,
  };
}
