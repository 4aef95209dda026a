import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { OpsError } from '../core/errors.js';

/** One AES-256-GCM key: `id` is stored beside each value it encrypts. */
export interface SessionKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

/** Why a stored value could not be turned back into data. */
export type UnreadableReason = 'version' | 'corrupt' | 'unknown-key' | 'decrypt';

/** Thrown inside the codec and caught by the store, which counts it and treats the session as absent. */
export class UnreadableValue extends Error {
  constructor(readonly reason: UnreadableReason, message: string) {
    super(message);
    this.name = 'UnreadableValue';
  }
}

// JSON text never starts with '!', so a plain value and an encrypted one cannot be confused.
const ENCRYPTED_MARK = '!';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Turns data values into stored field values and back (value format v1): JSON text, or, with
 * keys, `!<keyId>:<base64url(iv | tag | ciphertext)>` (AES-256-GCM over the JSON text, the
 * session id and field name as additional data so a value cannot be moved to another session).
 */
export class SessionCodec {
  readonly #keys: readonly SessionKey[];
  readonly #byId: ReadonlyMap<string, Buffer>;

  constructor(keys: readonly SessionKey[] = []) {
    const byId = new Map<string, Buffer>();
    for (const { id, key } of keys) {
      if (id.length === 0 || id.includes(':')) throw keyError(`the session encryption key id "${id}" is empty or contains ":"`);
      if (byId.has(id)) throw keyError(`the session encryption key id "${id}" is given twice`);
      if (key.length !== 32) throw keyError(`the session encryption key "${id}" is ${key.length} bytes; AES-256 needs 32`);
      byId.set(id, key);
    }
    this.#keys = keys;
    this.#byId = byId;
  }

  get encrypting(): boolean {
    return this.#keys.length > 0;
  }

  /** Whether a stored value is in the encrypted form (JSON text never starts with the mark). */
  encrypted(stored: string): boolean {
    return stored.startsWith(ENCRYPTED_MARK);
  }

  /** Id of the key new values are encrypted with. */
  get currentKeyId(): string | undefined {
    return this.#keys[0]?.id;
  }

  encode(sessionId: string, field: string, json: string): string {
    const current = this.#keys[0];
    if (current === undefined) return json;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv);
    cipher.setAAD(Buffer.from(`${sessionId}\n${field}`));
    const body = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()]);
    return `${ENCRYPTED_MARK}${current.id}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** The JSON text of a stored value; `what` names it in errors. */
  decodeText(sessionId: string, field: string, stored: string, what = `field "${field}"`): string {
    if (!stored.startsWith(ENCRYPTED_MARK)) return stored;
    const colon = stored.indexOf(':');
    const keyId = stored.slice(1, colon);
    const key = this.#byId.get(keyId);
    if (colon < 0 || key === undefined) throw new UnreadableValue('unknown-key', `${what} is encrypted with key "${keyId}", which is not configured`);
    const raw = Buffer.from(stored.slice(colon + 1), 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(`${sessionId}\n${field}`));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new UnreadableValue('decrypt', `${what} does not decrypt with key "${keyId}" (altered, or the key changed under the same id)`);
    }
  }

  decode(sessionId: string, field: string, stored: string): unknown {
    const text = this.decodeText(sessionId, field, stored);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new UnreadableValue('corrupt', `field "${field}" is not valid JSON`);
    }
  }

  /** Id of the key a stored value is encrypted with (undefined for plain JSON). */
  keyIdOf(stored: string): string | undefined {
    return stored.startsWith(ENCRYPTED_MARK) ? stored.slice(1, stored.indexOf(':')) : undefined;
  }
}

function keyError(message: string): OpsError {
  return new OpsError('SESSION_KEY_INVALID', message, { hint: 'Generate a key with `openssl rand -base64 32`; ids are short, unique and without ":".' });
}
