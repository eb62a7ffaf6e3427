/**
 * The conformance factory of the PostgreSQL store: each store made by `create` gets a fresh schema; a peer is
 * another PostgresStore with its own pool (as another process would have) on the same schema; the schema is dropped
 * when the last store on it is destroyed.
 */
import type { JobStore } from 'hostwork';
import type { StoreFactory } from '../../../hostwork/test/conformance/store-conformance.ts';
import { type PostgresStore, postgresStore } from '../../src/postgres-store.ts';
import type { PostgresStoreOptions } from '../../src/postgres-store-options.ts';
import { DATABASE_URL, dropSchema, freshSchemaName } from './database.ts';

/** Warnings the test stores raised, for tests that expect none or some. */
export const warnings: { message: string; error?: unknown }[] = [];

/** A store on the test database; warnings are collected in {@link warnings}, not printed. */
export function testStore(schema: string, options: Omit<PostgresStoreOptions, 'schema'> = {}): PostgresStore {
  return postgresStore({
    connectionString: DATABASE_URL,
    poolSize: 4,
    onWarning: (message, error) => warnings.push({ message, error }),
    ...options,
    schema,
  });
}

export function postgresFactory(): StoreFactory {
  const schemas = new WeakMap<JobStore, string>();
  /** How many open stores use each schema. */
  const users = new Map<string, number>();
  const open = (schema: string): JobStore => {
    const store = testStore(schema);
    schemas.set(store, schema);
    users.set(schema, (users.get(schema) ?? 0) + 1);
    return store;
  };
  return {
    async create() {
      return open(freshSchemaName());
    },
    async createPeer(of) {
      const schema = schemas.get(of);
      if (schema === undefined) throw new Error('createPeer: not a store made by this factory');
      return open(schema);
    },
    async destroy(store) {
      await store.close();
      const schema = schemas.get(store);
      if (schema === undefined) return;
      schemas.delete(store);
      const left = (users.get(schema) ?? 1) - 1;
      if (left > 0) {
        users.set(schema, left);
        return;
      }
      users.delete(schema);
      await dropSchema(schema);
    },
  };
}
