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
} from '../harness.ts';

function failure(attempt: number, at: number): AttemptError {
  return { attempt, at, message: `failure ${attempt}`, stack: `Error: failure ${attempt}`, kind: 'error' };
}

/** cancel() and retry(). */
export function cancelRetryCases(factory: StoreFactory): void {
  describe('cancel', () => {
    const stores = useStores(factory);

    it('cancels a pending job, which is then never claimed', async () => {
      const store = await stores.fresh();
      const [id, other] = await insertMany(store, newJobs(2));
      assert.equal(await store.cancel(id!, T0 + 5), 'cancelled');
      const info = await mustGet(store, id!);
      assert.equal(info.state, 'cancelled');
      assert.equal(info.finishedAt, T0 + 5);
      assert.deepEqual(await claimIds(store, 10, { now: T0 + 1_000_000 }), [other]);
    });

    it('cancels a future pending job', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store, { runAt: T0 + 60_000 });
      assert.equal(await store.cancel(id, T0), 'cancelled');
      const result = await store.claim({
        queue: 'default',
        limit: 1,
        owner: 'w1',
        leaseMs: 1000,
        now: T0 + 60_000,
      });
      assert.deepEqual(result, { jobs: [], nextRunAt: null });
    });

    it('flags a running job, which its owner learns at renewal', async () => {
      const store = await stores.fresh();
      const peer = await stores.peer(store);
      const [id, other] = await insertMany(store, newJobs(2));
      await claimIds(store, 2, { owner: 'w1', leaseMs: 10_000 });
      assert.equal(await peer.cancel(id!, T0 + 1), 'cancelling');
      const info = await mustGet(store, id!);
      assert.equal(info.state, 'running');
      assert.equal(info.cancelRequested, true);
      assert.equal(info.leaseOwner, 'w1');
      assert.equal((await mustGet(store, other!)).cancelRequested, false);
      assert.equal(await peer.cancel(id!, T0 + 2), 'cancelling', 'asking again changes nothing');

      const renewed = await store.renew('w1', [id!, other!], 10_000, T0 + 3);
      assert.deepEqual(renewed, { lost: [], cancelRequested: [id] });
      await store.settle('w1', [{ id: id!, kind: 'cancelled' }], T0 + 4);
      const done = await mustGet(store, id!);
      assert.equal(done.state, 'cancelled');
      assert.equal(done.finishedAt, T0 + 4);
    });

    it('reports finished jobs as finished and changes nothing', async () => {
      const store = await stores.fresh();
      const [completed, dead, cancelled] = await insertMany(store, newJobs(3));
      await claimIds(store, 2, { owner: 'w1' });
      await store.settle(
        'w1',
        [
          { id: completed!, kind: 'completed' },
          { id: dead!, kind: 'dead', error: failure(1, T0) },
        ],
        T0 + 1,
      );
      await store.cancel(cancelled!, T0 + 2);
      for (const [id, state] of [
        [completed!, 'completed'],
        [dead!, 'dead'],
        [cancelled!, 'cancelled'],
      ] as const) {
        const before = await mustGet(store, id);
        assert.equal(await store.cancel(id, T0 + 10), 'finished');
        const after = await mustGet(store, id);
        assert.equal(after.state, state);
        assert.deepEqual(after, before);
      }
    });

    it('reports an unknown id as not-found', async () => {
      const store = await stores.fresh();
      await insertOne(store);
      assert.equal(await store.cancel(UNKNOWN_ID, T0), 'not-found');
    });
  });

  describe('retry', () => {
    const stores = useStores(factory);

    it('puts a dead job back to pending with fresh attempts, keeping its history', async () => {
      const store = await stores.fresh();
      const fresh = await insertOne(store, { queue: 'fresh' });
      const id = await insertOne(store, { maxAttempts: 2 });
      await claimOne(store, { now: T0 });
      await store.settle('w1', [{ id, kind: 'retry', runAt: T0 + 10, error: failure(1, T0 + 1) }], T0 + 1);
      await claimOne(store, { now: T0 + 10 });
      await store.settle('w1', [{ id, kind: 'dead', error: failure(2, T0 + 11) }], T0 + 11);
      assert.equal((await mustGet(store, id)).state, 'dead');

      assert.equal(await store.retry(id, T0 + 100), true);
      const info = await mustGet(store, id);
      assert.equal(info.state, 'pending');
      assert.equal(info.attempt, (await mustGet(store, fresh)).attempt, 'the attempt count is reset');
      assert.deepEqual(info.errors, [failure(1, T0 + 1), failure(2, T0 + 11)]);
      assert.equal(info.leaseOwner, null);

      // Claimable at once, with a full set of attempts again.
      const again = await claimOne(store, { owner: 'w2', now: T0 + 100 });
      assert.equal(again.attempt, 1);
      await store.settle(
        'w2',
        [{ id, kind: 'retry', runAt: T0 + 110, error: failure(1, T0 + 101) }],
        T0 + 101,
      );
      assert.equal((await claimOne(store, { owner: 'w2', now: T0 + 110 })).attempt, 2);
      assert.equal((await mustGet(store, id)).errors.length, 3);
    });

    it('puts a cancelled job back to pending', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store);
      await store.cancel(id, T0);
      assert.equal(await store.retry(id, T0 + 1), true);
      assert.equal((await mustGet(store, id)).state, 'pending');
      assert.equal((await claimOne(store, { now: T0 + 1 })).attempt, 1);
    });

    it('refuses jobs that are not dead or cancelled', async () => {
      const store = await stores.fresh();
      const [completed, running, pending] = await insertMany(store, newJobs(3));
      await claimIds(store, 2, { owner: 'w1' });
      await store.settle('w1', [{ id: completed!, kind: 'completed' }], T0 + 1);
      for (const [id, state] of [
        [completed!, 'completed'],
        [running!, 'running'],
        [pending!, 'pending'],
      ] as const) {
        const before = await mustGet(store, id);
        assert.equal(await store.retry(id, T0 + 2), false, `retry of a ${state} job`);
        assert.deepEqual(await mustGet(store, id), before);
      }
      assert.equal(await store.retry(UNKNOWN_ID, T0 + 2), false);
    });
  });
}
