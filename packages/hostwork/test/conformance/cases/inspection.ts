import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobId } from '../../../src/jobs/job-record.ts';
import {
  claimIds,
  claimOne,
  countMap,
  insertMany,
  insertOne,
  mustGet,
  newJob,
  newJobs,
  type StoreFactory,
  T0,
  UNKNOWN_ID,
  useStores,
} from '../harness.ts';

/** get(), progress(), list(), counts() and purge(). */
export function inspectionCases(factory: StoreFactory): void {
  describe('inspection', () => {
    const stores = useStores(factory);

    it('get returns every field, with the payload parsed', async () => {
      const store = await stores.fresh();
      const before = Date.now();
      const id = await insertOne(store, {
        name: 'report.build',
        queue: 'reports',
        payload: '{"a":1,"b":[true,null,"x"],"c":{"d":2.5}}',
        priority: -2,
        runAt: T0 + 42,
        maxAttempts: 4,
        timeoutMs: 900,
        uniqueKey: 'report-1',
      });
      const after = Date.now();
      const info = await mustGet(store, id);
      assert.equal(info.id, id);
      assert.equal(info.name, 'report.build');
      assert.equal(info.queue, 'reports');
      assert.equal(info.state, 'pending');
      assert.deepEqual(info.payload, { a: 1, b: [true, null, 'x'], c: { d: 2.5 } });
      assert.equal(info.priority, -2);
      assert.equal(info.attempt, 0);
      assert.equal(info.maxAttempts, 4);
      assert.equal(info.timeoutMs, 900);
      assert.equal(info.runAt, T0 + 42);
      assert.equal(info.uniqueKey, 'report-1');
      assert.equal(info.leaseOwner, null);
      assert.equal(info.leaseExpiresAt, null);
      assert.equal(info.cancelRequested, false);
      assert.equal(info.progress ?? null, null);
      assert.deepEqual(info.errors, []);
      assert.ok(
        info.createdAt >= before - 1000 && info.createdAt <= after + 1000,
        'createdAt is the insert time',
      );
      assert.equal(info.finishedAt, null);
    });

    it('get parses non-object payloads and returns undefined for an unknown id', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [
        newJob({ payload: '[1,2,3]' }),
        newJob({ payload: '"text"' }),
        newJob({ payload: '7' }),
        newJob({ payload: 'null' }),
      ]);
      const payloads = await Promise.all(ids.map(async (id) => (await mustGet(store, id)).payload));
      assert.deepEqual(payloads, [[1, 2, 3], 'text', 7, null]);
      assert.equal(await store.get(UNKNOWN_ID), undefined);
    });

    it('progress is recorded on a running job and returned parsed', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store);
      await claimOne(store);
      await store.progress(id, '{"done":3,"of":10}');
      assert.deepEqual((await mustGet(store, id)).progress, { done: 3, of: 10 });
      await store.progress(id, '{"done":10,"of":10}');
      assert.deepEqual((await mustGet(store, id)).progress, { done: 10, of: 10 });
    });

    it('list filters by queue, state and name, newest first', async () => {
      const store = await stores.fresh();
      const aX = await insertMany(store, newJobs(3, { queue: 'a', name: 'x' }));
      const bX = await insertMany(store, newJobs(2, { queue: 'b', name: 'x' }));
      const aY = await insertMany(store, newJobs(2, { queue: 'a', name: 'y' }));
      const running = await claimIds(store, 2, { queue: 'a' });
      assert.deepEqual([...running].sort(), [aX[0], aX[1]].sort());
      const ids = async (filter: Parameters<typeof store.list>[0]): Promise<JobId[]> =>
        (await store.list(filter)).map((j) => j.id);
      const all = [...aX, ...bX, ...aY];
      assert.deepEqual(await ids({ limit: 100 }), [...all].reverse());
      assert.deepEqual(await ids({ limit: 100, queue: 'a' }), [...aX, ...aY].reverse());
      assert.deepEqual(await ids({ limit: 100, name: 'x' }), [...aX, ...bX].reverse());
      assert.deepEqual(await ids({ limit: 100, state: 'running' }), [aX[1], aX[0]]);
      assert.deepEqual(await ids({ limit: 100, state: 'pending', queue: 'a' }), [aY[1], aY[0], aX[2]]);
      assert.deepEqual(await ids({ limit: 100, state: 'pending', queue: 'a', name: 'x' }), [aX[2]]);
      assert.deepEqual(await ids({ limit: 100, queue: 'nope' }), []);
      assert.deepEqual(await ids({ limit: 3 }), [...all].reverse().slice(0, 3));
      const [first] = await store.list({ limit: 1, state: 'running' });
      assert.equal(first?.leaseOwner, 'w1');
      assert.deepEqual(first?.payload, { i: 1 });
    });

    it('list pages with before', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, newJobs(25));
      const other = await insertMany(store, newJobs(5, { queue: 'other' }));
      const seen: JobId[] = [];
      let before: JobId | undefined;
      for (let page = 0; page < 10; page++) {
        const jobs = await store.list(
          before === undefined ? { limit: 10, queue: 'default' } : { limit: 10, queue: 'default', before },
        );
        if (jobs.length === 0) break;
        assert.ok(jobs.length <= 10);
        seen.push(...jobs.map((j) => j.id));
        before = jobs.at(-1)!.id;
      }
      assert.deepEqual(seen, [...ids].reverse());
      // `before` an id of another queue still pages by id.
      assert.deepEqual(
        (await store.list({ limit: 100, before: other[0]! })).map((j) => j.id),
        [...ids].reverse(),
      );
      assert.deepEqual(await store.list({ limit: 10, before: ids[0]! }), []);
    });

    it('counts per queue and state', async () => {
      const store = await stores.fresh();
      await insertMany(store, newJobs(5, { queue: 'a' }));
      const b = await insertMany(store, newJobs(2, { queue: 'b' }));
      await claimIds(store, 2, { queue: 'a' });
      const [done] = await claimIds(store, 1, { queue: 'a' });
      await store.settle('w1', [{ id: done!, kind: 'completed' }], T0);
      await store.cancel(b[0]!, T0);
      assert.deepEqual(await countMap(store), {
        'a/pending': 2,
        'a/running': 2,
        'a/completed': 1,
        'b/pending': 1,
        'b/cancelled': 1,
      });
      for (const c of await store.counts()) assert.equal(typeof c.count, 'number');
    });

    it('purge deletes matching jobs but never running ones', async () => {
      const store = await stores.fresh();
      const a = await insertMany(store, newJobs(6, { queue: 'a', name: 'x' }));
      const b = await insertMany(store, newJobs(3, { queue: 'b', name: 'y' }));
      const [run1, run2] = [a[0]!, a[1]!];
      const done = a[2]!;
      assert.deepEqual((await claimIds(store, 2, { queue: 'a' })).sort(), [run1, run2].sort());
      assert.deepEqual(await claimIds(store, 1, { queue: 'a' }), [done]);
      await store.settle('w1', [{ id: done, kind: 'completed' }], T0);

      assert.equal(await store.purge({ queue: 'a', state: 'completed' }), 1);
      assert.equal(await store.get(done), undefined);
      assert.equal(await store.purge({ state: 'running' }), 0);
      assert.equal(await store.purge({ name: 'y', state: 'pending' }), 3);
      for (const id of b) assert.equal(await store.get(id), undefined);
      assert.equal(await store.purge({ queue: 'a' }), 3, 'the three pending jobs of a');
      assert.deepEqual(await countMap(store), { 'a/running': 2 });
      assert.equal((await mustGet(store, run1)).state, 'running');
      assert.equal(await store.purge({}), 0, 'nothing left but running jobs');
      assert.equal(await store.purge({ queue: 'nope' }), 0);
    });

    it('purge with a limit deletes at most that many, oldest first, never a running one', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, newJobs(7, { queue: 'a' }));
      assert.deepEqual(await claimIds(store, 1, { queue: 'a' }), [ids[0]]);
      assert.equal(await store.purge({ queue: 'a', limit: 2 }), 2);
      assert.equal(await store.get(ids[1]!), undefined, 'the oldest purgeable job went first');
      assert.equal(await store.get(ids[2]!), undefined);
      assert.ok(await store.get(ids[3]!), 'the rest is kept');
      assert.equal(await store.purge({ queue: 'a', limit: 3 }), 3);
      assert.equal(await store.purge({ queue: 'a', limit: 3 }), 1, 'the last one; the running job stays');
      assert.equal(await store.purge({ queue: 'a', limit: 3 }), 0);
      assert.equal((await mustGet(store, ids[0]!)).state, 'running');
      await assert.rejects(store.purge({ limit: 0 }), /limit must be a positive integer/);
    });
    it('dueBacklog counts the due pending jobs per queue with the oldest run time, leaving out the rest', async (t) => {
      const store = await stores.fresh();
      if (!store.dueBacklog) {
        t.skip('this store does not report its due backlog');
        return;
      }
      assert.deepEqual(await store.dueBacklog(T0), [], 'an empty store');
      await insertMany(store, [
        newJob({ queue: 'emails', runAt: T0 - 5_000 }),
        newJob({ queue: 'emails', runAt: T0 - 1_000 }),
        newJob({ queue: 'emails', runAt: T0 + 60_000 }), // not due yet
        newJob({ queue: 'reports', runAt: T0 }),
        newJob({ queue: 'default', runAt: T0 - 9_000 }),
        newJob({ queue: 'default', runAt: T0 - 8_000 }),
      ]);
      // One default job claimed (running) and one completed: neither is waiting.
      const [running] = await claimIds(store, 1);
      assert.ok(running);
      const [done] = await claimIds(store, 1, { owner: 'w2' });
      await store.settle('w2', [{ id: done!, kind: 'completed' }], T0);
      const backlog = await store.dueBacklog(T0);
      assert.deepEqual(
        [...backlog].sort((a, b) => a.queue.localeCompare(b.queue)),
        [
          { queue: 'emails', due: 2, oldestDueAt: T0 - 5_000 },
          { queue: 'reports', due: 1, oldestDueAt: T0 },
        ],
      );
      assert.deepEqual(
        (await store.dueBacklog(T0 + 60_000)).find((b) => b.queue === 'emails'),
        { queue: 'emails', due: 3, oldestDueAt: T0 - 5_000 },
        'the later job counts once due',
      );
    });
  });
}
