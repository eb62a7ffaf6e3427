/** PostgresStore.migrationStatus(): the schema's version, read without creating or changing anything. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SCHEMA_VERSION } from '../src/migrations.ts';
import { adminPool, describeWithDatabase } from './support/database.ts';
import { useSchemas } from './support/stores.ts';

await describeWithDatabase('PostgresStore.migrationStatus', () => {
  const stores = useSchemas();

  it('a schema that does not exist is at version 0 and is not created; after migrate() it is current', async () => {
    const store = stores.fresh({ migrate: false });
    assert.deepEqual(await store.migrationStatus(), { current: 0, latest: SCHEMA_VERSION });
    const { rows } = await adminPool().query(
      'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
      [store.schema],
    );
    assert.equal(rows.length, 0, 'the schema was not created');
    await stores.peer(store).migrate();
    assert.deepEqual(await store.migrationStatus(), { current: SCHEMA_VERSION, latest: SCHEMA_VERSION });
  });

  it('reports a version written by a newer Hostwork', async () => {
    const store = stores.fresh();
    await store.migrate();
    await adminPool().query(`INSERT INTO "${store.schema}".migrations (version) VALUES ($1)`, [
      SCHEMA_VERSION + 3,
    ]);
    assert.deepEqual(await stores.peer(store).migrationStatus(), {
      current: SCHEMA_VERSION + 3,
      latest: SCHEMA_VERSION,
    });
  });
});
