import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobId } from '../../../src/jobs/job-record.ts';
import type { JobStore } from '../../../src/jobs/job-store.ts';
import {
  claimIds,
  countMap,
  insertMany,
  insertOne,
  newJobs,
  type StoreFactory,
  T0,
  useStores,
} from '../harness.ts';

const KEEP_ALL = 1_000_000;

/** Inserts `count` jobs and completes them one by one, the i-th at `finishedAt(i)`; returns their ids. */
async function completed(
  store: JobStore,
  count: number,
  finishedAt: (i: number) => number,
): Promise<JobId[]> {
  const ids = await insertMany(store, newJobs(count, { queue: 'done' }));
  for (const [i, id] of ids.entries()) {
    assert.deepEqual(await claimIds(store, 1, { queue: 'done' }), [id]);
    await store.settle('w1', [{ id, kind: 'completed' }], finishedAt(i));
  }
  return ids;
}

async function existing(store: JobStore, ids: readonly JobId[]): Promise<JobId[]> {
  const out: JobId[] = [];
  for (const id of ids) if ((await store.get(id)) !== undefined) out.push(id);
  return out;
}

/** prune(): retention of completed jobs. */
export function pruneCases(factory: StoreFactory): void {
  describe('prune', () => {
    const stores = useStores(factory);

    it('deletes completed jobs finished before completedBefore', async () => {
      const store = await stores.fresh();
      const old = await completed(store, 5, (i) => T0 + 1 + i);
      const recent = await completed(store, 3, (i) => T0 + 100 + i);
      assert.equal(
        await store.prune({ completedBefore: T0 + 50, maxCompleted: KEEP_ALL, batchSize: 100 }),
        5,
      );
      assert.deepEqual(await existing(store, old), []);
      assert.deepEqual(await existing(store, recent), recent);
      assert.equal(
        await store.prune({ completedBefore: T0 + 50, maxCompleted: KEEP_ALL, batchSize: 100 }),
        0,
      );
    });

    it('deletes at most batchSize per call', async () => {
      const store = await stores.fresh();
      const old = await completed(store, 10, (i) => T0 + i);
      const policy = { completedBefore: T0 + 1000, maxCompleted: KEEP_ALL, batchSize: 3 };
      const deleted: number[] = [];
      for (let i = 0; i < 5; i++) deleted.push(await store.prune(policy));
      assert.deepEqual(deleted, [3, 3, 3, 1, 0]);
      assert.deepEqual(await existing(store, old), []);
    });

    it('keeps only the newest maxCompleted completed jobs', async () => {
      const store = await stores.fresh();
      const ids = await completed(store, 10, (i) => T0 + 10 + i);
      assert.equal(await store.prune({ completedBefore: T0, maxCompleted: 4, batchSize: 100 }), 6);
      assert.deepEqual(await existing(store, ids), ids.slice(6));
      assert.equal(await store.prune({ completedBefore: T0, maxCompleted: 4, batchSize: 100 }), 0);

      const deleted: number[] = [];
      for (let i = 0; i < 3; i++)
        deleted.push(await store.prune({ completedBefore: T0, maxCompleted: 1, batchSize: 2 }));
      assert.deepEqual(deleted, [2, 1, 0]);
      assert.deepEqual(await existing(store, ids), ids.slice(9));
    });

    it('never prunes pending, running, dead or cancelled jobs', async () => {
      const store = await stores.fresh();
      const [dead, running] = await insertMany(store, newJobs(2, { queue: 'q' }));
      await claimIds(store, 2, { queue: 'q', owner: 'w1' });
      await store.settle(
        'w1',
        [{ id: dead!, kind: 'dead', error: { attempt: 1, at: T0, message: 'x', kind: 'error' } }],
        T0,
      );
      const cancelled = await insertOne(store, { queue: 'q' });
      await store.cancel(cancelled, T0);
      await insertOne(store, { queue: 'q', runAt: T0 - 1_000_000 });
      await completed(store, 2, () => T0);

      const everything = { completedBefore: T0 + 1_000_000_000, maxCompleted: 0, batchSize: 1000 };
      assert.equal(await store.prune(everything), 2);
      assert.equal(await store.prune(everything), 0);
      assert.deepEqual(await countMap(store), {
        'q/dead': 1,
        'q/running': 1,
        'q/cancelled': 1,
        'q/pending': 1,
      });
      assert.ok(await store.get(running!));
    });
  });
}
