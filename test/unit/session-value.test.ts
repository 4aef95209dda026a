import { describe, expect, it } from 'vitest';
import { UnreadableValue } from '../../src/session/codec.js';
import { bodyContext, formatValue, parseValue } from '../../src/session/value.js';

describe('session value layout 2', () => {
  const header = { revision: 3, createdAt: 1_000, expiresAt: 2_000, user: 'alice' };

  it('writes the documented header and reads it back', () => {
    const value = formatValue(header, '{"a":1}');
    expect(value).toBe('2:3:1000:2000:alice:{"a":1}');
    expect(parseValue(value)).toEqual({ ...header, body: '{"a":1}' });
  });

  it('percent-encodes a user with separators or non-ASCII, and leaves an anonymous user empty', () => {
    const odd = { ...header, user: 'a:b%c ü' };
    const value = formatValue(odd, '{}');
    expect(value).toBe('2:3:1000:2000:a%3Ab%25c%20%C3%BC:{}');
    expect(parseValue(value).user).toBe('a:b%c ü');
    expect(parseValue(formatValue({ ...header, user: undefined }, '{"x":":"}'))).toEqual({ ...header, user: undefined, body: '{"x":":"}' });
  });

  it('refuses another layout as "version" and a broken header as "corrupt"', () => {
    const reason = (value: string) => {
      try {
        parseValue(value);
      } catch (error) {
        return error instanceof UnreadableValue ? `${error.reason}: ${error.message}` : String(error);
      }
      return 'parsed';
    };
    expect(reason('9:1:1:1::{}')).toBe('version: format version 9 is not 2');
    expect(reason('{"legacy":true}')).toMatch(/^version: format version \(none\)/);
    expect(reason('2:1:1000')).toBe('corrupt: the session header is incomplete');
    expect(reason('2:x:1:1::{}')).toMatch(/^corrupt: .*not a number/);
    expect(reason('2:1:1:1:%E0%A4%A:{}')).toMatch(/^corrupt: .*malformed user/);
  });

  it('binds an encrypted body to lifetime and user, not to the revision', () => {
    expect(bodyContext(header)).toBe(bodyContext({ ...header, revision: 9 }));
    expect(bodyContext(header)).not.toBe(bodyContext({ ...header, user: 'bob' }));
    expect(bodyContext(header)).not.toBe(bodyContext({ ...header, expiresAt: 3_000 }));
  });
});
