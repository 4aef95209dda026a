/**
 * Session keys (docs/sessions.md). Every key carries a hash tag, so in a Redis Cluster a session
 * lives in the slot of `{s:<id>}` and a user index in the slot of `{u:<user>}`: one command or
 * script never needs keys of two slots.
 *
 *   <prefix>{s:<id>}    string layout 2: `2:<revision>:<created>:<expires>:<user>:<body>` (value.ts)
 *                       hash   layout 1: _v format version, _c created ms, _e absolute expiry ms,
 *                              _b bytes counted, _u user; d:<name> one data field each
 *   <prefix>{u:<user>}  zset   member session id, score = upper bound of its absolute expiry
 */
export const LAYOUT_VERSION = 2;

/** Value of the `_v` field of a layout 1 hash: the format of the hash and of its values. */
export const FORMAT_VERSION = '1';

export const META = {
  version: '_v',
  createdAt: '_c',
  expiresAt: '_e',
  bytes: '_b',
  user: '_u',
} as const;

/** Layout 1 data fields are stored as `d:<name>`, apart from the metadata. */
export const DATA_PREFIX = 'd:';

export interface SessionKeys {
  readonly prefix: string;
  session(id: string): string;
  user(user: string): string;
  /** SCAN MATCH pattern of every session hash. */
  readonly sessionPattern: string;
  /** The session id of a key matched by `sessionPattern`, or undefined for another key. */
  idOf(key: string): string | undefined;
}

export function sessionKeys(prefix: string): SessionKeys {
  const sessionStart = `${prefix}{s:`;
  return {
    prefix,
    session: (id) => `${sessionStart}${id}}`,
    user: (user) => `${prefix}{u:${user}}`,
    sessionPattern: `${escapeGlob(sessionStart)}*}`,
    idOf: (key) => (key.startsWith(sessionStart) && key.endsWith('}') ? key.slice(sessionStart.length, -1) : undefined),
  };
}

/** Escapes the characters SCAN MATCH treats as a pattern. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
