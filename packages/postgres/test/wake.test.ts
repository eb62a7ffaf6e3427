/**
 * Wake-ups across processes through LISTEN/NOTIFY: latency, skipping the store's own notifications, and recovery
 * after the LISTEN connection is killed.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PostgresStore } from '../src/postgres-store.ts';
import { adminPool, describeWithDatabase } from './support/database.ts';
import { warnings } from './support/factory.ts';
import { job, useSchemas, waitUntil } from './support/stores.ts';

/** Subscribes a counting listener and waits until the store listens (and its connect wake-up has fired). */
async function listening(
  store: PostgresStore,
): Promise<{ calls: () => number; reset: () => void; off: () => void }> {
  let calls = 0;
  const off = store.onWake(() => calls++);
  await waitUntil(() => store.notificationState === 'listening', 'the LISTEN connection');
  await waitUntil(() => calls > 0, 'the wake-up after connecting');
  return { calls: () => calls, reset: () => (calls = 0), off };
}

/** The backend pid of the store's LISTEN connection, found as an operator would: by application name and query. */
async function listenerPid(store: PostgresStore): Promise<number> {
  const { rows } = await adminPool().query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
     WHERE application_name = 'hostwork-listener' AND query LIKE 'LISTEN%' AND query LIKE $1`,
    [`%"hostwork.${store.schema}"%`],
  );
  assert.equal(rows.length, 1, `one LISTEN connection for schema ${store.schema}`);
  return rows[0]!.pid;
}

await describeWithDatabase('wake-ups through LISTEN/NOTIFY (PostgreSQL)', () => {
  const stores = useSchemas();

  it('an insert wakes a listener of another store through its NOTIFY, promptly', async () => {
    const store = stores.fresh();
    await store.migrate();
    const peer = stores.peer(store);
    const woken = await listening(peer);
    try {
      for (let round = 0; round < 5; round++) {
        woken.reset();
        const started = performance.now();
        await store.insert([job()]);
        await waitUntil(() => woken.calls() > 0, 'the peer wake-up', 2_000);
        const ms = performance.now() - started;
        // A listening store does not poll, so this wake-up is the NOTIFY. Its latency is the benchmark's business
        // (latency-xproc); the bound here only has to hold on a loaded CI machine.
        assert.equal(peer.notificationState, 'listening');
        assert.ok(ms < 500, `round ${round}: woken after ${ms.toFixed(1)} ms`);
      }
    } finally {
      woken.off();
    }
  });

  it('the store skips its own notifications: one insert wakes its listener once', async () => {
    const store = stores.fresh();
    await store.migrate();
    const woken = await listening(store);
    try {
      woken.reset();
      await store.insert([job(), job()]);
      await sleep(200); // long enough for its own NOTIFY to arrive, had it not been skipped
      assert.equal(woken.calls(), 1);
    } finally {
      woken.off();
    }
  });

  it('the last unsubscribe closes the LISTEN connection; a new listener opens it again', async () => {
    const store = stores.fresh();
    await store.migrate();
    const first = await listening(store);
    first.off();
    assert.equal(store.notificationState, 'idle');
    await waitUntil(
      async () =>
        (
          await adminPool().query(
            `SELECT FROM pg_stat_activity WHERE application_name = 'hostwork-listener' AND query LIKE $1`,
            [`%"hostwork.${store.schema}"%`],
          )
        ).rowCount === 0,
      'the LISTEN connection to close',
    );
    const second = await listening(store);
    second.off();
  });

  it('reconnects after its LISTEN backend is terminated, and a later insert on a peer still wakes it', async () => {
    const store = stores.fresh();
    await store.migrate();
    const peer = stores.peer(store, { pollIntervalMs: 60_000 }); // no poll to hide a missing reconnect
    const woken = await listening(peer);
    try {
      const before = warnings.length;
      const pid = await listenerPid(peer);
      woken.reset();
      await adminPool().query('SELECT pg_terminate_backend($1)', [pid]);
      await waitUntil(
        () => peer.notificationState === 'reconnecting',
        'the store to notice the lost connection',
      );
      await waitUntil(() => peer.notificationState === 'listening', 'the store to listen again');
      assert.notEqual(await listenerPid(peer), pid, 'a new connection');
      await waitUntil(
        () => woken.calls() === 1,
        'one wake-up after reconnecting (work may have arrived meanwhile)',
      );
      const lost = warnings.slice(before).find((w) => w.message.includes('LISTEN connection'));
      assert.ok(lost, 'the lost connection was reported');
      assert.match(lost.message, /schema "hw_test_\w+"/);

      woken.reset();
      await store.insert([job()]);
      await waitUntil(() => woken.calls() > 0, 'the peer wake-up after the reconnect', 1_000);
    } finally {
      woken.off();
    }
  });
});
