/** The transactional outbox end to end on PostgreSQL: `tx` is a node-postgres client of the store's pool after BEGIN. */
import {
  describeInbox,
  describeOutbox,
  type OutboxBackend,
} from '../../hostwork/test/messaging/outbox-scenarios.ts';
import type { PostgresStore } from '../src/postgres-store.ts';
import { describeWithDatabase, dropSchema, freshSchemaName } from './support/database.ts';
import { testStore } from './support/factory.ts';

await describeWithDatabase('transactional outbox (PostgreSQL)', () => {
  const backend: OutboxBackend = {
    async create() {
      return testStore(freshSchemaName());
    },
    async peer(of) {
      return testStore((of as PostgresStore).schema);
    },
    async begin(store) {
      await store.migrate();
      const client = await (store as PostgresStore).pool.connect();
      await client.query('BEGIN');
      return {
        tx: client,
        async commit() {
          await client.query('COMMIT');
          client.release();
        },
        async rollback() {
          await client.query('ROLLBACK');
          client.release();
        },
      };
    },
    async destroy(store) {
      await store.close();
      await dropSchema((store as PostgresStore).schema);
    },
  };
  describeOutbox('postgres', backend);
  describeInbox('postgres', backend);
});
