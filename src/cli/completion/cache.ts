import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CompletionResult } from './types.js';

/** `$XDG_CACHE_HOME/opsctl/completion` (default `~/.cache/opsctl/completion`). */
export function completionCacheDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME !== undefined && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME ?? os.homedir(), '.cache');
  return path.join(base, 'opsctl', 'completion');
}

interface Entry {
  storedAt: number;
  result: CompletionResult;
}

/**
 * A small TTL cache for server-backed completions: one JSON file per key, so concurrent shells
 * never corrupt each other (writes go through a temporary file and a rename). Best effort: an
 * unreadable or unwritable cache only costs a server round trip.
 */
export class CompletionCache {
  constructor(
    readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {}

  private file(key: string): string {
    return path.join(this.dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  }

  async get(key: string, ttlMs: number): Promise<CompletionResult | undefined> {
    try {
      const entry = JSON.parse(await readFile(this.file(key), 'utf8')) as Entry;
      return this.now() - entry.storedAt < ttlMs ? entry.result : undefined;
    } catch {
      return undefined;
    }
  }

  async set(key: string, result: CompletionResult): Promise<void> {
    const file = this.file(key);
    const temp = `${file}.${process.pid}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await writeFile(temp, JSON.stringify({ storedAt: this.now(), result } satisfies Entry), { mode: 0o600 });
      await rename(temp, file);
    } catch {
      // Completion must never fail because of its cache.
    }
  }
}
