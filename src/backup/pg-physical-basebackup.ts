import { OpsError } from '../core/errors.js';
import { findPgTool } from '../postgres/tools.js';
import type { BlockIndex } from './block-index.js';
import { childStage } from './compression.js';
import { settleAll } from './streams.js';
import { segmentName } from './wal-archive.js';

/** Where a physical backup starts and stops in the WAL. */
export interface WalRange {
  timeline: number;
  startLsn: string;
  stopLsn: string;
  walStart: string;
  walStop: string;
}

/** What the copy needs from the block store (FileCopier in pg-physical.ts). */
export interface ChunkSink {
  addChunks(index: BlockIndex, path: string, chunks: AsyncIterable<Buffer>, mode: number): Promise<void>;
}

export interface BasebackupOptions {
  /** libpq environment naming the server (pgToolEnv). */
  env: NodeJS.ProcessEnv;
  serverMajor: number;
  label: string;
  segmentSize: number;
  sink: ChunkSink;
  index: BlockIndex;
  signal?: AbortSignal;
}

const CHUNK = 1 << 20;

/**
 * For a server whose data directory is not on this host: `pg_basebackup -D - -Ft -X fetch`
 * streams one tar (with backup_label, the WAL from start to stop, and backup_manifest injected)
 * that is read here entry by entry into the same block store as a local copy, so diff/incr
 * store only changed blocks here too (the network still carries everything). The WAL range
 * comes from backup_label and the manifest's WAL-Ranges.
 */
export async function copyFromBasebackup(options: BasebackupOptions): Promise<WalRange> {
  const tool = await findPgTool('pg_basebackup', { env: options.env, minMajor: options.serverMajor });
  const child = childStage(tool.path, ['-D', '-', '-Ft', '-X', 'fetch', '--checkpoint=fast', '--no-password', '-l', options.label], 'pg_basebackup', {
    env: options.env,
  });
  child.input.end();
  const onAbort = () => child.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const texts = new Map<string, string>();
  try {
    await settleAll([readTar(child.output[Symbol.asyncIterator]() as AsyncIterator<Buffer>, options, texts), child.done], () => child.abort());
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  const label = texts.get('backup_label');
  const manifest = texts.get('backup_manifest');
  if (label === undefined || manifest === undefined) throw new OpsError('TOOL_FAILED', 'pg_basebackup produced no backup_label or backup_manifest');
  const start = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)/.exec(label);
  const ranges = (JSON.parse(manifest) as { 'WAL-Ranges'?: { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[] })['WAL-Ranges'];
  const last = ranges?.at(-1);
  if (start === null || last === undefined) throw new OpsError('TOOL_FAILED', 'pg_basebackup: cannot read the WAL range from backup_label and backup_manifest');
  return {
    timeline: last.Timeline,
    startLsn: start[1]!,
    stopLsn: last['End-LSN'],
    walStart: start[2]!,
    walStop: stopSegmentName(last.Timeline, last['End-LSN'], options.segmentSize),
  };
}

/**
 * The WAL segment a backup's stop LSN lies in: the one holding its previous byte, as
 * pg_walfile_name counts (which a standby cannot call during recovery).
 */
export function stopSegmentName(timeline: number, lsn: string, segmentSize: number): string {
  return segmentName(timeline, (lsnValue(lsn) - 1n) / BigInt(segmentSize), segmentSize);
}

function lsnValue(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** Exact-length reads over a stream of chunks (each chunk copied at most once). */
class ByteReader {
  #chunks: Buffer[] = [];
  #length = 0;
  #done = false;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** Exactly n bytes; undefined at a clean end; throws when the stream ends inside them. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.#length < n && !this.#done) {
      const next = await this.source.next();
      if (next.done === true) this.#done = true;
      else {
        this.#chunks.push(next.value);
        this.#length += next.value.length;
      }
    }
    if (this.#length === 0 && this.#done) return undefined;
    if (this.#length < n) throw new OpsError('TOOL_FAILED', 'pg_basebackup: the tar stream ended in the middle of an entry');
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
    const rest = all.subarray(n);
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#length = rest.length;
    return all.subarray(0, n);
  }
}

function field(header: Buffer, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

function octal(header: Buffer, offset: number, length: number): number {
  const text = field(header, offset, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** Reads pg_basebackup's ustar stream: directories into the index, files into the sink. */
async function readTar(source: AsyncIterator<Buffer>, options: BasebackupOptions, texts: Map<string, string>): Promise<void> {
  const reader = new ByteReader(source);
  for (;;) {
    const header = await reader.read(512);
    if (header === undefined || header.every((byte) => byte === 0)) return;
    const prefix = field(header, 345, 155);
    const name = field(header, 0, 100);
    const path = (prefix === '' ? name : `${prefix}/${name}`).replace(/^\.\//, '').replace(/\/+$/, '');
    const mode = octal(header, 100, 8) & 0o7777;
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156]!);
    const padding = (512 - (size % 512)) % 512;
    if (type === '5') {
      options.index.dirs.push({ path, mode });
    } else if (type === '2' && path.startsWith('pg_tblspc/')) {
      throw new OpsError('BACKUP_PG_TABLESPACES', 'the cluster has tablespaces outside the data directory; physical backups do not copy them yet');
    } else if (type === '0' || type === '\0') {
      if (path === 'backup_label' || path === 'backup_manifest') {
        const content = (await reader.read(size)) ?? Buffer.alloc(0);
        texts.set(path, content.toString('utf8'));
        await options.sink.addChunks(options.index, path, once(content), mode);
      } else {
        await options.sink.addChunks(options.index, path, fileChunks(reader, size), mode);
      }
    } else if (size > 0) {
      await reader.read(size);
    }
    if (padding > 0) await reader.read(padding);
  }
}

async function* once(content: Buffer): AsyncGenerator<Buffer> {
  if (content.length > 0) yield content;
}

/** A file's bytes from the tar in CHUNK pieces (block multiples, as addChunks needs). */
async function* fileChunks(reader: ByteReader, size: number): AsyncGenerator<Buffer> {
  for (let left = size; left > 0; ) {
    const chunk = await reader.read(Math.min(CHUNK, left));
    if (chunk === undefined) throw new OpsError('TOOL_FAILED', 'pg_basebackup: the tar stream ended in the middle of a file');
    yield chunk;
    left -= chunk.length;
  }
}
