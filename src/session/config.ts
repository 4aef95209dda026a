import { OpsError } from '../core/errors.js';
import { parseSize } from '../core/parse.js';
import { sessionSchema, type SessionConfig } from '../config/schema.js';
import { configDuration, readConfigFile } from '../config/values.js';
import type { SessionKey } from './codec.js';
import type { CreateSessionStoreOptions } from './store.js';

/** The store options a profile's `session` section describes (defaults when it has none). */
export async function sessionStoreOptions(config: SessionConfig | undefined, configKey: string): Promise<Omit<CreateSessionStoreOptions, 'client'>> {
  const section = config ?? sessionSchema.parse({});
  const keys: SessionKey[] = [];
  for (const [i, entry] of (section.encryption?.keys ?? []).entries()) {
    const where = `${configKey}.encryption.keys[${i}]`;
    const text = entry.key ?? (await readConfigFile(entry.keyFile ?? '', `${where}.keyFile`)).toString('utf8').trim();
    const key = Buffer.from(text, 'base64');
    if (key.length !== 32) {
      throw new OpsError('SESSION_KEY_INVALID', `${where} ("${entry.id}") decodes to ${key.length} bytes; AES-256 needs 32`, {
        hint: 'Generate one with `openssl rand -base64 32`.',
      });
    }
    keys.push({ id: entry.id, key });
  }
  return {
    keyPrefix: section.keyPrefix,
    idleTtlMs: configDuration(section.idleTtl, `${configKey}.idleTtl`),
    absoluteTtlMs: configDuration(section.absoluteTtl, `${configKey}.absoluteTtl`),
    maxBytes: parseSize(section.maxBytes) ?? 0,
    durability: section.durability,
    replicas: section.replicas,
    waitTimeoutMs: configDuration(section.waitTimeout, `${configKey}.waitTimeout`),
    layout: section.layout,
    ...(keys.length === 0 ? {} : { encryptionKeys: keys }),
  };
}
