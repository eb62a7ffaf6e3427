import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobId } from '../../../src/jobs/job-record.ts';
import type { JobStore } from '../../../src/jobs/job-store.ts';
import {
  claimOne,
  insertOne,
  mustGet,
  newJob,
  type StoreFactory,
  T0,
  totalJobs,
  useStores,
} from '../harness.ts';

/** Ends a pending job with unique key in the given terminal state. */
async function finish(store: JobStore, id: JobId, state: 'completed' | 'dead' | 'cancelled'): Promise<void> {
  if (state === 'cancelled') {
    assert.equal(await store.cancel(id, T0), 'cancelled');
    return;
  }
  const job = await claimOne(store, { owner: 'w1' });
  assert.equal(job.id, id);
  await store.settle(
    'w1',
    [
      state === 'completed'
        ? { id, kind: 'completed' }
        : { id, kind: 'dead', error: { attempt: 1, at: T0, message: 'x', kind: 'error' } },
    ],
    T0,
  );
  assert.equal((await mustGet(store, id)).state, state);
}

/** Unique keys: held while pending or running, free once finished. */
export function uniqueCases(factory: StoreFactory): void {
  describe('unique keys', () => {
    const stores = useStores(factory);

    it('a second insert while the first is pending is a duplicate of the first', async () => {
      const store = await stores.fresh();
      const first = await insertOne(store, { uniqueKey: 'k', payload: '{"v":1}' });
      const [dup] = await store.insert([newJob({ uniqueKey: 'k', payload: '{"v":2}' })]);
      assert.deepEqual(dup, { id: first, outcome: 'duplicate' });
      assert.equal(await totalJobs(store), 1);
      assert.deepEqual((await mustGet(store, first)).payload, { v: 1 }, 'the duplicate stored nothing');
    });

    it('a second insert while the first is running, or pending after a retry, is a duplicate', async () => {
      const store = await stores.fresh();
      const first = await insertOne(store, { uniqueKey: 'k' });
      await claimOne(store);
      assert.deepEqual(await store.insert([newJob({ uniqueKey: 'k' })]), [
        { id: first, outcome: 'duplicate' },
      ]);
      await store.settle(
        'w1',
        [
          {
            id: first,
            kind: 'retry',
            runAt: T0 + 10,
            error: { attempt: 1, at: T0, message: 'x', kind: 'error' },
          },
        ],
        T0,
      );
      assert.deepEqual(await store.insert([newJob({ uniqueKey: 'k' })]), [
        { id: first, outcome: 'duplicate' },
      ]);
      assert.equal(await totalJobs(store), 1);
    });

    for (const state of ['completed', 'dead', 'cancelled'] as const) {
      it(`the key is free again once the job is ${state}`, async () => {
        const store = await stores.fresh();
        const first = await insertOne(store, { uniqueKey: 'k' });
        await finish(store, first, state);
        const [again] = await store.insert([newJob({ uniqueKey: 'k' })]);
        assert.equal(again?.outcome, 'inserted');
        assert.notEqual(again?.id, first);
        assert.deepEqual(await store.insert([newJob({ uniqueKey: 'k' })]), [
          { id: again!.id, outcome: 'duplicate' },
        ]);
        assert.equal(await totalJobs(store), 2);
      });
    }

    it('retrying a finished job never makes a second live holder of its key', async () => {
      const store = await stores.fresh();
      const old = await insertOne(store, { uniqueKey: 'k' });
      await finish(store, old, 'dead');
      const current = await insertOne(store, { uniqueKey: 'k' });
      const retried = await store.retry(old, T0 + 1);
      const live = (await store.list({ limit: 100 })).filter(
        (j) => j.uniqueKey === 'k' && (j.state === 'pending' || j.state === 'running'),
      );
      assert.equal(live.length, 1, `retry returned ${retried}`);
      assert.equal((await mustGet(store, current)).state, 'pending');
      if (!retried)
        assert.equal((await mustGet(store, old)).state, 'dead', 'a refused retry changes nothing');
    });

    it('duplicates inside one bulk insert resolve to the first', async () => {
      const store = await stores.fresh();
      const results = await store.insert([
        newJob({ uniqueKey: 'k1', payload: '{"n":0}' }),
        newJob({ uniqueKey: 'k2', payload: '{"n":1}' }),
        newJob({ uniqueKey: 'k1', payload: '{"n":2}' }),
        newJob({ uniqueKey: null, payload: '{"n":3}' }),
        newJob({ uniqueKey: 'k1', payload: '{"n":4}' }),
        newJob({ uniqueKey: 'k2', payload: '{"n":5}' }),
      ]);
      const [a, b, c, d, e, f] = results;
      assert.equal(a?.outcome, 'inserted');
      assert.equal(b?.outcome, 'inserted');
      assert.deepEqual(c, { id: a!.id, outcome: 'duplicate' });
      assert.equal(d?.outcome, 'inserted');
      assert.deepEqual(e, { id: a!.id, outcome: 'duplicate' });
      assert.deepEqual(f, { id: b!.id, outcome: 'duplicate' });
      assert.equal(new Set([a!.id, b!.id, d!.id]).size, 3);
      assert.equal(await totalJobs(store), 3);
      assert.deepEqual((await mustGet(store, a!.id)).payload, { n: 0 });
      assert.deepEqual((await mustGet(store, d!.id)).payload, { n: 3 });
    });

    it('jobs without a key never conflict', async () => {
      const store = await stores.fresh();
      const results = await store.insert([newJob(), newJob(), newJob({ uniqueKey: null })]);
      assert.ok(results.every((r) => r.outcome === 'inserted'));
      assert.equal(await totalJobs(store), 3);
    });

    it('holds across instances inserting the same key at once', async () => {
      const store = await stores.fresh();
      const instances = [store, await stores.peer(store), await stores.peer(store), await stores.peer(store)];
      for (let round = 0; round < 5; round++) {
        const key = `race-${round}`;
        const results = (
          await Promise.all(
            instances.map((s) => s.insert([newJob({ uniqueKey: key, payload: `{"r":${round}}` })])),
          )
        ).flat();
        const inserted = results.filter((r) => r.outcome === 'inserted');
        assert.equal(inserted.length, 1, `round ${round}: exactly one insert wins`);
        assert.ok(
          results.every((r) => r.id === inserted[0]!.id),
          'duplicates carry the winner id',
        );
      }
      assert.equal(await totalJobs(store), 5);
    });
  });
}
