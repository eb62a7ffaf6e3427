import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobId } from '../../../src/jobs/job-record.ts';
import type { JobStore } from '../../../src/jobs/job-store.ts';
import {
  claimIds,
  claimOne,
  insertMany,
  insertOne,
  LONG_LEASE,
  mustGet,
  newJob,
  newJobs,
  type StoreFactory,
  T0,
  useStores,
} from '../harness.ts';

/** Claims one job at a time until none is due; returns the ids in claim order. */
async function drainOneByOne(store: JobStore, queue = 'default', now = T0): Promise<JobId[]> {
  const order: JobId[] = [];
  for (;;) {
    const ids = await claimIds(store, 1, { queue, now });
    if (ids.length === 0) return order;
    assert.equal(ids.length, 1, 'claim returned more than limit');
    order.push(ids[0]!);
  }
}

/** claim(): exclusivity, ordering, due times, limits, queues, the attempt count and the lease. */
export function claimCases(factory: StoreFactory): void {
  describe('claim', () => {
    const stores = useStores(factory);

    it('hands each job to exactly one of 4 concurrent claimers (2,000 jobs, batches of 50)', async () => {
      const store = await stores.fresh();
      const inserted = [
        ...(await insertMany(store, newJobs(1000))),
        ...(await insertMany(store, newJobs(1000))),
      ];
      const claimers = [store, await stores.peer(store), await stores.peer(store), await stores.peer(store)];
      const claimedBy = await Promise.all(
        claimers.map(async (s, n) => {
          const mine: JobId[] = [];
          for (;;) {
            const result = await s.claim({
              queue: 'default',
              limit: 50,
              owner: `claimer-${n}`,
              leaseMs: LONG_LEASE,
              now: T0,
            });
            assert.ok(result.jobs.length <= 50, 'claim returned more than limit');
            if (result.jobs.length === 0) return mine;
            for (const j of result.jobs) mine.push(j.id);
          }
        }),
      );
      const all = claimedBy.flat();
      const seen = new Set<JobId>();
      const duplicates: JobId[] = [];
      for (const id of all) {
        if (seen.has(id)) duplicates.push(id);
        seen.add(id);
      }
      assert.deepEqual(duplicates, [], 'jobs claimed more than once');
      const missing = inserted.filter((id) => !seen.has(id));
      assert.deepEqual(missing, [], 'jobs never claimed');
      assert.equal(all.length, 2000);
      // Each job's lease owner is the claimer that got it.
      for (const [n, ids] of claimedBy.entries()) {
        for (const id of ids.slice(0, 5)) assert.equal((await mustGet(store, id)).leaseOwner, `claimer-${n}`);
      }
      const running = (await store.counts()).find((c) => c.queue === 'default' && c.state === 'running');
      assert.equal(running?.count, 2000);
    });

    it('takes higher priority first', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [
        newJob({ priority: 0 }),
        newJob({ priority: 5 }),
        newJob({ priority: -1 }),
        newJob({ priority: 10 }),
        newJob({ priority: 5 }),
      ]);
      assert.deepEqual(await drainOneByOne(store), [ids[3], ids[1], ids[4], ids[0], ids[2]]);
    });

    it('takes earlier runAt first within a priority, and priority before runAt', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [
        newJob({ runAt: T0 - 1000 }),
        newJob({ runAt: T0 - 3000 }),
        newJob({ runAt: T0 - 2000 }),
        newJob({ runAt: T0, priority: 1 }),
        newJob({ runAt: T0 - 500, priority: -1 }),
      ]);
      assert.deepEqual(await drainOneByOne(store), [ids[3], ids[1], ids[2], ids[0], ids[4]]);
    });

    it('takes insertion order for equal priority and runAt', async () => {
      const store = await stores.fresh();
      const first = await insertMany(store, newJobs(5));
      const second = await insertMany(store, newJobs(5));
      assert.deepEqual(await drainOneByOne(store), [...first, ...second]);
    });

    it('does not claim a job before its runAt, and claims it once now reaches it', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store, { runAt: T0 + 10_000 });
      for (const now of [T0, T0 + 9_999]) {
        const result = await store.claim({ queue: 'default', limit: 5, owner: 'w1', leaseMs: 1000, now });
        assert.deepEqual(result.jobs, [], `claimed at now=runAt-${T0 + 10_000 - now}`);
        assert.equal(result.nextRunAt, T0 + 10_000);
      }
      assert.equal((await mustGet(store, id)).state, 'pending');
      const claimed = await claimOne(store, { now: T0 + 10_000 });
      assert.equal(claimed.id, id);
    });

    it('claims at most limit jobs, each once', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, newJobs(10));
      const a = await claimIds(store, 3);
      const b = await claimIds(store, 3);
      const c = await claimIds(store, 10);
      const d = await claimIds(store, 10);
      assert.equal(a.length, 3);
      assert.equal(b.length, 3);
      assert.equal(c.length, 4);
      assert.equal(d.length, 0);
      assert.deepEqual([...a, ...b, ...c].sort(), [...ids].sort());
    });

    it('claims only from the requested queue', async () => {
      const store = await stores.fresh();
      const a = await insertMany(store, newJobs(3, { queue: 'a' }));
      const b = await insertMany(store, newJobs(2, { queue: 'b' }));
      const result = await store.claim({ queue: 'a', limit: 10, owner: 'w1', leaseMs: LONG_LEASE, now: T0 });
      assert.deepEqual(result.jobs.map((j) => j.id).sort(), [...a].sort());
      assert.ok(result.jobs.every((j) => j.queue === 'a'));
      for (const id of b) assert.equal((await mustGet(store, id)).state, 'pending');
      assert.deepEqual((await claimIds(store, 10, { queue: 'b' })).sort(), [...b].sort());
      assert.deepEqual(await claimIds(store, 10, { queue: 'nope' }), []);
    });

    it('reports the earliest future runAt of the queue when fewer than limit were due', async () => {
      const store = await stores.fresh();
      await insertMany(store, [
        newJob({ runAt: T0 - 10 }),
        newJob({ runAt: T0 }),
        newJob({ runAt: T0 + 8000 }),
        newJob({ runAt: T0 + 5000 }),
        newJob({ runAt: T0 + 6000, priority: 100 }),
        newJob({ queue: 'other', runAt: T0 + 1000 }),
      ]);
      const first = await store.claim({
        queue: 'default',
        limit: 10,
        owner: 'w1',
        leaseMs: LONG_LEASE,
        now: T0,
      });
      assert.equal(first.jobs.length, 2);
      assert.equal(first.nextRunAt, T0 + 5000);
      const second = await store.claim({
        queue: 'default',
        limit: 10,
        owner: 'w1',
        leaseMs: LONG_LEASE,
        now: T0,
      });
      assert.deepEqual(second.jobs, []);
      assert.equal(second.nextRunAt, T0 + 5000, 'running jobs do not count, future pending ones do');
      const empty = await store.claim({
        queue: 'empty',
        limit: 10,
        owner: 'w1',
        leaseMs: LONG_LEASE,
        now: T0,
      });
      assert.deepEqual(empty, { jobs: [], nextRunAt: null });
    });

    it('reports no nextRunAt when nothing is pending in the future', async () => {
      const store = await stores.fresh();
      await insertMany(store, newJobs(2));
      const result = await store.claim({
        queue: 'default',
        limit: 10,
        owner: 'w1',
        leaseMs: LONG_LEASE,
        now: T0,
      });
      assert.equal(result.jobs.length, 2);
      assert.equal(result.nextRunAt, null);
    });

    it('returns the job as inserted, on its first attempt', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store, {
        name: 'mail.send',
        queue: 'mail',
        payload: '{"to":"a@b.c","n":[1,2]}',
        priority: 3,
        maxAttempts: 7,
        timeoutMs: 2500,
        runAt: T0 - 100,
        backoff: '{"type":"fixed","delay":500}',
      });
      const plain = await insertOne(store, { queue: 'plain' });
      const job = await claimOne(store, { queue: 'mail' });
      assert.equal(job.id, id);
      assert.equal(job.name, 'mail.send');
      assert.equal(job.queue, 'mail');
      assert.deepEqual(JSON.parse(job.payload), { to: 'a@b.c', n: [1, 2] });
      assert.equal(job.priority, 3);
      assert.equal(job.attempt, 1);
      assert.equal(job.maxAttempts, 7);
      assert.equal(job.timeoutMs, 2500);
      assert.deepEqual(JSON.parse(job.backoff!), { type: 'fixed', delay: 500 });
      const plainJob = await claimOne(store, { queue: 'plain' });
      assert.equal(plainJob.id, plain);
      assert.equal(plainJob.backoff, null);
      assert.equal(typeof job.createdAt, 'number');
      assert.equal(job.createdAt, (await mustGet(store, id)).createdAt);
    });

    it('counts the attempt and sets the lease', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store);
      assert.equal((await mustGet(store, id)).attempt, 0, 'a fresh job has no attempt yet');
      const job = await claimOne(store, { owner: 'worker-a', leaseMs: 30_000, now: T0 + 7 });
      assert.equal(job.attempt, 1);
      const info = await mustGet(store, id);
      assert.equal(info.state, 'running');
      assert.equal(info.attempt, 1);
      assert.equal(info.leaseOwner, 'worker-a');
      assert.equal(info.leaseExpiresAt, T0 + 7 + 30_000);
      assert.deepEqual(await claimIds(store, 10, { now: T0 + 8 }), [], 'a running job is not claimed again');

      await store.settle(
        'worker-a',
        [
          {
            id,
            kind: 'retry',
            runAt: T0 + 1000,
            error: { attempt: 1, at: T0 + 10, message: 'boom', kind: 'error' },
          },
        ],
        T0 + 10,
      );
      const again = await claimOne(store, { owner: 'worker-b', leaseMs: 5000, now: T0 + 1000 });
      assert.equal(again.attempt, 2);
      const info2 = await mustGet(store, id);
      assert.equal(info2.attempt, 2);
      assert.equal(info2.leaseOwner, 'worker-b');
      assert.equal(info2.leaseExpiresAt, T0 + 1000 + 5000);
    });
  });
}
