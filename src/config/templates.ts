import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The templates of `opsctl config init`, in the order they are offered. */
export const TEMPLATES = [
  { name: 'minimal', summary: 'one local profile: Redis and PostgreSQL on this machine' },
  { name: 'single-node', summary: 'one Redis server and one PostgreSQL server, with passwords from the environment' },
  { name: 'sentinel', summary: 'Redis behind Sentinel (automatic failover) and PostgreSQL' },
  { name: 'cluster', summary: 'Redis Cluster and PostgreSQL' },
  { name: 'production', summary: 'dev, staging and a protected prod profile with TLS' },
] as const;

export type TemplateName = (typeof TEMPLATES)[number]['name'];

export const TEMPLATE_NAMES: readonly TemplateName[] = TEMPLATES.map((template) => template.name);

export function isTemplateName(name: string): name is TemplateName {
  return (TEMPLATE_NAMES as readonly string[]).includes(name);
}

/** templates/<name>.yaml in the package (from src/ or dist/). */
export function templatePath(name: TemplateName): string {
  return fileURLToPath(new URL(`../../templates/${name}.yaml`, import.meta.url));
}

export function readTemplate(name: TemplateName): Promise<string> {
  return readFile(templatePath(name), 'utf8');
}
