import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { claimIds, insertMany, mustGet, newJob, type StoreFactory, T0, useStores } from '../harness.ts';

/** insert() with `claimedBy`: a job stored already claimed by a worker of the inserting process (local dispatch). */
export function claimedInsertCases(factory: StoreFactory): void {
  describe('insert already claimed', () => {
    const stores = useStores(factory);
    const lease = { owner: 'w1', leaseExpiresAt: T0 + 1000 };

    it('stores the job running under the lease with attempt 1; nobody else can claim it; its owner settles it', async () => {
      const store = await stores.fresh();
      const [claimed, pending] = await insertMany(store, [
        newJob({ payload: '{"i":0}', claimedBy: lease }),
        newJob({ payload: '{"i":1}', claimedBy: null }),
      ]);
      const info = await mustGet(store, claimed!);
      assert.equal(info.state, 'running');
      assert.equal(info.attempt, 1);
      assert.equal(info.leaseOwner, 'w1');
      assert.equal(info.leaseExpiresAt, T0 + 1000);
      const other = await mustGet(store, pending!);
      assert.equal(other.state, 'pending');
      assert.equal(other.attempt, 0);
      assert.equal(other.leaseOwner, null);

      assert.deepEqual(await claimIds(store, 10, { owner: 'w2' }), [pending]);
      await store.settle('w2', [{ id: claimed!, kind: 'completed' }], T0 + 10);
      assert.equal((await mustGet(store, claimed!)).state, 'running', 'another owner cannot settle it');
      await store.settle('w1', [{ id: claimed!, kind: 'completed' }], T0 + 20);
      const done = await mustGet(store, claimed!);
      assert.equal(done.state, 'completed');
      assert.equal(done.finishedAt, T0 + 20);
    });

    it('is recovered when its lease expires, as a claimed job is, with the attempt counted', async () => {
      const store = await stores.fresh();
      const [id] = await insertMany(store, [newJob({ claimedBy: lease })]);
      assert.equal(await store.recoverExpired(T0 + 999), 0, 'not before the lease expires');
      assert.equal(await store.recoverExpired(T0 + 1001), 1);
      const info = await mustGet(store, id!);
      assert.equal(info.state, 'pending');
      assert.equal(info.attempt, 1);
      assert.equal(info.errors.at(-1)?.kind, 'lease-expired');
      const again = await store.claim({
        queue: 'default',
        limit: 1,
        owner: 'w2',
        leaseMs: 1000,
        now: T0 + 2000,
      });
      assert.equal(again.jobs[0]?.attempt, 2, 'the next claim starts attempt 2');
    });

    it('holds its unique key like a running job, and is a duplicate when a live job holds it', async () => {
      const store = await stores.fresh();
      const [first] = await store.insert([newJob({ uniqueKey: 'k', claimedBy: lease })]);
      assert.equal(first!.outcome, 'inserted');
      const [second] = await store.insert([newJob({ uniqueKey: 'k' })]);
      assert.deepEqual(second, { id: first!.id, outcome: 'duplicate' });
      const [third] = await store.insert([newJob({ uniqueKey: 'k', claimedBy: { ...lease, owner: 'w2' } })]);
      assert.deepEqual(third, { id: first!.id, outcome: 'duplicate' });
      assert.equal((await mustGet(store, first!.id)).leaseOwner, 'w1');
    });

    it('wakes none of its own instance’s listeners: the worker it is for already has it', async () => {
      const store = await stores.fresh();
      let calls = 0;
      const off = store.onWake(() => calls++);
      try {
        // A store may wake a new listener once as it starts listening (to catch up); only what follows counts.
        await new Promise((resolve) => setTimeout(resolve, 100));
        calls = 0;
        await store.insert([newJob({ claimedBy: lease })]);
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(calls, 0);
        await store.insert([newJob()]);
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.ok(calls >= 1, 'a pending job still wakes them');
      } finally {
        off();
      }
    });
  });
}
