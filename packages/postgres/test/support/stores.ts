/**
 * Stores for the PostgreSQL-specific tests: each on a fresh schema, closed and dropped after the test, and small
 * helpers shared by those tests.
 */
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NewJob } from 'hostwork';
import type { PostgresStore } from '../../src/postgres-store.ts';
import type { PostgresStoreOptions } from '../../src/postgres-store-options.ts';
import { dropSchema, freshSchemaName } from './database.ts';
import { testStore } from './factory.ts';

/** Makes stores for the tests of the enclosing `describe`; after each test closes them and drops their schemas. */
export function useSchemas(): {
  /** A store on a new schema (not migrated). */
  fresh(options?: Omit<PostgresStoreOptions, 'schema'>): PostgresStore;
  /** Another store (own pool) on the schema of `of`. */
  peer(of: PostgresStore, options?: Omit<PostgresStoreOptions, 'schema'>): PostgresStore;
  /** A store on `schema` (e.g. one from {@link schema}). */
  at(schema: string, options?: Omit<PostgresStoreOptions, 'schema'>): PostgresStore;
  /** A new schema name, dropped after the test. */
  schema(): string;
} {
  let stores: PostgresStore[] = [];
  let schemas: string[] = [];
  afterEach(async () => {
    const closing = stores;
    const dropping = schemas;
    stores = [];
    schemas = [];
    await Promise.all(closing.map((s) => s.close()));
    for (const schema of dropping) await dropSchema(schema);
  });
  const schema = (): string => {
    const name = freshSchemaName();
    schemas.push(name);
    return name;
  };
  const track = (store: PostgresStore): PostgresStore => {
    stores.push(store);
    return store;
  };
  return {
    fresh: (options) => track(testStore(schema(), options)),
    peer: (of, options) => track(testStore(of.schema, options)),
    at: (name, options) => track(testStore(name, options)),
    schema,
  };
}

/** A valid job; every field can be overridden. */
export function job(overrides: Partial<NewJob> = {}): NewJob {
  return {
    name: 'test.job',
    queue: 'default',
    payload: '{}',
    priority: 0,
    runAt: 0,
    maxAttempts: 3,
    timeoutMs: 0,
    uniqueKey: null,
    backoff: null,
    ...overrides,
  };
}

/** Polls `condition` every 5 ms until it is truthy; fails naming `what` after `timeoutMs`. */
export async function waitUntil<V>(
  condition: () => V | Promise<V>,
  what: string,
  timeoutMs = 5_000,
): Promise<NonNullable<V>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<V>;
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}
