/**
 * Redaction at the source: anything that may reach output, logs, audit entries or error
 * messages passes through here first.
 */
export const REDACTED = '****';

const SECRET_KEY = /(pass(word|phrase)?|secret|token|credential|private[-_]?key|api[-_]?key|^key$)/i;

/** True when an object key names a secret (`password`, `apiKey`, `token`, …). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

// scheme://user:password@host — keep the user (useful when debugging ACLs), hide the password.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]*):([^@/\s]+)@/gi;

/** Hides the password of every `scheme://user:password@` URL inside a string. */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`);
}

/**
 * Deep copy of `value` with secret-named keys replaced by `****` and credentials removed from
 * URL strings. `${env:NAME}` references are not secrets (the name is not the value) and are kept.
 */
export function redactValue<T>(value: T): T {
  return redactInner(value, undefined) as T;
}

function redactInner(value: unknown, key: string | undefined): unknown {
  if (typeof value === 'string') {
    if (key !== undefined && isSecretKey(key) && value !== '' && !/^\$\{env:[^}]+\}$/.test(value)) {
      return REDACTED;
    }
    return redactUrlCredentials(value);
  }
  if (Array.isArray(value)) return value.map((item) => redactInner(item, key));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactInner(v, k);
    return out;
  }
  return value;
}

/**
 * Known secret values (passwords read from the environment or the config file). A string
 * passed through `redact()` has every registered secret replaced, wherever it appears: an
 * error message from a driver, a child process's stderr, a debug trace.
 */
export class SecretRegistry {
  readonly #secrets = new Set<string>();

  add(secret: string | undefined | null): void {
    // Very short values would blank out ordinary words; they are not plausible secrets anyway.
    if (secret !== undefined && secret !== null && secret.length >= 4) this.#secrets.add(secret);
  }

  redact(text: string): string {
    let out = redactUrlCredentials(text);
    for (const secret of this.#secrets) out = out.split(secret).join(REDACTED);
    return out;
  }
}

/** The process-wide registry the CLI fills from the loaded profile. */
export const secrets = new SecretRegistry();
