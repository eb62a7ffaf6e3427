/** SqliteStore.migrationStatus(): the schema version of the file, read without creating or changing anything. */
import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { it } from 'node:test';
import { ErrorCodes } from '../../../src/errors.ts';
import { SCHEMA_VERSION } from '../../../src/stores/sqlite/migrations.ts';
import { expectRejection } from '../../support/errors.ts';
import { useTemp } from './helpers.ts';

const temp = useTemp();

it('a missing file is at version 0 and is not created; after migrate() it is current', async () => {
  const path = join(temp.dir(), 'nested', 'jobs.db');
  const store = temp.store({ path });
  assert.deepEqual(await store.migrationStatus(), { current: 0, latest: SCHEMA_VERSION });
  assert.equal(existsSync(path), false);
  assert.equal(existsSync(join(path, '..')), false, 'not even its folder');
  await store.migrate();
  assert.deepEqual(await store.migrationStatus(), { current: SCHEMA_VERSION, latest: SCHEMA_VERSION });
  // Another store on the file, not opened, reads the version from the file.
  assert.deepEqual(await temp.store({ path }).migrationStatus(), {
    current: SCHEMA_VERSION,
    latest: SCHEMA_VERSION,
  });
});

it('reads an existing file without writing to it: an empty database stays empty, a newer version is reported', async () => {
  const dir = temp.dir();
  const empty = join(dir, 'empty.db');
  new DatabaseSync(empty).close();
  const before = statSync(empty).size;
  assert.deepEqual(await temp.store({ path: empty }).migrationStatus(), {
    current: 0,
    latest: SCHEMA_VERSION,
  });
  assert.equal(statSync(empty).size, before);
  assert.equal(existsSync(`${empty}-wal`), false, 'not switched to WAL');

  const newer = join(dir, 'newer.db');
  await temp.store({ path: newer }).migrate();
  const db = new DatabaseSync(newer);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 5}`);
  db.close();
  assert.deepEqual(await temp.store({ path: newer }).migrationStatus(), {
    current: SCHEMA_VERSION + 5,
    latest: SCHEMA_VERSION,
  });
});

it('a file that is not a Hostwork job database is refused as on open', async () => {
  const dir = temp.dir();
  const text = join(dir, 'notes.db');
  writeFileSync(text, 'plain text, not a database '.repeat(10));
  await expectRejection(
    temp.store({ path: text }).migrationStatus(),
    ErrorCodes.STORE_OPEN,
    text,
    'not a SQLite database',
  );
  const foreign = join(dir, 'foreign.db');
  const db = new DatabaseSync(foreign);
  db.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
  db.close();
  await expectRejection(
    temp.store({ path: foreign }).migrationStatus(),
    ErrorCodes.STORE_OPEN,
    'another application',
  );
});

it('an in-memory store is at version 0 until opened', async () => {
  const store = temp.store({ path: ':memory:' });
  assert.deepEqual(await store.migrationStatus(), { current: 0, latest: SCHEMA_VERSION });
  await store.migrate();
  assert.deepEqual(await store.migrationStatus(), { current: SCHEMA_VERSION, latest: SCHEMA_VERSION });
});
