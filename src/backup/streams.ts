import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** A pass-through that hashes (SHA-256) and counts what flows through it. */
export class HashTap extends Transform {
  readonly #hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** Errors that are consequences of another failure: a stage stopped because another failed. */
const CONSEQUENTIAL = new Set(['ABORT_ERR', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'EPIPE', 'ERR_STREAM_WRITE_AFTER_END']);

function isConsequential(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (error as Error | undefined)?.name === 'AbortError' || (typeof code === 'string' && CONSEQUENTIAL.has(code));
}

/**
 * Runs concurrent parts of one pipeline (stream pipelines, child exits) to completion. The first
 * failure aborts the others (so a blocked writer does not hang the rest); what is thrown is the
 * root cause: the first failure that is not a consequence of stopping (an abort, a premature
 * close, EPIPE), whichever part reported it.
 */
export async function settleAll(parts: readonly Promise<unknown>[], abort: (error: unknown) => void): Promise<void> {
  const errors: unknown[] = [];
  await Promise.all(
    parts.map((part) =>
      part.catch((error: unknown) => {
        if (errors.length === 0) abort(error);
        errors.push(error);
      }),
    ),
  );
  if (errors.length > 0) throw errors.find((error) => !isConsequential(error)) ?? errors[0];
}

/**
 * Gathers small chunks into blocks of about `size` bytes: a child process's stdin takes fewer,
 * larger writes (fewer system calls and wake-ups of the reader).
 */
export class Coalesce extends Transform {
  #chunks: Buffer[] = [];
  #length = 0;

  constructor(private readonly size = 1 << 20) {
    super({ writableHighWaterMark: size, readableHighWaterMark: size });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    if (this.#length >= this.size) this.#drain();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#length > 0) this.#drain();
    callback();
  }

  #drain(): void {
    this.push(this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#length));
    this.#chunks = [];
    this.#length = 0;
  }
}
