import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AttemptError } from '../../../src/jobs/job-record.ts';
import { claimOne, insertMany, newJob, type StoreFactory, T0, useStores } from '../harness.ts';

const traced = JSON.stringify({
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  tracestate: 'vendor=a,other="b c"',
});
const failure: AttemptError = { attempt: 1, at: T0 + 1, message: 'boom', kind: 'error' };

/** NewJob.metadata (the enqueue's trace context): stored as given, handed back by every claim of the job. */
export function metadataCases(factory: StoreFactory): void {
  describe('metadata', () => {
    const stores = useStores(factory);

    it('a claim hands back the metadata stored with each job, null for a job without', async () => {
      const store = await stores.fresh();
      // One insert through the single-job path, and a batch mixing both (the batch path).
      await insertMany(store, [newJob({ payload: '{"i":0}', metadata: traced })]);
      await insertMany(store, [
        newJob({ payload: '{"i":1}', runAt: T0 + 1 }),
        newJob({ payload: '{"i":2}', runAt: T0 + 2, metadata: '{"traceparent":"x"}', uniqueKey: 'k' }),
        newJob({ payload: '{"i":3}', runAt: T0 + 3, metadata: null }),
      ]);
      const { jobs } = await store.claim({
        queue: 'default',
        limit: 10,
        owner: 'w1',
        leaseMs: 1000,
        now: T0 + 5,
      });
      assert.deepEqual(
        jobs.map((j) => [j.payload, j.metadata ?? null]),
        [
          ['{"i":0}', traced],
          ['{"i":1}', null],
          ['{"i":2}', '{"traceparent":"x"}'],
          ['{"i":3}', null],
        ],
      );
    });

    it('is kept across a retry, so every attempt of the job finds it', async () => {
      const store = await stores.fresh();
      await insertMany(store, [newJob({ metadata: traced })]);
      const first = await claimOne(store);
      await store.settle('w1', [{ id: first.id, kind: 'retry', runAt: T0 + 10, error: failure }], T0 + 1);
      const second = await claimOne(store, { now: T0 + 20 });
      assert.equal(second.attempt, 2);
      assert.equal(second.metadata, traced);
    });
  });
}
