import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StoreFactory, T0, useStores } from '../harness.ts';

/** Worker announcements (optional methods): the queues of live workers, renewal, expiry, withdrawal. */
export function workerCases(factory: StoreFactory): void {
  describe('worker announcements', () => {
    const stores = useStores(factory);

    it('lists the queues of live workers across peers, once each; an expired or withdrawn worker drops out', async (t) => {
      const store = await stores.fresh();
      if (!store.announceWorker || !store.liveQueues || !store.withdrawWorker) {
        t.skip('this store does not announce workers');
        return;
      }
      const peer = await stores.peer(store);
      assert.deepEqual(await store.liveQueues(T0), [], 'no worker yet');
      await store.announceWorker('a', ['default', 'emails'], 5_000, T0);
      await peer.announceWorker!('b', ['emails', 'reports'], 5_000, T0);
      assert.deepEqual((await peer.liveQueues!(T0 + 1)).sort(), ['default', 'emails', 'reports']);
      // a renews with other queues; b stops renewing and expires.
      await store.announceWorker('a', ['default'], 5_000, T0 + 4_000);
      assert.deepEqual((await store.liveQueues(T0 + 6_000)).sort(), ['default'], 'b expired, a renewed');
      // An expired announcement is forgotten by the next one and can come back.
      await peer.announceWorker!('b', ['reports'], 5_000, T0 + 7_000);
      assert.deepEqual((await store.liveQueues(T0 + 7_001)).sort(), ['default', 'reports']);
      await peer.withdrawWorker!('b');
      assert.deepEqual(await store.liveQueues(T0 + 7_002), ['default'], 'b withdrew');
      await store.withdrawWorker('nobody');
      assert.deepEqual(await store.liveQueues(T0 + 7_003), ['default']);
    });
  });
}
