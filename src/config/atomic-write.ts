import { randomBytes } from 'node:crypto';
import { open, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file so that readers see the old content or the new one, never half of either:
 * a temporary file in the same directory, fsync, rename over the target, fsync the directory.
 * The target's permission bits are kept (a config file made private stays private), and a
 * symbolic link stays a link.
 */
export async function writeFileAtomic(target: string, content: string, options: { mode?: number } = {}): Promise<void> {
  // A symlinked file (a config kept in a dotfiles repository) is replaced where it really lives.
  const filepath = await realpath(target).catch(() => target);
  const dir = path.dirname(filepath);
  const existingMode = await stat(filepath).then((info) => info.mode & 0o777, () => undefined);
  const mode = existingMode ?? options.mode ?? 0o644;
  const temp = path.join(dir, `.${path.basename(filepath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, filepath);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  // The rename is durable only once the directory entry is on disk.
  const dirHandle = await open(dir, 'r').catch(() => undefined);
  if (dirHandle !== undefined) {
    await dirHandle.sync().catch(() => undefined);
    await dirHandle.close();
  }
}
