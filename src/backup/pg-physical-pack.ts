import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OpsError } from '../core/errors.js';
import { createAgeDecryptStream, createAgeEncryptStream } from './age.js';
import { codecFor, type Codec } from './compression.js';
import type { Repository } from './repository.js';
import { HashTap, settleAll } from './streams.js';
import type { KeyEntry, ObjectRecord } from './types.js';

/** The storage-level facts of one object, as the manifest records them. */
export type StoredObject = Pick<
  ObjectRecord,
  'path' | 'compression' | 'compressionLevel' | 'encryption' | 'keyId' | 'sizeStored' | 'sizeLogical' | 'sha256Stored' | 'sha256Content'
>;

/** Pieces smaller than this are gathered into one write to the compressor (fewer system calls). */
const GATHER_BELOW = 64 * 1024;
const GATHER_SIZE = 1 << 20;

/**
 * Writes one repository object from bytes handed to it piece by piece: content SHA-256 →
 * compression → age (to the repository's active key) → stored SHA-256 → storage. `write`
 * waits when the compressor is busy, so a fast reader never buffers a whole file; `position` is
 * the content offset the next byte gets (the pack offsets of the block index). With
 * `hashContent: false` the content is not hashed here and `finish` is given its digest (a pack's
 * comes from its block hashes).
 */
export class ObjectWriter {
  readonly #content: Hash | undefined;
  readonly #stored = new HashTap();
  readonly #input: Writable;
  readonly #done: Promise<void>;
  readonly #controller = new AbortController();
  readonly #active: KeyEntry | undefined;
  #gathered = Buffer.allocUnsafe(GATHER_SIZE);
  #gatheredBytes = 0;
  #failure: unknown;
  position = 0;

  constructor(
    repo: Repository,
    readonly key: string,
    private readonly codec: Codec,
    signal?: AbortSignal,
    writer: { hashContent?: boolean } = {},
  ) {
    this.#content = writer.hashContent === false ? undefined : createHash('sha256');
    const active = repo.activeKey;
    this.#active = active;
    const compress = codec.compress();
    this.#input = compress.input;
    const encrypt = active === undefined ? new PassThrough() : createAgeEncryptStream([active.recipient]);
    const stop = () => {
      compress.abort();
      if (!this.#controller.signal.aborted) this.#controller.abort();
    };
    signal?.addEventListener('abort', () => this.#controller.abort(signal.reason), { once: true });
    this.#controller.signal.addEventListener('abort', stop, { once: true });
    const options = { signal: this.#controller.signal };
    this.#done = settleAll([pipeline(compress.output, encrypt, this.#stored, options), repo.storage.put(key, this.#stored, options), compress.done], stop);
    this.#done.catch((error: unknown) => {
      this.#failure = error;
    });
  }

  /**
   * Appends bytes. `consumed` is called once the writer no longer needs `chunk` (the caller
   * may then reuse it); without it the caller must not reuse the buffer at all.
   */
  async write(chunk: Buffer, consumed?: () => void): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    this.position += chunk.length;
    this.#content?.update(chunk);
    if (chunk.length < GATHER_BELOW) {
      // Copied, so the caller's buffer is free at once.
      if (this.#gatheredBytes + chunk.length > GATHER_SIZE) await this.#flushGathered();
      chunk.copy(this.#gathered, this.#gatheredBytes);
      this.#gatheredBytes += chunk.length;
      consumed?.();
      return;
    }
    await this.#flushGathered();
    if (this.codec.algorithm === 'none' && consumed !== undefined) {
      // A pass-through hands the very buffer on downstream: the caller's must be copied.
      await this.#send(Buffer.from(chunk));
      consumed();
    } else {
      await this.#send(chunk, consumed);
    }
  }

  async #flushGathered(): Promise<void> {
    if (this.#gatheredBytes === 0) return;
    const gathered = this.#gathered.subarray(0, this.#gatheredBytes);
    this.#gathered = Buffer.allocUnsafe(GATHER_SIZE);
    this.#gatheredBytes = 0;
    await this.#send(gathered);
  }

  async #send(chunk: Buffer, consumed?: () => void): Promise<void> {
    const more = this.#input.write(chunk, consumed === undefined ? undefined : () => consumed());
    if (!more) {
      // A compressor stopped by another part's failure rejects with EPIPE: throw that cause instead.
      await Promise.race([once(this.#input, 'drain'), this.#done]).catch(() => this.#done);
      if (this.#failure !== undefined) throw this.#failure;
    }
  }

  /** Ends the object and waits until it is durably stored; `sha256Content` when not hashed here. */
  async finish(name: string, sha256Content?: string): Promise<StoredObject> {
    const content = sha256Content ?? this.#content?.digest('hex');
    if (content === undefined) throw new Error('ObjectWriter.finish: the content digest is needed when hashContent is false');
    await this.#flushGathered();
    this.#input.end();
    await this.#done;
    const key = this.#active;
    return {
      path: name,
      compression: this.codec.algorithm,
      ...(this.codec.level === undefined ? {} : { compressionLevel: this.codec.level }),
      encryption: key === undefined ? 'none' : 'age',
      ...(key === undefined ? {} : { keyId: key.id }),
      sizeStored: this.#stored.bytes,
      sizeLogical: this.position,
      sha256Stored: this.#stored.digest(),
      sha256Content: content,
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
