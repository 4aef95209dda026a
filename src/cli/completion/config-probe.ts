import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CompletionGlobals, ProfileSummary } from './types.js';
import { SEARCH_PLACES } from '../../config/search-places.js';

/**
 * Profile names for Tab completion without the full loader: the loader validates with zod and
 * searches with cosmiconfig, which together cost more than the whole Tab-press budget. This
 * finds the same file (the loader's SEARCH_PLACES, same directories) and reads only the
 * `profiles` keys. JS/TS files are code:
 * for those it falls back to the real loader.
 */

const isFile = (file: string) => stat(file).then((info) => info.isFile(), () => false);

/** The configuration file `opsctl` would load from `cwd` (or `--config`), or undefined. */
export async function probeConfigFile(cwd: string, env: NodeJS.ProcessEnv, globals: CompletionGlobals): Promise<string | undefined> {
  if (globals.config !== undefined) {
    const file = path.resolve(cwd, globals.config);
    return (await isFile(file)) ? file : undefined;
  }
  const home = path.resolve(env.HOME ?? os.homedir());
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    for (const name of SEARCH_PLACES) {
      const file = path.join(dir, name);
      if (!(await isFile(file))) continue;
      // package.json counts only when it has an "opsctl" key (as cosmiconfig does).
      if (name === 'package.json' && (await readData(file).then((data) => !isRecord(data) || !('opsctl' in data), () => true))) continue;
      return file;
    }
    if (dir === home || path.dirname(dir) === dir) return undefined;
  }
}

export interface ConfigProbe {
  file: string;
  /** The file's content as written (the `opsctl` key of a package.json). */
  data: unknown;
  profiles: ProfileSummary[];
  defaultProfile: string | undefined;
}

/** The profiles (and defaultProfile) of the file `opsctl` would load; undefined when there is none. */
export async function probeConfig(cwd: string, env: NodeJS.ProcessEnv, globals: CompletionGlobals): Promise<ConfigProbe | undefined> {
  const file = await probeConfigFile(cwd, env, globals);
  if (file === undefined) return undefined;
  let data: unknown;
  if (/\.(ts|js|mjs|cjs)$/.test(file)) {
    const { loadConfig } = await import('../../config/loader.js');
    data = (await loadConfig({ configPath: file, cwd, env })).raw;
  } else {
    data = await readData(file);
    if (path.basename(file) === 'package.json' && isRecord(data)) data = data.opsctl;
  }
  const profiles = isRecord(data) && isRecord(data.profiles) ? data.profiles : {};
  return {
    file,
    data,
    profiles: Object.entries(profiles).map(([name, value]) => ({
      name,
      ...(isRecord(value) && typeof value.description === 'string' ? { description: value.description } : {}),
      protected: isRecord(value) && value.protected === true,
    })),
    defaultProfile: isRecord(data) && typeof data.defaultProfile === 'string' ? data.defaultProfile : undefined,
  };
}

async function readData(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  if (file.endsWith('.json')) return JSON.parse(text) as unknown;
  // .opsctlrc may hold JSON or YAML; JSON is tried first because it needs no parser to load.
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const { parse } = await import('yaml');
    return parse(text) as unknown;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
