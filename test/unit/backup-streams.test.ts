import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Coalesce, HashTap, settleAll } from '../../src/backup/streams.js';

function sink(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
}

describe('HashTap', () => {
  it('passes bytes through unchanged while hashing and counting them', async () => {
    const parts = [Buffer.from('abc'), Buffer.from('defg'), Buffer.alloc(0), Buffer.from('h')];
    const tap = new HashTap();
    const out: Buffer[] = [];
    await pipeline(Readable.from(parts), tap, sink(out));
    expect(Buffer.concat(out).toString()).toBe('abcdefgh');
    expect(tap.bytes).toBe(8);
    expect(tap.digest()).toBe(createHash('sha256').update('abcdefgh').digest('hex'));
  });
});

describe('Coalesce', () => {
  it('gathers small chunks into blocks of the given size and keeps every byte in order', async () => {
    const parts = Array.from({ length: 100 }, (_, i) => Buffer.alloc(300, i));
    const out: Buffer[] = [];
    await pipeline(Readable.from(parts), new Coalesce(1000), sink(out));
    expect(out.length).toBeLessThan(40);
    expect(out.slice(0, -1).every((chunk) => chunk.length >= 1000)).toBe(true);
    expect(Buffer.concat(out).equals(Buffer.concat(parts))).toBe(true);
  });
});

describe('settleAll', () => {
  it('aborts the others on the first failure and throws the root cause, not its consequences', async () => {
    const aborted: unknown[] = [];
    const abortError = Object.assign(new Error('stopped'), { name: 'AbortError', code: 'ABORT_ERR' });
    const rootCause = Object.assign(new Error('no space'), { code: 'ENOSPC' });
    const parts = [
      Promise.reject(abortError),
      new Promise((_, reject) => setTimeout(() => reject(rootCause), 5)),
      Promise.resolve('fine'),
    ];
    await expect(settleAll(parts, (error) => aborted.push(error))).rejects.toBe(rootCause);
    expect(aborted).toEqual([abortError]);
  });

  it('resolves when every part succeeds, and throws a lone consequence when nothing else failed', async () => {
    await expect(settleAll([Promise.resolve(1), Promise.resolve(2)], () => undefined)).resolves.toBeUndefined();
    const premature = Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    await expect(settleAll([Promise.reject(premature)], () => undefined)).rejects.toBe(premature);
  });
});
