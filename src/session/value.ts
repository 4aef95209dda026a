import { UnreadableValue } from './codec.js';
import { LAYOUT_VERSION } from './layout.js';

/**
 * Session value layout 2 (docs/sessions.md): the whole session in ONE Redis string, read with
 * one GET and written with one SET, metadata in a short text header before the data:
 *
 *   2:<revision>:<createdAt ms>:<expiresAt ms>:<encodeURIComponent(user)>:<body>
 *
 * `revision` grows by one with every write and is what a save compares (session-save.lua), so
 * two requests that loaded the same revision cannot both write blindly. `user` is empty for an
 * anonymous session. `body` is the data's JSON text, or with encryption
 * `!<keyId>:<base64url(iv | tag | ciphertext)>` whose additional data binds it to the session
 * id and the header (see `bodyContext`).
 */
export const VALUE_LAYOUT = String(LAYOUT_VERSION);

export interface SessionHeader {
  revision: number;
  createdAt: number;
  expiresAt: number;
  user: string | undefined;
}

/** A value split into its header and its stored body. */
export interface ParsedValue extends SessionHeader {
  body: string;
}

/** The string stored for a session. */
export function formatValue(header: SessionHeader, body: string): string {
  const user = header.user === undefined ? '' : encodeURIComponent(header.user);
  return `${VALUE_LAYOUT}:${header.revision}:${header.createdAt}:${header.expiresAt}:${user}:${body}`;
}

/** The header and body of a stored value; throws UnreadableValue for another layout or a broken header. */
export function parseValue(value: string): ParsedValue {
  if (!value.startsWith(`${VALUE_LAYOUT}:`)) {
    throw new UnreadableValue('version', `format version ${layoutOf(value) ?? '(none)'} is not ${VALUE_LAYOUT}`);
  }
  const ends: number[] = [];
  let at = VALUE_LAYOUT.length;
  for (let i = 0; i < 4; i += 1) {
    at = value.indexOf(':', at + 1);
    if (at < 0) throw new UnreadableValue('corrupt', 'the session header is incomplete');
    ends.push(at);
  }
  const [revisionEnd, createdEnd, expiresEnd, userEnd] = ends as [number, number, number, number];
  const revision = Number(value.slice(VALUE_LAYOUT.length + 1, revisionEnd));
  const createdAt = Number(value.slice(revisionEnd + 1, createdEnd));
  const expiresAt = Number(value.slice(createdEnd + 1, expiresEnd));
  if (!Number.isSafeInteger(revision) || !Number.isSafeInteger(createdAt) || !Number.isSafeInteger(expiresAt)) {
    throw new UnreadableValue('corrupt', 'the session header has a field that is not a number');
  }
  const rawUser = value.slice(expiresEnd + 1, userEnd);
  let user: string | undefined;
  try {
    user = rawUser === '' ? undefined : rawUser.includes('%') ? decodeURIComponent(rawUser) : rawUser;
  } catch {
    throw new UnreadableValue('corrupt', 'the session header has a malformed user');
  }
  return { revision, createdAt, expiresAt, user, body: value.slice(userEnd + 1) };
}

/** The layout number a value starts with (`<digits>:`), if any. */
export function layoutOf(value: string): string | undefined {
  return /^(\d+):/.exec(value)?.[1];
}

/**
 * What an encrypted body is bound to besides the session id: the creation time, lifetime and
 * user, so a body cannot be moved under another header. The revision is left out: a header
 * whose revision alone changes (a compare-and-set) still decrypts.
 */
export function bodyContext(header: SessionHeader): string {
  return `2|${header.createdAt}|${header.expiresAt}|${header.user ?? ''}`;
}
