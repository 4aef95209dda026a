import { REDACTED } from '../core/redact.js';

/** How much of a command `--debug` shows: enough to recognise it, never a whole payload. */
const MAX_ARGS = 8;
const MAX_ARG_LENGTH = 48;

// Arguments that carry a credential wherever they appear (CONFIG SET, SENTINEL SET, …).
const SECRET_OPTION = /^(requirepass|masterauth|auth-pass|sentinel-pass|tls-key-file-pass|tls-client-key-file-pass)$/i;

/**
 * The arguments of a Redis command with every credential replaced by `****`: AUTH, HELLO …
 * AUTH, MIGRATE … AUTH/AUTH2, ACL SETUSER >password / #hash, and CONFIG/SENTINEL SET of a
 * password option.
 */
export function redactCommandArgs(name: string, args: readonly unknown[]): unknown[] {
  const out = [...args];
  const word = (index: number) => (typeof out[index] === 'string' ? (out[index] as string) : String(out[index] ?? ''));
  switch (name.toLowerCase()) {
    case 'auth':
      // AUTH password | AUTH username password: the user is useful when debugging ACLs.
      if (out.length > 0) out[out.length - 1] = REDACTED;
      return out;
    case 'hello':
      for (let i = 0; i < out.length; i += 1) {
        if (word(i).toUpperCase() === 'AUTH' && i + 2 < out.length) out[i + 2] = REDACTED;
      }
      return out;
    case 'migrate':
      for (let i = 0; i < out.length; i += 1) {
        const upper = word(i).toUpperCase();
        if (upper === 'AUTH' && i + 1 < out.length) out[i + 1] = REDACTED;
        if (upper === 'AUTH2' && i + 2 < out.length) out[i + 2] = REDACTED;
      }
      return out;
    case 'acl':
      if (word(0).toUpperCase() === 'SETUSER') {
        for (let i = 2; i < out.length; i += 1) {
          if (/^[><#!]/.test(word(i))) out[i] = `${word(i)[0]}${REDACTED}`;
        }
      }
      return out;
    default:
      for (let i = 0; i + 1 < out.length; i += 1) {
        if (SECRET_OPTION.test(word(i))) out[i + 1] = REDACTED;
      }
      return out;
  }
}

/** `GET opsctl:key`, `SET opsctl:k "a long val…" EX 60`, `AUTH alice ****`: one trace line. */
export function describeCommand(name: string, args: readonly unknown[]): string {
  const shown = redactCommandArgs(name, args).slice(0, MAX_ARGS).map(formatArg);
  const more = args.length > MAX_ARGS ? ` … (+${args.length - MAX_ARGS} more)` : '';
  return [name.toUpperCase(), ...shown].join(' ') + more;
}

function formatArg(value: unknown): string {
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  const text = typeof value === 'string' ? value : String(value);
  const clipped = text.length > MAX_ARG_LENGTH ? `${text.slice(0, MAX_ARG_LENGTH)}…` : text;
  return /[\s"]/.test(clipped) || clipped === '' ? JSON.stringify(clipped) : clipped;
}
