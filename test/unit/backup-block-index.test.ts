import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backupManifest } from '../../src/backup/pg-physical.js';
import {
  BLOCK_INDEX_FORMAT,
  BLOCK_INDEX_VERSION,
  BLOCK_SIZE,
  BlockLocator,
  ExtentBuilder,
  blockHashOf,
  hashBlock,
  packContentHash,
  parseBlockIndex,
  segmentsIn,
  type BlockIndex,
} from '../../src/backup/block-index.js';

describe('block index', () => {
  it('merges blocks that continue an extent in the same pack, splits where the source changes', () => {
    const backups = ['new'];
    const builder = new ExtentBuilder(backups);
    builder.add('new', 0, BLOCK_SIZE, 100);
    builder.add('new', BLOCK_SIZE, BLOCK_SIZE, 100 + BLOCK_SIZE);
    builder.add('old', 2 * BLOCK_SIZE, BLOCK_SIZE, 0);
    builder.add('old', 3 * BLOCK_SIZE, BLOCK_SIZE, BLOCK_SIZE);
    builder.add('old', 4 * BLOCK_SIZE, 100, 5 * BLOCK_SIZE);
    expect(backups).toEqual(['new', 'old']);
    expect(builder.extents).toEqual([
      [0, 0, 2 * BLOCK_SIZE, 100],
      [1, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE, 0],
      [1, 4 * BLOCK_SIZE, 100, 5 * BLOCK_SIZE],
    ]);
  });

  it('locates every block of a reference file, through extents of several backups', () => {
    const blocks = [Buffer.alloc(BLOCK_SIZE, 1), Buffer.alloc(BLOCK_SIZE, 2), Buffer.alloc(10, 3)];
    const entry = {
      path: 'base/1/1259',
      size: 2 * BLOCK_SIZE + 10,
      mode: 0o600,
      blocks: Buffer.concat(blocks.map(hashBlock)).toString('base64'),
      extents: [
        [1, 0, BLOCK_SIZE, 4096],
        [0, BLOCK_SIZE, BLOCK_SIZE + 10, 0],
      ] as [number, number, number, number][],
    };
    const locator = new BlockLocator(entry, ['incr', 'full']);
    expect(locator.blocks).toBe(3);
    expect(locator.locate(0)).toEqual({ backup: 'full', at: 4096 });
    expect(locator.locate(2)).toEqual({ backup: 'incr', at: BLOCK_SIZE });
    expect(locator.locate(3)).toBeUndefined();
    expect(blockHashOf(locator.hashes, 1).equals(hashBlock(blocks[1]!))).toBe(true);

    const index: BlockIndex = { format: BLOCK_INDEX_FORMAT, version: 1, blockSize: BLOCK_SIZE, backups: ['incr', 'full'], dirs: [], files: [entry, { ...entry, path: 'b', extents: [[0, 0, 5, 9000]] }] };
    expect(segmentsIn(index, 0).map((segment) => [segment.file.path, segment.at])).toEqual([['base/1/1259', 0], ['b', 9000]]);
  });

  it("hashes a pack's block hashes in pack order (its own runs only, a short last block included)", () => {
    const blocks = [Buffer.alloc(BLOCK_SIZE, 1), Buffer.alloc(BLOCK_SIZE, 2), Buffer.alloc(100, 3)];
    const hashes = Buffer.concat(blocks.map((block) => hashBlock(block)));
    const file = (path: string, extents: BlockIndex['files'][number]['extents']) => ({ path, size: 2 * BLOCK_SIZE + 100, mode: 0o600, blocks: hashes.toString('base64'), extents });
    // a: blocks 0–1 from the reference (backup 1), block 2 at pack offset 0; b: all three after it.
    const index: BlockIndex = {
      format: BLOCK_INDEX_FORMAT,
      version: 1,
      blockSize: BLOCK_SIZE,
      backups: ['incr', 'full'],
      dirs: [],
      files: [file('b', [[0, 0, 2 * BLOCK_SIZE + 100, 100]]), file('a', [[1, 0, 2 * BLOCK_SIZE, 0], [0, 2 * BLOCK_SIZE, 100, 0]])],
    };
    const expected = createHash('sha256').update(blockHashOf(hashes, 2)).update(hashes).digest('hex');
    expect(packContentHash(index)).toBe(expected);
    expect(packContentHash(index, 1)).toBe(createHash('sha256').update(hashes.subarray(0, 64)).digest('hex'));
  });

  it('refuses an index of a newer version and a damaged one', () => {
    const newer = BLOCK_INDEX_VERSION + 1;
    expect(() => parseBlockIndex(Buffer.from(JSON.stringify({ format: BLOCK_INDEX_FORMAT, version: newer })), 'i')).toThrow(new RegExp(`version ${newer}`));
    expect(() => parseBlockIndex(Buffer.from('{'), 'i')).toThrow(/not a block index/);
    expect(() => parseBlockIndex(Buffer.from(JSON.stringify({ format: BLOCK_INDEX_FORMAT, version: 1 })), 'i')).toThrow(/damaged/);
  });
});

describe('backup_manifest', () => {
  it('lists every file but WAL with size and SHA-256, the WAL range, and checksums itself as PostgreSQL does', () => {
    const file = (path: string, size: number) => ({ path, size, mode: 0o600, sha256: 'ab'.repeat(32), blocks: '', extents: [] });
    const index: BlockIndex = {
      format: BLOCK_INDEX_FORMAT,
      version: 1,
      blockSize: BLOCK_SIZE,
      backups: ['b'],
      dirs: [],
      files: [file('backup_label', 200), file('base/1/"odd"', 8192), file('pg_wal/000000010000000000000002', 16 << 20)],
    };
    const text = backupManifest(index, { timeline: 1, startLsn: '0/2000028', stopLsn: '0/2000138', walStart: '000000010000000000000002', walStop: '000000010000000000000002' }, Date.UTC(2026, 10, 25));
    const parsed = JSON.parse(text) as { Files: { Path: string; Size: number; 'Last-Modified': string }[]; 'WAL-Ranges': unknown[]; 'Manifest-Checksum': string };
    expect(parsed.Files.map((entry) => entry.Path)).toEqual(['backup_label', 'base/1/"odd"']);
    expect(parsed.Files[0]!['Last-Modified']).toBe('2026-11-25 00:00:00 GMT');
    expect(parsed['WAL-Ranges']).toEqual([{ Timeline: 1, 'Start-LSN': '0/2000028', 'End-LSN': '0/2000138' }]);
    const body = text.slice(0, text.indexOf('"Manifest-Checksum"'));
    expect(parsed['Manifest-Checksum']).toBe(createHash('sha256').update(body).digest('hex'));
  });
});
