import { Faker, en } from '@faker-js/faker';
import type { Pool, PoolClient } from 'pg';
import { noProgress, type ProgressReporter } from '../core/progress.js';

/**
 * Deterministic mock data for the dev stack: the same seed gives byte-identical rows on every
 * machine, so a bug report can say "seed 42, user 17". The `app` schema stands in for the
 * platform's own application tables and carries personal data on purpose (names, e-mail,
 * phone, address, date of birth, free text), for the GDPR and retention tools to work on.
 * Later features (sessions, cache, rate limits, audit) extend this seeder with their own data.
 */
export const SEED_SCHEMA = 'app';
export const SEED_TABLES = ['users', 'orders', 'support_tickets'] as const;

// Timestamps hang off a fixed date, not now(): otherwise two seeds would differ.
const BASE_TIME = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

export interface SeedOptions {
  users: number;
  seed: number;
  progress?: ProgressReporter;
  signal?: AbortSignal;
}

export interface SeedResult {
  seed: number;
  schema: string;
  rows: Record<(typeof SEED_TABLES)[number], number>;
}

const DDL = `
CREATE SCHEMA IF NOT EXISTS ${SEED_SCHEMA};
CREATE TABLE IF NOT EXISTS ${SEED_SCHEMA}.users (
  id bigint PRIMARY KEY,
  email text NOT NULL UNIQUE,
  full_name text NOT NULL,
  phone text NOT NULL,
  street_address text NOT NULL,
  city text NOT NULL,
  country text NOT NULL,
  date_of_birth date NOT NULL,
  marketing_opt_in boolean NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ${SEED_SCHEMA}.orders (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES ${SEED_SCHEMA}.users(id) ON DELETE CASCADE,
  total_cents integer NOT NULL,
  currency text NOT NULL,
  shipping_address text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ${SEED_SCHEMA}.support_tickets (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES ${SEED_SCHEMA}.users(id) ON DELETE CASCADE,
  subject text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL
);`;

/** Rows already in the seeded tables (0 when the schema does not exist yet). */
export async function existingSeedRows(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [`${SEED_SCHEMA}.users`]);
  if (rows[0]?.exists !== true) return 0;
  const counts = await pool.query<{ n: string }>(
    SEED_TABLES.map((table) => `SELECT count(*)::text AS n FROM ${SEED_SCHEMA}.${table}`).join(' UNION ALL '),
  );
  return counts.rows.reduce((sum, row) => sum + Number(row.n), 0);
}

// Column lists with their SQL types, for the unnest() inserts.
const COLUMNS = {
  users: [['id', 'bigint'], ['email', 'text'], ['full_name', 'text'], ['phone', 'text'], ['street_address', 'text'], ['city', 'text'], ['country', 'text'], ['date_of_birth', 'date'], ['marketing_opt_in', 'boolean'], ['created_at', 'timestamptz']],
  orders: [['id', 'bigint'], ['user_id', 'bigint'], ['total_cents', 'integer'], ['currency', 'text'], ['shipping_address', 'text'], ['created_at', 'timestamptz']],
  support_tickets: [['id', 'bigint'], ['user_id', 'bigint'], ['subject', 'text'], ['body', 'text'], ['created_at', 'timestamptz']],
} as const satisfies Record<(typeof SEED_TABLES)[number], readonly (readonly [string, string])[]>;

/** Replaces the `app` schema's rows with the ones `seed` generates, in one transaction. */
export async function seedDevData(pool: Pool, options: SeedOptions): Promise<SeedResult> {
  const faker = new Faker({ locale: [en], seed: options.seed });
  const task = (options.progress ?? noProgress).start('seeding', { total: options.users, unit: 'items' });
  const client = await pool.connect();
  const rows = { users: 0, orders: 0, support_tickets: 0 };
  try {
    await client.query('BEGIN');
    await client.query(DDL);
    await client.query(`TRUNCATE ${SEED_TABLES.map((t) => `${SEED_SCHEMA}.${t}`).join(', ')}`);
    const batch = 500;
    let orderId = 0;
    let ticketId = 0;
    for (let first = 1; first <= options.users; first += batch) {
      options.signal?.throwIfAborted();
      const users: unknown[][] = [];
      const orders: unknown[][] = [];
      const tickets: unknown[][] = [];
      for (let id = first; id < Math.min(first + batch, options.users + 1); id += 1) {
        const firstName = faker.person.firstName();
        const lastName = faker.person.lastName();
        const address = faker.location.streetAddress();
        const city = faker.location.city();
        const created = BASE_TIME - faker.number.int({ min: 0, max: 730 }) * DAY;
        users.push([
          id,
          `${faker.internet.username({ firstName, lastName }).toLowerCase()}.${id}@example.com`,
          `${firstName} ${lastName}`,
          faker.phone.number({ style: 'international' }),
          address,
          city,
          faker.location.country(),
          faker.date.birthdate({ mode: 'age', min: 18, max: 90, refDate: BASE_TIME }).toISOString().slice(0, 10),
          faker.datatype.boolean(),
          new Date(created).toISOString(),
        ]);
        for (let n = faker.number.int({ min: 0, max: 5 }); n > 0; n -= 1) {
          orderId += 1;
          orders.push([
            orderId,
            id,
            faker.number.int({ min: 500, max: 50_000 }),
            faker.helpers.arrayElement(['EUR', 'USD', 'GBP']),
            `${address}, ${city}`,
            new Date(created + faker.number.int({ min: 0, max: 300 }) * DAY).toISOString(),
          ]);
        }
        if (faker.number.int({ min: 0, max: 3 }) === 0) {
          ticketId += 1;
          tickets.push([
            ticketId,
            id,
            faker.helpers.arrayElement(['Cannot log in', 'Refund request', 'Change my address', 'Delete my account']),
            // Free text that repeats personal data, as real tickets do.
            `Hi, this is ${firstName}. ${faker.lorem.sentence()} You can reach me on ${faker.phone.number()}.`,
            new Date(created + faker.number.int({ min: 0, max: 300 }) * DAY).toISOString(),
          ]);
        }
      }
      rows.users += await insertRows(client, 'users', users);
      rows.orders += await insertRows(client, 'orders', orders);
      rows.support_tickets += await insertRows(client, 'support_tickets', tickets);
      task.update(rows.users);
    }
    await client.query('COMMIT');
    task.finish(true, `seeded ${rows.users} users, ${rows.orders} orders, ${rows.support_tickets} support tickets (seed ${options.seed})`);
    return { seed: options.seed, schema: SEED_SCHEMA, rows };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    task.finish(false, 'seeding failed; nothing was changed');
    throw error;
  } finally {
    client.release();
  }
}

// One INSERT per batch through unnest(): a few round trips instead of one per row.
async function insertRows(client: PoolClient, table: keyof typeof COLUMNS, rows: readonly unknown[][]): Promise<number> {
  if (rows.length === 0) return 0;
  const columns = COLUMNS[table];
  const arrays = columns.map((_, i) => rows.map((row) => row[i]));
  const selects = columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
  await client.query(`INSERT INTO ${SEED_SCHEMA}.${table} (${columns.map(([name]) => name).join(', ')}) SELECT * FROM unnest(${selects})`, arrays);
  return rows.length;
}
