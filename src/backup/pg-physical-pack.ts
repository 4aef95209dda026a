import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OpsError } from '../core/errors.js';
import { createAgeDecryptStream, createAgeEncryptStream } from './age.js';
import { codecFor, type Codec } from './compression.js';
import type { Repository } from './repository.js';
import { Coalesce, HashTap, settleAll } from './streams.js';
import type { KeyEntry, ObjectRecord } from './types.js';

/** The storage-level facts of one object, as the manifest records them. */
export type StoredObject = Pick<
  ObjectRecord,
  'path' | 'compression' | 'compressionLevel' | 'encryption' | 'keyId' | 'sizeStored' | 'sizeLogical' | 'sha256Stored' | 'sha256Content'
>;

/**
 * Writes one repository object from bytes handed to it piece by piece: content SHA-256 →
 * compression → age (to the repository's active key) → stored SHA-256 → storage. `write`
 * waits when the pipeline is full, so a fast reader never buffers a whole file; `position` is
 * the content offset the next byte gets (the pack offsets of the block index).
 */
export class ObjectWriter {
  readonly #source = new PassThrough({ highWaterMark: 1 << 20 });
  readonly #content = new HashTap();
  readonly #stored = new HashTap();
  readonly #done: Promise<void>;
  readonly #controller = new AbortController();
  readonly #active: KeyEntry | undefined;
  #failure: unknown;
  position = 0;

  constructor(
    repo: Repository,
    readonly key: string,
    private readonly codec: Codec,
    signal?: AbortSignal,
  ) {
    const active = repo.activeKey;
    this.#active = active;
    const compress = codec.compress();
    const encrypt = active === undefined ? new PassThrough() : createAgeEncryptStream([active.recipient]);
    const stop = () => {
      compress.abort();
      if (!this.#controller.signal.aborted) this.#controller.abort();
    };
    signal?.addEventListener('abort', () => this.#controller.abort(signal.reason), { once: true });
    this.#controller.signal.addEventListener('abort', stop, { once: true });
    const options = { signal: this.#controller.signal };
    this.#done = settleAll(
      [
        pipeline(this.#source, this.#content, new Coalesce(), compress.input, options),
        pipeline(compress.output, encrypt, this.#stored, options),
        repo.storage.put(key, this.#stored, options),
        compress.done,
      ],
      stop,
    );
    this.#done.catch((error: unknown) => {
      this.#failure = error;
      this.#source.destroy();
    });
  }

  /** Appends bytes (the buffer must not be reused by the caller). */
  async write(chunk: Buffer): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    this.position += chunk.length;
    if (!this.#source.write(chunk)) {
      await Promise.race([once(this.#source, 'drain'), this.#done]);
      if (this.#failure !== undefined) throw this.#failure;
    }
  }

  /** Ends the object and waits until it is durably stored. */
  async finish(name: string): Promise<StoredObject> {
    this.#source.end();
    await this.#done;
    const key = this.#active;
    return {
      path: name,
      compression: this.codec.algorithm,
      ...(this.codec.level === undefined ? {} : { compressionLevel: this.codec.level }),
      encryption: key === undefined ? 'none' : 'age',
      ...(key === undefined ? {} : { keyId: key.id }),
      sizeStored: this.#stored.bytes,
      sizeLogical: this.#content.bytes,
      sha256Stored: this.#stored.digest(),
      sha256Content: this.#content.digest(),
    };
  }

  /** Stops writing; the partial object is never renamed into place. */
  async abort(reason: unknown): Promise<void> {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
    await this.#done.catch(() => undefined);
  }
}

/** How an object is stored: enough to read it back (WAL objects carry this in their names). */
export type StoredForm = Pick<ObjectRecord, 'compression' | 'encryption'> & { sha256Stored?: string };

/**
 * Reads an object's content (decrypted, decompressed), calling `onChunk` for each piece in
 * order; when the form records the stored SHA-256 it is checked on the way.
 */
export async function readObject(
  repo: Repository,
  key: string,
  form: StoredForm,
  onChunk: (chunk: Buffer) => void | Promise<void>,
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<void> {
  const codec = await codecFor(form.compression, options.env);
  const decompress = codec.decompress();
  const stored = new HashTap();
  const decrypt = form.encryption === 'age' ? createAgeDecryptStream(repo.identities) : new PassThrough();
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  const source: Readable = repo.storage.get(key);
  const consume = async (stream: AsyncIterable<Buffer>) => {
    for await (const chunk of stream) await onChunk(chunk);
  };
  await settleAll(
    [pipeline(source, stored, decrypt, decompress.input, signalOption), consume(decompress.output), decompress.done],
    () => decompress.abort(),
  );
  if (form.sha256Stored !== undefined && stored.digest() !== form.sha256Stored) {
    throw new OpsError('BACKUP_DECRYPT_FAILED', `${key}: stored bytes do not match the manifest's SHA-256`);
  }
}

/** A small object's whole content. */
export async function readObjectBuffer(repo: Repository, key: string, form: StoredForm, options: { env?: NodeJS.ProcessEnv } = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await readObject(repo, key, form, (chunk) => void chunks.push(chunk), options);
  return Buffer.concat(chunks);
}
