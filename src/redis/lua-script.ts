import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisClient } from './connection.js';

/**
 * A Lua script owned by a domain module. The source lives in a `.lua` file beside that module
 * (copied next to the compiled JavaScript by the build), is read once at import time, and is
 * called by SHA. Redis forgets scripts on SCRIPT FLUSH, on restart, and a promoted replica may
 * never have seen them: `evalLuaScript` then sends the source once with EVAL, which also caches it
 * on that server, and goes back to EVALSHA.
 */
export interface LuaScript {
  /** File name without `.lua`, for traces and errors. */
  readonly name: string;
  readonly source: string;
  /** SHA-1 of the source: what EVALSHA and `SCRIPT EXISTS` take. */
  readonly sha: string;
}

/** Builds a script from source text (tests, or scripts generated at run time). */
export function luaScript(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Reads `<name>.lua` relative to the calling module: `loadLuaScript(import.meta.url, 'gcra')`.
 * Works from src/ (tests) and dist/ (the build copies .lua files beside the .js).
 */
export function loadLuaScript(moduleUrl: string, name: string): LuaScript {
  return luaScript(name, readFileSync(new URL(`./${name}.lua`, moduleUrl), 'utf8'));
}

/** ioredis surfaces Redis error replies as Errors whose message starts with the error code. */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/**
 * Runs `script` with EVALSHA and falls back to EVAL when the server does not know the SHA.
 * The fallback is safe to send: a NOSCRIPT reply means the script did not run at all.
 * In a Cluster, keys must share one hash slot (use a `{hash tag}`); ioredis routes by the first.
 */
export async function evalLuaScript(
  client: RedisClient,
  script: LuaScript,
  keys: readonly (string | Buffer)[],
  args: readonly (string | number | Buffer)[],
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return client.eval(script.source, keys.length, ...keys, ...args);
  }
}

/** The `redis-cli` line an operator would type to run the same script (for `--explain`). */
export function describeLuaCall(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): string {
  return ['EVALSHA', script.sha, String(keys.length), ...keys, ...args.map(String)].join(' ');
}
