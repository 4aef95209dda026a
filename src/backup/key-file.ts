import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OpsError } from '../core/errors.js';
import { formatIdentityFile, generateIdentity, parseIdentityFile, type AgeIdentity } from './age.js';

/** The repository key as read from its file, and whether others may read that file too. */
export interface KeyFile {
  identities: AgeIdentity[];
  /** Group or others have any permission on the file (the caller should warn). */
  exposed: boolean;
}

/** Reads an age identity file (`age-keygen` format); BACKUP_KEY_MISSING when it cannot be read. */
export async function readKeyFile(path: string): Promise<KeyFile> {
  let text: string;
  let exposed = false;
  try {
    text = await readFile(path, 'utf8');
    exposed = process.platform !== 'win32' && ((await stat(path)).mode & 0o077) !== 0;
  } catch (error) {
    throw new OpsError('BACKUP_KEY_MISSING', `cannot read the key file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, {
      hint: 'fix backup.keyFile / --key-file, or create the key with `opsctl backup init --generate-key`',
      cause: error,
    });
  }
  return { identities: parseIdentityFile(text, path), exposed };
}

/** Writes a new X25519 identity to `path` (mode 0600); an existing file is never overwritten. */
export async function createKeyFile(path: string, now: Date): Promise<AgeIdentity> {
  const key = generateIdentity();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, formatIdentityFile(key, now), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new OpsError('BACKUP_REPO_EXISTS', `the key file ${path} already exists; it is never overwritten`, {
      hint: 'drop --generate-key to use it, or choose another --key-file',
    });
  }
  return key;
}
