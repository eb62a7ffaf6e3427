import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AttemptError } from '../../../src/jobs/job-record.ts';
import {
  claimIds,
  claimOne,
  insertMany,
  insertOne,
  mustGet,
  newJobs,
  type StoreFactory,
  T0,
  UNKNOWN_ID,
  useStores,
  waitFor,
} from '../harness.ts';

/** How long another instance may take to signal a settlement (SQLite: a few ms; PostgreSQL: its poll, 250 ms). */
const PEER_SIGNAL_MS = 3000;
/** How long the settling instance may take to signal its own listeners. */
const OWN_SIGNAL_MS = 250;

const failure: AttemptError = { attempt: 1, at: T0 + 1, message: 'boom', kind: 'error' };

/** Stored results (settle 'completed' with `result`), getMany and onSettled. */
export function resultCases(factory: StoreFactory): void {
  describe('results', () => {
    const stores = useStores(factory);

    it('a completion stores its result as given; get and list read it back parsed', async () => {
      const store = await stores.fresh();
      const [withResult, without, nullResult] = await insertMany(store, newJobs(3));
      await claimIds(store, 3);
      const result = JSON.stringify({
        url: 's3://bucket/a.png',
        sizes: [1, 2.5],
        nested: { ok: true },
        s: 'ü\u0000"',
      });
      await store.settle(
        'w1',
        [
          { id: withResult!, kind: 'completed', result },
          { id: without!, kind: 'completed' },
          { id: nullResult!, kind: 'completed', result: null },
        ],
        T0 + 5,
      );
      const info = await mustGet(store, withResult!);
      assert.equal(info.state, 'completed');
      assert.deepEqual(info.result, JSON.parse(result));
      assert.equal((await mustGet(store, without!)).result, null);
      assert.equal((await mustGet(store, nullResult!)).result, null);
      const listed = await store.list({ limit: 10, state: 'completed' });
      assert.deepEqual(listed.find((j) => j.id === withResult)?.result, JSON.parse(result));
      assert.equal(listed.find((j) => j.id === without)?.result, null);
    });

    it('a batch of results only (every completion with one) stores each its own', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, newJobs(20));
      await claimIds(store, 20);
      await store.settle(
        'w1',
        ids.map((id, i) => ({
          id,
          kind: 'completed' as const,
          result: JSON.stringify({ i, text: `r${i}` }),
        })),
        T0 + 5,
      );
      for (const [i, id] of ids.entries())
        assert.deepEqual((await mustGet(store, id)).result, { i, text: `r${i}` });
    });

    it('a mixed batch stores results of completions only; other outcomes keep none', async () => {
      const store = await stores.fresh();
      const [done, retried, dead, cancelled, removed] = await insertMany(
        store,
        newJobs(5, { maxAttempts: 1 }),
      );
      await claimIds(store, 5);
      await store.settle(
        'w1',
        [
          { id: done!, kind: 'completed', result: '[1,"two",null]' },
          { id: retried!, kind: 'retry', runAt: T0 + 100, error: failure },
          { id: dead!, kind: 'dead', error: failure },
          { id: cancelled!, kind: 'cancelled' },
          { id: removed!, kind: 'completed', remove: true },
        ],
        T0 + 5,
      );
      assert.deepEqual((await mustGet(store, done!)).result, [1, 'two', null]);
      for (const id of [retried!, dead!, cancelled!]) assert.equal((await mustGet(store, id)).result, null);
      assert.equal(
        await store.get(removed!),
        undefined,
        'a completion with remove keeps no row, so no result',
      );
    });

    it('a completion with remove keeps no result, even when given one', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store);
      await claimOne(store);
      await store.settle('w1', [{ id, kind: 'completed', remove: true, result: '{"a":1}' }], T0 + 5);
      assert.equal(await store.get(id), undefined);
    });

    it('a result is written only by the lease owner', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store);
      await claimOne(store, { owner: 'w1' });
      await store.settle('w2', [{ id, kind: 'completed', result: '"not mine"' }], T0 + 5);
      const info = await mustGet(store, id);
      assert.equal(info.state, 'running');
      assert.equal(info.result, null);
    });

    it('a pending job has a null result', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store);
      assert.equal((await mustGet(store, id)).result, null);
    });

    it('getMany reads the jobs among the ids that exist, in one call', async () => {
      const store = await stores.fresh();
      assert.equal(typeof store.getMany, 'function', 'the built-in stores read many jobs at once');
      if (store.getMany === undefined) return;
      const ids = await insertMany(store, newJobs(3));
      await claimOne(store);
      await store.settle('w1', [{ id: ids[0]!, kind: 'completed', result: '{"x":1}' }], T0 + 5);
      const read = await store.getMany([ids[0]!, ids[2]!, UNKNOWN_ID, 'not-an-id', ids[0]!]);
      const byId = new Map(read.map((j) => [j.id, j]));
      assert.deepEqual([...byId.keys()].sort(), [ids[0]!, ids[2]!].sort());
      assert.equal(byId.get(ids[0]!)?.state, 'completed');
      assert.deepEqual(byId.get(ids[0]!)?.result, { x: 1 });
      assert.equal(byId.get(ids[2]!)?.state, 'pending');
      assert.deepEqual(byId.get(ids[2]!), await store.get(ids[2]!), 'the same info as get');
      assert.deepEqual(await store.getMany([]), []);
    });

    it('onSettled: a settle, a cancel and a purge of this instance signal its listeners promptly', async () => {
      const store = await stores.fresh();
      assert.equal(typeof store.onSettled, 'function', 'the built-in stores signal settled jobs');
      if (store.onSettled === undefined) return;
      const [a, b] = await insertMany(store, newJobs(2));
      let armed: (() => void) | undefined;
      const off = store.onSettled(() => armed?.());
      const signal = (what: string): Promise<void> => {
        const signalled = waitFor(`the signal of ${what}`, OWN_SIGNAL_MS);
        armed = signalled.resolve;
        return signalled.promise;
      };
      try {
        await claimIds(store, 1);
        const settled = signal('a settle');
        await store.settle('w1', [{ id: a!, kind: 'completed' }], T0 + 5);
        await settled;
        const cancelled = signal('a cancel');
        assert.equal(await store.cancel(b!, T0 + 6), 'cancelled');
        await cancelled;
        const purged = signal('a purge');
        assert.equal(await store.purge({ state: 'cancelled' }), 1);
        await purged;
      } finally {
        off();
      }
    });

    it('onSettled: a peer (another process) completing a job signals the listeners', async () => {
      const store = await stores.fresh();
      assert.equal(typeof store.onSettled, 'function', 'the built-in stores signal settled jobs');
      if (store.onSettled === undefined) return;
      const peer = await stores.peer(store);
      const id = await insertOne(store);
      await claimOne(peer, { owner: 'w2' });
      let settling = false;
      const signalled = waitFor('the signal of a peer settle', PEER_SIGNAL_MS);
      const off = store.onSettled(() => {
        if (settling) signalled.resolve();
      });
      try {
        settling = true;
        await peer.settle('w2', [{ id, kind: 'completed', result: '"done"' }], T0 + 5);
        await signalled.promise;
        assert.deepEqual((await mustGet(store, id)).result, 'done');
      } finally {
        off();
      }
    });

    it('onSettled: closing the store calls the listeners a last time', async () => {
      const store = await stores.fresh();
      assert.equal(typeof store.onSettled, 'function', 'the built-in stores signal settled jobs');
      if (store.onSettled === undefined) return;
      const closed = waitFor('the last signal at close', OWN_SIGNAL_MS);
      let closing = false;
      store.onSettled(() => {
        if (closing) closed.resolve();
      });
      closing = true;
      await store.close();
      await closed.promise;
    });
  });
}
