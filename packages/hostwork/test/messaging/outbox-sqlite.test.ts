import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { it } from 'node:test';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { createHostBuilder } from '../../src/hosting/index.ts';
import type { JobStore } from '../../src/jobs/job-store.ts';
import { addMessaging } from '../../src/messaging/add-messaging.ts';
import { defineConsumer } from '../../src/messaging/consumer-definition.ts';
import { inMemoryTransport } from '../../src/messaging/in-memory-transport.ts';
import { defineMessage } from '../../src/messaging/message-definition.ts';
import type { OutboxStore } from '../../src/messaging/outbox-store.ts';
import { type SqliteStore, sqliteStore } from '../../src/stores/sqlite/sqlite-store.ts';
import { expectRejection, expectThrow } from '../support/errors.ts';
import { describeInbox, describeOutbox, type OutboxBackend } from './outbox-scenarios.ts';

// The outbox on SQLite: `tx` is the application's own DatabaseSync on the store's file, inside its transaction.

const dirs = new WeakMap<object, string>();

const backend: OutboxBackend = {
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'hostwork-outbox-'));
    const store = sqliteStore({ path: join(dir, 'jobs.db'), pollIntervalMs: 50 });
    dirs.set(store, dir);
    return store;
  },
  async peer(of) {
    return sqliteStore({ path: (of as SqliteStore).path, pollIntervalMs: 50 });
  },
  async begin(store) {
    await store.migrate();
    const db = new DatabaseSync((store as SqliteStore).path, { timeout: 5_000 });
    db.exec('BEGIN IMMEDIATE');
    return {
      tx: db,
      async commit() {
        db.exec('COMMIT');
        db.close();
      },
      async rollback() {
        db.exec('ROLLBACK');
        db.close();
      },
    };
  },
  async destroy(store) {
    await store.close();
    const dir = dirs.get(store);
    if (dir) await rm(dir, { recursive: true, force: true });
  },
};

describeOutbox('sqlite', backend);
describeInbox('sqlite', backend);

it('the SQLite outbox refuses a tx it cannot write through safely, naming the fix', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hostwork-outbox-'));
  const store: JobStore & OutboxStore = sqliteStore({ path: join(dir, 'jobs.db') });
  const other = new DatabaseSync(join(dir, 'other.db'));
  const same = new DatabaseSync(join(dir, 'jobs.db'));
  try {
    await store.migrate();
    const m = {
      id: 'm',
      transport: 't',
      destination: '{"name":"q"}',
      key: null,
      headers: '{}',
      body: new Uint8Array(),
      delayMs: 0,
      createdAt: 1,
    };
    await expectRejection(store.appendOutbox([m], { tx: {} }), ErrorCodes.OUTBOX_UNAVAILABLE, 'DatabaseSync');
    other.exec('BEGIN');
    await expectRejection(store.appendOutbox([m], { tx: other }), ErrorCodes.OUTBOX_UNAVAILABLE, 'other.db');
    await expectRejection(
      store.appendOutbox([m], { tx: same }),
      ErrorCodes.OUTBOX_UNAVAILABLE,
      'no open transaction',
    );
    assert.deepEqual(await store.countOutbox(), { unsent: 0, sent: 0 });
  } finally {
    other.close();
    same.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

it('refuses bad outbox settings and a bad consumer inbox at registration, naming the field', () => {
  const builder = () => createHostBuilder({ env: {}, args: [], logging: { level: 'silent', pretty: false } });
  const transports = { memory: inMemoryTransport() };
  expectThrow(
    () => addMessaging(builder(), { transports, outbox: { batchSize: 0 } }),
    ErrorCodes.INVALID_OPTION,
    'outbox.batchSize',
  );
  expectThrow(
    () => addMessaging(builder(), { transports, outbox: { leaseMs: -1 } }),
    ErrorCodes.INVALID_OPTION,
    'outbox.leaseMs',
  );
  assert.throws(() => addMessaging(builder(), { transports, outbox: { batch: 5 } as never }), /batch/);
  const Order = defineMessage({ name: 'o', schema: z.object({}), destination: { name: 'q' } });
  expectThrow(
    () =>
      defineConsumer({
        name: 'c',
        transport: 'memory',
        source: { name: 'q' },
        message: Order,
        inbox: { windowMs: 0 },
        handle: async () => {},
      }),
    ErrorCodes.INVALID_OPTION,
    'inbox.windowMs',
  );
});
