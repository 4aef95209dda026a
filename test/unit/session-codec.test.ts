import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SessionCodec, UnreadableValue } from '../../src/session/codec.js';
import { sessionStoreOptions } from '../../src/session/config.js';
import { sessionKeys } from '../../src/session/layout.js';
import { sessionSchema } from '../../src/config/schema.js';
import { rejection } from '../helpers/assertions.js';

describe('session key layout v1', () => {
  it('puts the id and the user in hash tags and escapes the prefix in the SCAN pattern', () => {
    const keys = sessionKeys('app*:');
    expect(keys.session('abc')).toBe('app*:{s:abc}');
    expect(keys.user('42')).toBe('app*:{u:42}');
    expect(keys.sessionPattern).toBe('app\\*:{s:*}');
    expect(keys.idOf('app*:{s:abc}')).toBe('abc');
    expect(keys.idOf('app*:{u:42}')).toBeUndefined();
  });
});

describe('SessionCodec (value format v1)', () => {
  const k1 = { id: 'k1', key: randomBytes(32) };
  const k2 = { id: 'k2', key: randomBytes(32) };

  it('stores plain JSON without keys', () => {
    const codec = new SessionCodec();
    expect(codec.encode('s', 'd:a', '{"x":1}')).toBe('{"x":1}');
    expect(codec.decode('s', 'd:a', '{"x":1}')).toEqual({ x: 1 });
    expect(() => codec.decode('s', 'd:a', '{x')).toThrow(UnreadableValue);
  });

  it('encrypts with the first key, decrypts with any, and binds a value to its session and field', () => {
    const writer = new SessionCodec([k1]);
    const stored = writer.encode('s1', 'd:a', '"secret"');
    expect(stored).toMatch(/^!k1:[A-Za-z0-9_-]+$/);
    expect(writer.encode('s1', 'd:a', '"secret"')).not.toBe(stored);
    const rotated = new SessionCodec([k2, k1]);
    expect(rotated.decode('s1', 'd:a', stored)).toBe('secret');
    expect(rotated.keyIdOf(stored)).toBe('k1');
    expect(() => rotated.decode('s2', 'd:a', stored)).toThrow(/does not decrypt/);
    expect(() => rotated.decode('s1', 'd:b', stored)).toThrow(/does not decrypt/);
    expect(() => new SessionCodec([k2]).decode('s1', 'd:a', stored)).toThrow(/key "k1", which is not configured/);
  });

  it('refuses unusable keys', () => {
    expect(() => new SessionCodec([{ id: 'a:b', key: randomBytes(32) }])).toThrow(/contains ":"/);
    expect(() => new SessionCodec([k1, k1])).toThrow(/given twice/);
    expect(() => new SessionCodec([{ id: 'short', key: randomBytes(16) }])).toThrow(/16 bytes/);
  });
});

describe('session config', () => {
  it('turns the profile section into store options with defaults', async () => {
    const options = await sessionStoreOptions(undefined, 'profiles.t.session');
    expect(options).toMatchObject({ keyPrefix: 'opsctl:sess:', idleTtlMs: 1_800_000, absoluteTtlMs: 604_800_000, maxBytes: 65_536, durability: 'primary' });
    const key = randomBytes(32).toString('base64');
    const encrypted = await sessionStoreOptions(sessionSchema.parse({ idleTtl: '5m', encryption: { keys: [{ id: 'a', key }] } }), 'profiles.t.session');
    expect(encrypted.idleTtlMs).toBe(300_000);
    expect(encrypted.encryptionKeys?.[0]?.key.toString('base64')).toBe(key);
  });

  it('names the config key of a key that is not 32 bytes', async () => {
    const error = await rejection(sessionStoreOptions(sessionSchema.parse({ encryption: { keys: [{ id: 'a', key: 'c2hvcnQ=' }] } }), 'profiles.t.session'));
    expect(error.code).toBe('SESSION_KEY_INVALID');
    expect(error.message).toContain('profiles.t.session.encryption.keys[0]');
  });

  it('requires exactly one of key and keyFile', () => {
    expect(sessionSchema.safeParse({ encryption: { keys: [{ id: 'a' }] } }).success).toBe(false);
  });
});
