import { isSecretKey, type SecretRegistry } from '../core/redact.js';
import { isPlainObject, type PathSegment } from './paths.js';

/** One `${env:NAME}` in the configuration. */
export interface EnvReference {
  /** Key path of the string that holds the reference. */
  path: PathSegment[];
  variable: string;
  /** False when the variable is missing from the environment (the text stays literal). */
  set: boolean;
  /** False when NAME is not a valid variable name (`${env:}`, `${env:A-B}`). */
  valid: boolean;
}

export interface Interpolated {
  value: unknown;
  references: EnvReference[];
}

// `$${env:NAME}` is the escape for a literal `${env:NAME}`; the optional leading `$` is captured
// so one pass handles both.
const REFERENCE = /(\$?)\$\{env:([^}]*)\}/g;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replaces every `${env:NAME}` in every string value with the variable's value. A reference to
 * an unset variable is left as written and reported (`set: false`), so that one profile's
 * missing secrets do not stop another profile from loading; `selectProfile` refuses a profile
 * that still has one. A set but empty variable counts as set.
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: PathSegment[] = []): Interpolated {
  const references: EnvReference[] = [];
  const visit = (node: unknown, at: PathSegment[]): unknown => {
    if (typeof node === 'string') return interpolateString(node, env, at, references);
    if (Array.isArray(node)) return node.map((item, i) => visit(item, [...at, i]));
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(node)) out[key] = visit(item, [...at, key]);
      return out;
    }
    return node;
  };
  return { value: visit(value, path), references };
}

function interpolateString(text: string, env: NodeJS.ProcessEnv, path: PathSegment[], references: EnvReference[]): string {
  return text.replace(REFERENCE, (whole, escape: string, variable: string) => {
    if (escape === '$') return whole.slice(1);
    const valid = VARIABLE_NAME.test(variable);
    const resolved = valid ? env[variable] : undefined;
    references.push({ path, variable, set: resolved !== undefined, valid });
    return resolved ?? whole;
  });
}

/** True when a string still holds an unresolved `${env:NAME}` reference. */
export function hasEnvReference(text: string): boolean {
  return /\$\{env:[^}]*\}/.test(text);
}

// Paths to files (TLS material) are named like secrets but are not secret themselves.
const FILE_PATH_KEYS = new Set(['key', 'cert', 'ca']);
const URL_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^:@/\s]*:([^@/\s]+)@/gi;

/**
 * Registers every secret value of a configuration (after interpolation) so that it is redacted
 * wherever it might appear later: driver errors, child process output, traces. Secrets are the
 * values of password/token-like keys and the password part of URLs.
 */
export function registerSecrets(value: unknown, registry: SecretRegistry): void {
  const visit = (node: unknown, key: string | undefined) => {
    if (typeof node === 'string') {
      if (key !== undefined && isSecretKey(key) && !FILE_PATH_KEYS.has(key) && !hasEnvReference(node)) registry.add(node);
      for (const match of node.matchAll(URL_PASSWORD)) {
        const password = match[1]!;
        if (hasEnvReference(password)) continue;
        registry.add(password);
        registry.add(safeDecode(password));
      }
    } else if (Array.isArray(node)) {
      for (const item of node) visit(item, key);
    } else if (isPlainObject(node)) {
      for (const [k, item] of Object.entries(node)) visit(item, k);
    }
  };
  visit(value, undefined);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
