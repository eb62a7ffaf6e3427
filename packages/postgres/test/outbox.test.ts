/** The transactional outbox end to end on PostgreSQL: `tx` is a node-postgres client of the store's pool after BEGIN. */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import postgres from 'postgres';
import {
  describeInbox,
  describeOutbox,
  type OutboxBackend,
} from '../../hostwork/test/messaging/outbox-scenarios.ts';
import type { PostgresStore } from '../src/postgres-store.ts';
import { DATABASE_URL, describeWithDatabase, dropSchema, freshSchemaName } from './support/database.ts';
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
    concurrentTransactions: true,
  };
  describeOutbox('postgres', backend);
  describeInbox('postgres', backend);

  it('postgres.js: outbox rows and inbox records exist only once sql.begin commits', async () => {
    const schema = freshSchemaName();
    const store = testStore(schema);
    const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
    try {
      await store.migrate();
      const body = new Uint8Array([0, 255, 7]);
      const message = (id: string) => ({
        id,
        transport: 'memory',
        destination: '{"name":"q"}',
        key: 'k',
        headers: '{}',
        body,
        delayMs: 0,
        createdAt: 1,
      });
      await sql.begin(async (tx) => {
        await store.appendOutbox([message('committed')], { tx });
        assert.equal(await store.recordInbox('c', 'm1', 1, 1_000, { tx }), true);
        assert.deepEqual(await store.countOutbox(), { unsent: 0, sent: 0 }, 'invisible before commit');
      });
      await assert.rejects(
        sql.begin(async (tx) => {
          await store.appendOutbox([message('rolled-back')], { tx });
          await store.recordInbox('c', 'm2', 1, 1_000, { tx });
          throw new Error('the application fails');
        }),
        /the application fails/,
      );
      const claimed = await store.claimOutbox(10, 'relay', 1_000, 2);
      assert.deepEqual(
        claimed.map((m) => [m.id, [...m.body]]),
        [['committed', [0, 255, 7]]],
      );
      assert.equal(await store.inboxHas('c', 'm1', 2), true);
      assert.equal(await store.inboxHas('c', 'm2', 2), false);
    } finally {
      await sql.end();
      await store.close();
      await dropSchema(schema);
    }
  });
});
