import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { BLOCK_SIZE, blockCount, hashBlock } from './block-index.js';

/**
 * Files whose first chunk is shorter than this (so the whole file is) are hashed on the calling
 * thread: two round trips to the worker cost more than hashing a few blocks (most of a
 * cluster's files are a few blocks long: catalogs, free space and visibility maps).
 */
const INLINE_BELOW = 128 * 1024;

/**
 * The worker's code (CommonJS, evaluated: no separate file to locate from src/ or dist/). For
 * each chunk it returns the SHA-256 of every block and feeds the running hash of the whole file;
 * a message without data ends the file and returns that hash. Shared buffers are sent once
 * (`share`) and then named by number: posting a shared view each time cost ~0.7 ms per chunk.
 */
const WORKER_CODE = `
const { parentPort } = require('node:worker_threads');
const { createHash, hash } = require('node:crypto');
const BLOCK = ${BLOCK_SIZE};
let whole = createHash('sha256');
const shared = [];
parentPort.on('message', ({ share, buffer, length, data: sent }) => {
  if (share !== undefined) return void shared.push(...share.map((memory) => new Uint8Array(memory)));
  const data = buffer === undefined ? sent : shared[buffer].subarray(0, length);
  if (data === undefined) {
    parentPort.postMessage({ digest: whole.digest('hex') });
    whole = createHash('sha256');
    return;
  }
  whole.update(data);
  const count = Math.ceil(data.length / BLOCK);
  const hashes = new Uint8Array(count * 32);
  for (let n = 0; n < count; n += 1) hashes.set(hash('sha256', data.subarray(n * BLOCK, (n + 1) * BLOCK), 'buffer'), n * 32);
  parentPort.postMessage({ hashes }, [hashes.buffer]);
});
`;

/**
 * SHA-256 of every 8 KiB block and of whole files, on a worker thread: the main thread reads and
 * feeds the compressor meanwhile (two passes of SHA-256 over every byte were a third of its
 * time). Files are hashed one after the other: chunks of a file, then `endFile`.
 */
export class BlockHasher {
  readonly #worker = new Worker(WORKER_CODE, { eval: true });
  readonly #shared = new Map<ArrayBufferLike, number>();
  readonly #waiting: { resolve(value: { hashes?: Uint8Array; digest?: string }): void; reject(error: unknown): void }[] = [];
  #failure: unknown;
  /** Whether the current file has had a chunk, and its whole-file hash when hashed here. */
  #started = false;
  #inline: Hash | undefined;

  constructor() {
    this.#worker.on('message', (message: { hashes?: Uint8Array; digest?: string }) => this.#waiting.shift()?.resolve(message));
    const fail = (error: unknown) => {
      this.#failure ??= error;
      for (const waiter of this.#waiting.splice(0)) waiter.reject(error);
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`block hasher exited (${code})`)));
  }

  /** Lets the worker read these buffers in place (hashChunk of a view starting at their start). */
  share(buffers: readonly Buffer[]): void {
    const memory = buffers.map((buffer) => buffer.buffer as SharedArrayBuffer);
    for (const entry of memory) this.#shared.set(entry, this.#shared.size);
    this.#worker.postMessage({ share: memory });
  }

  /** The concatenated SHA-256 of each block of `data` (a chunk of the current file). */
  async hashChunk(data: Buffer): Promise<Buffer> {
    if (!this.#started) {
      this.#started = true;
      if (data.length < INLINE_BELOW) this.#inline = createHash('sha256');
    }
    if (this.#inline !== undefined) {
      this.#inline.update(data);
      const hashes = Buffer.allocUnsafe(blockCount(data.length) * 32);
      for (let at = 0; at < data.length; at += BLOCK_SIZE) hashBlock(data.subarray(at, at + BLOCK_SIZE)).copy(hashes, (at / BLOCK_SIZE) * 32);
      return hashes;
    }
    const buffer = data.byteOffset === 0 ? this.#shared.get(data.buffer) : undefined;
    // Anything but a shared buffer is copied once and moved to the worker.
    const copy = buffer === undefined ? new Uint8Array(data) : undefined;
    const { hashes } = await this.#ask(copy === undefined ? { buffer, length: data.length } : { data: copy }, copy === undefined ? [] : [copy.buffer]);
    return Buffer.from(hashes!.buffer, hashes!.byteOffset, hashes!.byteLength);
  }

  /** The SHA-256 (hex) of all chunks since the previous file ended. */
  async endFile(): Promise<string> {
    const inline = this.#started ? this.#inline : createHash('sha256');
    this.#started = false;
    this.#inline = undefined;
    if (inline !== undefined) return inline.digest('hex');
    return (await this.#ask({}, [])).digest!;
  }

  async close(): Promise<void> {
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }

  #ask(message: { data?: Uint8Array; buffer?: number; length?: number }, transfer: ArrayBuffer[]): Promise<{ hashes?: Uint8Array; digest?: string }> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#worker.postMessage(message, transfer);
    });
  }
}

/**
 * A fixed set of equal buffers in shared memory, handed out and given back: reading a cluster
 * in fresh 1 MiB buffers made the collector run a mark-compact every few MiB (external memory),
 * and shared memory lets the hashing worker read them without a copy.
 */
export class BufferPool {
  readonly #free: Buffer[] = [];
  /** Every buffer of the pool, whole. */
  readonly buffers: readonly Buffer[];
  readonly #owned = new Set<ArrayBufferLike>();
  readonly #waiting: ((buffer: Buffer) => void)[] = [];

  constructor(
    count: number,
    readonly size: number,
  ) {
    this.buffers = Array.from({ length: count }, () => Buffer.from(new SharedArrayBuffer(size)));
    for (const buffer of this.buffers) this.#owned.add(buffer.buffer);
    this.#free.push(...this.buffers);
  }

  /** A whole buffer, waiting for one to be released when all are in use. */
  acquire(): Promise<Buffer> {
    const buffer = this.#free.pop();
    if (buffer !== undefined) return Promise.resolve(buffer);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Gives back the buffer `view` lies in; views of other memory are ignored. */
  release(view: Buffer): void {
    if (!this.#owned.has(view.buffer)) return;
    const buffer = Buffer.from(view.buffer, 0, this.size);
    const waiter = this.#waiting.shift();
    if (waiter === undefined) this.#free.push(buffer);
    else waiter(buffer);
  }
}
