import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Size and modification time of a stored object. */
export interface ObjectInfo {
  key: string;
  size: number;
  modified: Date;
  /**
   * Changes whenever the object is written again, even within one clock tick: inode and
   * nanosecond change time locally (ctime cannot be set back by hand), the ETag on S3.
   */
  version: string;
}

/** A temporary object left by an interrupted write. */
export interface TempObject {
  key: string;
  modified: Date;
}

/**
 * Where a backup repository keeps its bytes. Keys are `/`-separated relative paths. Every write
 * is atomic: a reader sees the whole object or none. The local directory backend is below; an
 * object store (S3: PutObject / multipart upload, where the completed upload is the commit)
 * implements the same contract.
 */
export interface Storage {
  /** Human-readable location, for messages. */
  readonly location: string;
  /** Streams `source` into `key`, atomically and durably; resolves with the bytes written. */
  put(key: string, source: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | Readable, options?: { signal?: AbortSignal }): Promise<number>;
  /** Writes a small object only when `key` does not exist yet; false when it does (locks). */
  create(key: string, data: Uint8Array): Promise<boolean>;
  /** The object's bytes as a stream (fails with ENOENT when it is missing). */
  get(key: string): Readable;
  /** A small object's bytes, or undefined when it is missing. */
  read(key: string): Promise<Buffer | undefined>;
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Keys under `prefix` (recursive), sorted; temporary objects excluded. */
  list(prefix: string): Promise<string[]>;
  /** Removes an object; no error when it is missing. */
  delete(key: string): Promise<void>;
  /** Removes everything under `prefix`. */
  deletePrefix(prefix: string): Promise<void>;
  /** Temporary objects of interrupted writes under `prefix`. */
  listTemp(prefix: string): Promise<TempObject[]>;
  deleteTemp(key: string): Promise<void>;
}

const TEMP_MARKER = '.tmp-';

function isTempName(name: string): boolean {
  return name.startsWith('.') && name.includes(TEMP_MARKER);
}

/**
 * A local directory (or a mounted file system). Writes go to `.<name>.tmp-<random>` beside the
 * final name, are fsynced, renamed into place, and the directory is fsynced, so a crash leaves
 * either the old state or the new one plus, at worst, a temp file that listTemp finds.
 */
export class LocalStorage implements Storage {
  readonly location: string;

  constructor(readonly root: string) {
    this.location = root;
  }

  #path(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) throw new Error(`invalid storage key "${key}"`);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, source: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | Readable, options: { signal?: AbortSignal } = {}): Promise<number> {
    const path = this.#path(key);
    const dir = dirname(path);
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `.${path.slice(dir.length + 1)}${TEMP_MARKER}${randomBytes(4).toString('hex')}`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      const out = createWriteStream('', { fd: handle.fd, autoClose: false, highWaterMark: 1 << 20 });
      const input = source instanceof Readable ? source : Readable.from(source);
      await pipeline(input, out, options.signal === undefined ? {} : { signal: options.signal });
      await handle.sync();
      await handle.close();
      await rename(temp, path);
      await syncDir(dir);
      return out.bytesWritten;
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }

  async create(key: string, data: Uint8Array): Promise<boolean> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    let handle;
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDir(dirname(path));
    return true;
  }

  get(key: string): Readable {
    return createReadStream(this.#path(key), { highWaterMark: 1 << 20 });
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.#path(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(this.#path(key), { bigint: true });
      return info.isFile() ? { key, size: Number(info.size), modified: info.mtime, version: `${info.ino}:${info.mtimeNs}:${info.ctimeNs}` } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.#walk(prefix)).filter((entry) => !entry.temp).map((entry) => entry.key).sort();
  }

  async listTemp(prefix: string): Promise<TempObject[]> {
    const temps = (await this.#walk(prefix)).filter((entry) => entry.temp);
    return Promise.all(
      temps.map(async (entry) => ({ key: entry.key, modified: (await stat(this.#path(entry.key))).mtime })),
    );
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  async deleteTemp(key: string): Promise<void> {
    await this.delete(key);
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.#path(prefix.replace(/\/+$/, '')), { recursive: true, force: true });
  }

  async #walk(prefix: string): Promise<{ key: string; temp: boolean }[]> {
    const base = prefix.replace(/\/+$/, '');
    const out: { key: string; temp: boolean }[] = [];
    const visit = async (dirKey: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dirKey === '' ? this.root : this.#path(dirKey), { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw error;
      }
      for (const entry of entries) {
        const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
        if (entry.isDirectory()) await visit(key);
        else if (entry.isFile()) out.push({ key, temp: isTempName(entry.name) });
      }
    };
    await visit(base);
    return out;
  }
}

/** fsync a directory so a rename in it is durable (not supported on every platform). */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows and some network file systems cannot fsync a directory; the rename still happened.
  } finally {
    await handle?.close();
  }
}
