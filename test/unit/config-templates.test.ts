import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyseConfig } from '../../src/config/loader.js';
import { jsonSchemaText, packageSchemaPath } from '../../src/config/json-schema.js';
import { CONFIG_VERSION } from '../../src/config/schema.js';
import { sourceFromText } from '../../src/config/source.js';
import { TEMPLATE_NAMES, readTemplate, templatePath } from '../../src/config/templates.js';

describe('config templates', () => {
  it.each(TEMPLATE_NAMES.map((name) => [name]))('%s is commented and valid against the schema', async (name) => {
    const text = await readTemplate(name);
    expect(text.startsWith('# opsctl configuration')).toBe(true);
    // Every variable the template references is set, so the values are checked as they will be used.
    const variables = [...text.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((match) => match[1]!);
    const env = Object.fromEntries(variables.map((variable) => [variable, `test-${variable.toLowerCase()}`]));
    const analysis = analyseConfig(sourceFromText(templatePath(name), text), env);
    expect(analysis.problems).toEqual([]);
    expect(analysis.config?.version).toBe(CONFIG_VERSION);
    expect(Object.keys(analysis.config?.profiles ?? {}).length).toBeGreaterThan(0);
  });

  it('templates never write a secret literally', async () => {
    for (const name of TEMPLATE_NAMES) {
      const analysis = analyseConfig(sourceFromText(templatePath(name), await readTemplate(name)), {});
      expect(analysis.problems.filter((p) => p.kind === 'secret')).toEqual([]);
    }
  });
});

describe('JSON Schema', () => {
  it('schema/opsctl.schema.json is up to date with src/config/schema.ts', () => {
    const committed = readFileSync(packageSchemaPath(), 'utf8');
    expect(committed, 'schema/opsctl.schema.json is stale: run `npm run build && npm run schema` and commit the result').toBe(jsonSchemaText());
  });

  it('carries $schema, $id and title, and describes the profiles', () => {
    const schema = JSON.parse(jsonSchemaText()) as Record<string, unknown> & { properties: Record<string, unknown> };
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: `urn:opsctl:config:v${CONFIG_VERSION}`,
      title: expect.stringContaining('opsctl configuration'),
      required: ['version', 'profiles'],
    });
    expect(Object.keys(schema.properties)).toEqual(['$schema', 'version', 'defaultProfile', 'profiles']);
  });
});
