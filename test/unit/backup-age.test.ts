import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ageDecryptBuffer,
  ageEncryptBuffer,
  formatIdentityFile,
  generateIdentity,
  isRecipient,
  keyIdOf,
  parseIdentityFile,
} from '../../src/backup/age.js';
import { bech32Decode, bech32Encode } from '../../src/backup/bech32.js';
import { OpsError } from '../../src/core/errors.js';
import { hasProgram } from '../helpers/programs.js';

const hasAge = hasProgram('age');

const dir = mkdtempSync(join(tmpdir(), 'opsctl-age-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Sizes around the 64 KiB chunk boundary: empty, partial, exactly one/two chunks, one byte over.
const SIZES = [0, 1, 65_535, 65_536, 65_537, 131_072, 200_001];

describe('bech32', () => {
  it('round-trips and rejects a changed character', () => {
    const data = randomBytes(32);
    const text = bech32Encode('age', data);
    expect(bech32Decode(text)?.data.equals(data)).toBe(true);
    const flipped = `${text.slice(0, -1)}${text.endsWith('q') ? 'p' : 'q'}`;
    expect(bech32Decode(flipped)).toBeUndefined();
  });
});

describe('age keys', () => {
  it('generates an identity whose recipient parses back from the key file', () => {
    const key = generateIdentity();
    expect(key.identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]+$/);
    expect(isRecipient(key.recipient)).toBe(true);
    const parsed = parseIdentityFile(formatIdentityFile(key, new Date(0)), 'key.txt');
    expect(parsed).toEqual([key]);
    expect(keyIdOf(key.recipient)).toMatch(/^k-[0-9a-f]{16}$/);
  });

  it('rejects a file that is not an identity without quoting it', () => {
    const error = (() => {
      try {
        parseIdentityFile('# comment\nsecret-looking-text\n', 'key.txt');
      } catch (caught) {
        return caught as OpsError;
      }
      return undefined;
    })();
    expect(error?.code).toBe('BACKUP_KEY_INVALID');
    expect(error?.message).not.toContain('secret-looking-text');
  });
});

describe('age encryption (node:crypto)', () => {
  it.each(SIZES)('round-trips %i bytes', async (size) => {
    const key = generateIdentity();
    const plaintext = randomBytes(size);
    const file = await ageEncryptBuffer(plaintext, [key.recipient]);
    expect((await ageDecryptBuffer(file, [key.identity])).equals(plaintext)).toBe(true);
  });

  it('fails with BACKUP_WRONG_KEY for another key', async () => {
    const file = await ageEncryptBuffer(Buffer.from('hello'), [generateIdentity().recipient]);
    await expect(ageDecryptBuffer(file, [generateIdentity().identity])).rejects.toMatchObject({ code: 'BACKUP_WRONG_KEY' });
  });

  it('detects a flipped payload byte and a truncation at a chunk boundary', async () => {
    const key = generateIdentity();
    const file = await ageEncryptBuffer(randomBytes(200_000), [key.recipient]);
    const flipped = Buffer.from(file);
    flipped[flipped.length - 100]! ^= 1;
    await expect(ageDecryptBuffer(flipped, [key.identity])).rejects.toMatchObject({ code: 'BACKUP_DECRYPT_FAILED' });
    const headerLength = file.indexOf('\n', file.indexOf('---')) + 1 + 16;
    const cut = file.subarray(0, headerLength + (64 * 1024 + 16) * 2);
    await expect(ageDecryptBuffer(cut, [key.identity])).rejects.toMatchObject({ code: 'BACKUP_DECRYPT_FAILED' });
  });

  it('detects an altered header', async () => {
    const key = generateIdentity();
    const file = await ageEncryptBuffer(Buffer.from('data'), [key.recipient, generateIdentity().recipient]);
    const text = file.toString('latin1').replace(/-> X25519 /, '-> X25519  ');
    await expect(ageDecryptBuffer(Buffer.from(text, 'latin1'), [key.identity])).rejects.toBeInstanceOf(OpsError);
  });
});

describe.skipIf(!hasAge)('interoperability with the age binary', () => {
  it.each(SIZES)('age -d opens what opsctl wrote, opsctl opens what age -e wrote (%i bytes)', async (size) => {
    const key = generateIdentity();
    const keyFile = join(dir, `key-${size}.txt`);
    writeFileSync(keyFile, formatIdentityFile(key, new Date()), { mode: 0o600 });
    const plaintext = randomBytes(size);
    const ours = await ageEncryptBuffer(plaintext, [key.recipient]);
    const decrypted = execFileSync('age', ['-d', '-i', keyFile], { input: ours, maxBuffer: 1 << 30 });
    expect(decrypted.equals(plaintext)).toBe(true);
    const theirs = execFileSync('age', ['-e', '-r', key.recipient], { input: plaintext, maxBuffer: 1 << 30 });
    expect((await ageDecryptBuffer(theirs, [key.identity])).equals(plaintext)).toBe(true);
  });

  it('age-keygen derives the same recipient, and age -d refuses another key', async () => {
    const key = generateIdentity();
    const keyFile = join(dir, 'keygen.txt');
    writeFileSync(keyFile, formatIdentityFile(key, new Date()), { mode: 0o600 });
    expect(execFileSync('age-keygen', ['-y', keyFile]).toString().trim()).toBe(key.recipient);
    const other = await ageEncryptBuffer(Buffer.from('x'), [generateIdentity().recipient]);
    expect(() => execFileSync('age', ['-d', '-i', keyFile], { input: other, stdio: ['pipe', 'pipe', 'pipe'] })).toThrow();
  });
});
