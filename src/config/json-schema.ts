import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-write.js';
import { CONFIG_VERSION, configSchema } from './schema.js';

/** Identifies the schema (a URN: the schema ships inside the npm package, not on a web site). */
export const JSON_SCHEMA_ID = `urn:opsctl:config:v${CONFIG_VERSION}`;

/** The schema file shipped in the package (schema/opsctl.schema.json), from src/ or dist/. */
export function packageSchemaPath(): string {
  return fileURLToPath(new URL('../../schema/opsctl.schema.json', import.meta.url));
}

/**
 * The JSON Schema of the configuration file, generated from the zod schema (input side: what
 * may be written, so defaulted keys are optional). Editors use it for completion and checks.
 */
export function generateJsonSchema(): Record<string, unknown> {
  const { $schema, ...generated } = z.toJSONSchema(configSchema, { io: 'input' }) as Record<string, unknown>;
  return {
    $schema: $schema ?? 'https://json-schema.org/draft/2020-12/schema',
    $id: JSON_SCHEMA_ID,
    title: `opsctl configuration (version ${CONFIG_VERSION})`,
    ...generated,
  };
}

/** The schema as committed in schema/opsctl.schema.json: 2-space JSON and a final newline. */
export function jsonSchemaText(): string {
  return `${JSON.stringify(generateJsonSchema(), null, 2)}\n`;
}

/** Writes the schema file (atomically); `changed` is false when it was already up to date. */
export async function writeJsonSchema(target: string, cwd: string): Promise<{ filepath: string; changed: boolean }> {
  const filepath = path.resolve(cwd, target);
  const text = jsonSchemaText();
  const current = await readFile(filepath, 'utf8').catch(() => undefined);
  if (current === text) return { filepath, changed: false };
  await mkdir(path.dirname(filepath), { recursive: true });
  await writeFileAtomic(filepath, text);
  return { filepath, changed: true };
}
