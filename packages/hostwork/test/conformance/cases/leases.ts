import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobInfo } from '../../../src/jobs/job-record.ts';
import {
  claimIds,
  claimOne,
  insertMany,
  insertOne,
  mustGet,
  newJobs,
  type StoreFactory,
  T0,
  useStores,
} from '../harness.ts';

/** Asserts the job's last error is the 'lease-expired' error of `attempt`, recorded between expiry and `now`. */
function assertLeaseExpired(info: JobInfo, attempt: number, expiredAt: number, now: number): void {
  const last = info.errors.at(-1);
  assert.ok(last, 'a lease-expired error is recorded');
  assert.equal(last.kind, 'lease-expired');
  assert.equal(last.attempt, attempt);
  assert.equal(typeof last.message, 'string');
  assert.ok(last.message.length > 0, 'the error has a message');
  assert.ok(last.at >= expiredAt && last.at <= now, `error time ${last.at} is between expiry and recovery`);
}

/** renew() and recoverExpired(). */
export function leaseCases(factory: StoreFactory): void {
  describe('leases', () => {
    const stores = useStores(factory);

    it('renew extends the lease of held jobs', async () => {
      const store = await stores.fresh();
      const [a, b] = await insertMany(store, newJobs(2));
      await claimIds(store, 2, { owner: 'w1', leaseMs: 1000, now: T0 });
      const result = await store.renew('w1', [a!, b!], 5000, T0 + 500);
      assert.deepEqual(result, { lost: [], cancelRequested: [] });
      for (const id of [a!, b!]) {
        const info = await mustGet(store, id);
        assert.equal(info.leaseExpiresAt, T0 + 5500);
        assert.equal(info.leaseOwner, 'w1');
        assert.equal(info.state, 'running');
      }
      assert.equal(await store.recoverExpired(T0 + 1500), 0, 'the renewed lease has not expired');
      assert.equal(await store.recoverExpired(T0 + 5501), 2);
    });

    it('renew reports as lost the jobs the owner no longer holds, and touches no one else’s lease', async () => {
      const store = await stores.fresh();
      const [held, recovered, reclaimed, completed] = await insertMany(store, newJobs(4));
      await claimOne(store, { owner: 'w1', leaseMs: 10_000, now: T0 });
      await claimIds(store, 2, { owner: 'w1', leaseMs: 1000, now: T0 });
      await claimOne(store, { owner: 'w1', leaseMs: 10_000, now: T0 });
      // `recovered` and `reclaimed` expire; `reclaimed` goes to w2; `completed` is settled.
      assert.equal(await store.recoverExpired(T0 + 2000), 2);
      const w2 = await claimOne(store, { owner: 'w2', leaseMs: 3000, now: T0 + 2000 });
      assert.ok(w2.id === recovered || w2.id === reclaimed);
      const [stillPending, takenByW2] =
        w2.id === reclaimed ? [recovered!, reclaimed!] : [reclaimed!, recovered!];
      await store.settle('w1', [{ id: completed!, kind: 'completed' }], T0 + 2000);

      const result = await store.renew('w1', [held!, stillPending, takenByW2, completed!], 10_000, T0 + 2500);
      assert.deepEqual([...result.lost].sort(), [stillPending, takenByW2, completed!].sort());
      assert.deepEqual(result.cancelRequested, []);
      assert.equal((await mustGet(store, held!)).leaseExpiresAt, T0 + 12_500);
      const other = await mustGet(store, takenByW2);
      assert.equal(other.leaseOwner, 'w2');
      assert.equal(other.leaseExpiresAt, T0 + 5000);
      assert.equal((await mustGet(store, stillPending)).state, 'pending');
      assert.equal((await mustGet(store, completed!)).state, 'completed');
    });

    it('renew of nothing reports nothing', async () => {
      const store = await stores.fresh();
      assert.deepEqual(await store.renew('w1', [], 1000, T0), { lost: [], cancelRequested: [] });
    });

    it('recoverExpired returns an expired job to pending, recording the error and keeping the attempt', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store, { maxAttempts: 3 });
      await claimOne(store, { owner: 'w1', leaseMs: 1000, now: T0 });
      assert.equal(await store.recoverExpired(T0 + 1001), 1);
      const info = await mustGet(store, id);
      assert.equal(info.state, 'pending');
      assert.equal(info.attempt, 1, 'the expired attempt counts');
      assert.equal(info.errors.length, 1);
      assertLeaseExpired(info, 1, T0 + 1000, T0 + 1001);
      assert.equal(await store.recoverExpired(T0 + 1002), 0, 'recovered once');
      const again = await claimOne(store, { owner: 'w2', now: T0 + 1001 });
      assert.equal(again.attempt, 2);
    });

    it('recoverExpired sends a job whose expired attempt was its last to dead', async () => {
      const store = await stores.fresh();
      const [one, two] = await insertMany(store, [
        ...newJobs(1, { maxAttempts: 1, queue: 'one' }),
        ...newJobs(1, { maxAttempts: 2, queue: 'two' }),
      ]);
      await claimOne(store, { queue: 'one', leaseMs: 1000, now: T0 });
      await claimOne(store, { queue: 'two', leaseMs: 1000, now: T0 });
      assert.equal(await store.recoverExpired(T0 + 1001), 2);
      const dead = await mustGet(store, one!);
      assert.equal(dead.state, 'dead');
      assert.notEqual(dead.finishedAt, null);
      assertLeaseExpired(dead, 1, T0 + 1000, T0 + 1001);
      assert.equal((await mustGet(store, two!)).state, 'pending');

      assert.equal((await claimOne(store, { queue: 'two', leaseMs: 1000, now: T0 + 2000 })).attempt, 2);
      assert.equal(await store.recoverExpired(T0 + 3001), 1);
      const dead2 = await mustGet(store, two!);
      assert.equal(dead2.state, 'dead');
      assert.equal(dead2.errors.length, 2);
      assertLeaseExpired(dead2, 2, T0 + 3000, T0 + 3001);
      assert.deepEqual(await claimIds(store, 10, { queue: 'two', now: T0 + 10_000 }), []);
    });

    it('recoverExpired leaves unexpired leases and other states alone', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, newJobs(6));
      const [short1, short2, short3, long, completed] = ids;
      await claimIds(store, 3, { owner: 'w1', leaseMs: 1000, now: T0 });
      await claimIds(store, 2, { owner: 'w1', leaseMs: 5000, now: T0 });
      await store.settle('w1', [{ id: completed!, kind: 'completed' }], T0 + 1);
      assert.equal(await store.recoverExpired(T0 + 999), 0);
      for (const id of [short1!, short2!, short3!, long!]) {
        const info = await mustGet(store, id);
        assert.equal(info.state, 'running');
        assert.equal(info.leaseOwner, 'w1');
        assert.deepEqual(info.errors, []);
      }
      assert.equal(await store.recoverExpired(T0 + 1001), 3);
      assert.equal((await mustGet(store, long!)).state, 'running');
      assert.equal((await mustGet(store, completed!)).state, 'completed');
      assert.equal((await mustGet(store, ids[5]!)).state, 'pending');
      assert.deepEqual((await mustGet(store, ids[5]!)).errors, []);
    });

    it('after recovery the job belongs to its new owner and the old owner’s settle is ignored', async () => {
      const store = await stores.fresh();
      const peer = await stores.peer(store);
      const id = await insertOne(store, { maxAttempts: 5 });
      await claimOne(store, { owner: 'w1', leaseMs: 1000, now: T0 });
      assert.equal(await peer.recoverExpired(T0 + 1001), 1);
      // Before anyone reclaims it, the old owner's settle does nothing.
      await store.settle('w1', [{ id, kind: 'completed' }], T0 + 1002);
      assert.equal((await mustGet(store, id)).state, 'pending');

      const job = await claimOne(peer, { owner: 'w2', leaseMs: 60_000, now: T0 + 1003 });
      assert.equal(job.attempt, 2);
      await store.settle('w1', [{ id, kind: 'completed' }], T0 + 1004);
      await store.settle(
        'w1',
        [{ id, kind: 'dead', error: { attempt: 1, at: T0 + 1004, message: 'late', kind: 'error' } }],
        T0 + 1004,
      );
      const running = await mustGet(store, id);
      assert.equal(running.state, 'running');
      assert.equal(running.leaseOwner, 'w2');
      assert.equal(running.errors.length, 1);
      assert.deepEqual((await store.renew('w1', [id], 1000, T0 + 1005)).lost, [id]);

      await peer.settle('w2', [{ id, kind: 'completed' }], T0 + 1006);
      const done = await mustGet(store, id);
      assert.equal(done.state, 'completed');
      assert.equal(done.finishedAt, T0 + 1006);
    });
  });
}
