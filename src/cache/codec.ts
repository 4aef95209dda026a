import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { OpsError } from '../core/errors.js';

/**
 * Cache entry format, version 1 (docs/cache.md). One Redis string:
 *
 *   byte 0       format version (1)
 *   byte 1       flags: bit 0 = body deflated (raw DEFLATE)
 *   bytes 2-9    fresh until, epoch ms, float64 big-endian (after it the entry is stale)
 *   bytes 10-13  fill cost in microseconds, uint32 big-endian (XFetch's delta)
 *   bytes 14-    body: UTF-8 JSON {"m": meta, "c": column codecs, "r": rows}
 *
 * Rows are stored as pg returns them (objects), so a hit is one JSON.parse plus a pass over the
 * few columns whose JavaScript type JSON cannot carry: Date ("d", epoch ms as a string), Buffer ("b",
 * base64), BigInt ("n", decimal string) and arrays/objects holding those ("x", tagged). Numeric
 * and int8 values stay the strings pg gives; json/jsonb stay parsed.
 */
export const ENTRY_FORMAT_VERSION = 1;
const HEADER_BYTES = 14;
const FLAG_DEFLATED = 1;

export interface EntryMeta {
  /** Namespace. */
  ns: string;
  /** Statement fingerprint (stats id). */
  fp: string;
  tags: string[];
  /** Filled at, epoch ms. */
  at: number;
}

export interface EntryHeader {
  version: number;
  deflated: boolean;
  freshUntil: number;
  computeMicros: number;
}

export interface DecodedEntry<Row = Record<string, unknown>> {
  header: EntryHeader;
  meta: EntryMeta;
  rows: Row[];
  /** Stored bytes (after compression). */
  bytes: number;
}

type Codec = 'd' | 'b' | 'n' | 'x';

function codecOf(value: unknown): Codec | undefined {
  if (value instanceof Date) return 'd';
  if (Buffer.isBuffer(value)) return 'b';
  if (typeof value === 'bigint') return 'n';
  if (Array.isArray(value) && value.some((item) => codecOf(item) !== undefined || Array.isArray(item))) return 'x';
  return undefined;
}

function tag(value: unknown): unknown {
  if (value instanceof Date) return { $d: value.getTime() };
  if (Buffer.isBuffer(value)) return { $b: value.toString('base64') };
  if (typeof value === 'bigint') return { $n: value.toString() };
  if (Array.isArray(value)) return value.map(tag);
  return value;
}

function untag(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untag);
  if (value !== null && typeof value === 'object') {
    const object = value as { $d?: number; $b?: string; $n?: string };
    if (object.$d !== undefined) return new Date(object.$d);
    if (object.$b !== undefined) return Buffer.from(object.$b, 'base64');
    if (object.$n !== undefined) return BigInt(object.$n);
  }
  return value;
}

function encodeValue(codec: Codec, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  switch (codec) {
    // A string, not a number: replacing a string field with a Date keeps the row objects'
    // shape (a number field would be generalised on every parse, which costs more than the parse).
    case 'd': return String((value as Date).getTime());
    case 'b': return (value as Buffer).toString('base64');
    case 'n': return String(value);
    case 'x': return tag(value);
  }
}

function decodeValue(codec: Codec, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  switch (codec) {
    case 'd': return new Date(Number(value));
    case 'b': return Buffer.from(value as string, 'base64');
    case 'n': return BigInt(value as string);
    case 'x': return untag(value);
  }
}

/** The columns whose values need a codec, found from the first non-null value of each. */
function findCodecs(rows: readonly Record<string, unknown>[]): Record<string, Codec> {
  const codecs: Record<string, Codec> = {};
  const first = rows[0];
  if (first === undefined) return codecs;
  for (const column of Object.keys(first)) {
    const sample = rows.find((row) => row[column] !== null && row[column] !== undefined)?.[column];
    const codec = codecOf(sample);
    if (codec !== undefined) codecs[column] = codec;
  }
  return codecs;
}

export interface EncodeOptions {
  freshUntil: number;
  computeMicros: number;
  /** Deflate bodies larger than this many bytes. */
  compressAbove: number;
}

export function encodeEntry(meta: EntryMeta, rows: readonly Record<string, unknown>[], options: EncodeOptions): Buffer {
  const codecs = findCodecs(rows);
  const columns = Object.entries(codecs);
  const stored =
    columns.length === 0
      ? rows
      : rows.map((row) => {
          const copy = { ...row };
          for (const [column, codec] of columns) copy[column] = encodeValue(codec, copy[column]);
          return copy;
        });
  let body = Buffer.from(JSON.stringify({ m: meta, c: codecs, r: stored }), 'utf8');
  let flags = 0;
  if (body.length > options.compressAbove) {
    body = deflateRawSync(body);
    flags |= FLAG_DEFLATED;
  }
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header[0] = ENTRY_FORMAT_VERSION;
  header[1] = flags;
  header.writeDoubleBE(options.freshUntil, 2);
  header.writeUInt32BE(Math.min(Math.max(0, Math.round(options.computeMicros)), 0xffffffff), 10);
  return Buffer.concat([header, body]);
}

export function decodeHeader(value: Buffer): EntryHeader {
  if (value.length < HEADER_BYTES || value[0] !== ENTRY_FORMAT_VERSION) {
    throw new OpsError('CACHE_ENTRY_CORRUPT', `cache entry has format ${value.length === 0 ? 'empty' : String(value[0])}, expected ${ENTRY_FORMAT_VERSION}`, {
      hint: 'invalidate the key; the next query fills it again',
    });
  }
  return {
    version: value[0]!,
    deflated: (value[1]! & FLAG_DEFLATED) !== 0,
    freshUntil: value.readDoubleBE(2),
    computeMicros: value.readUInt32BE(10),
  };
}

export function decodeEntry<Row = Record<string, unknown>>(value: Buffer): DecodedEntry<Row> {
  const header = decodeHeader(value);
  const body = header.deflated ? inflateRawSync(value.subarray(HEADER_BYTES)).toString('utf8') : value.toString('utf8', HEADER_BYTES);
  let parsed: { m: EntryMeta; c: Record<string, Codec>; r: Record<string, unknown>[] };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch (error) {
    throw new OpsError('CACHE_ENTRY_CORRUPT', 'cache entry body is not valid JSON', { hint: 'invalidate the key; the next query fills it again', cause: error });
  }
  for (const column in parsed.c) {
    const codec = parsed.c[column]!;
    for (const row of parsed.r) row[column] = decodeValue(codec, row[column]);
  }
  return { header, meta: parsed.m, rows: parsed.r as Row[], bytes: value.length };
}
