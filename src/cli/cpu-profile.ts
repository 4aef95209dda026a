import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/**
 * `--cpu-prof`: profiles this run with V8's sampling profiler (the same data as
 * `node --cpu-prof`) and writes a `.cpuprofile` that Chrome DevTools or speedscope open.
 * Returns the function that stops the profiler and writes the file, resolving to its path.
 */
export async function startCpuProfile(directory: string, now: Date = new Date()): Promise<() => Promise<string>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    const file = join(directory, `opsctl-${now.toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    return file;
  };
}
