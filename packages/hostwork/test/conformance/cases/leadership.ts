import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StoreFactory, T0, useStores } from '../harness.ts';

/** Maintenance leadership: one leader at a time, renewal, expiry hand-over, release. */
export function leadershipCases(factory: StoreFactory): void {
  describe('leadership', () => {
    const stores = useStores(factory);

    it('one owner leads at a time, even when several race for it', async () => {
      const store = await stores.fresh();
      const peers = [store, ...(await Promise.all([1, 2, 3, 4].map(() => stores.peer(store))))];
      const won = await Promise.all(peers.map((p, i) => p.acquireLeadership(`owner-${i}`, 5_000, T0)));
      assert.equal(won.filter(Boolean).length, 1, `winners: ${JSON.stringify(won)}`);
    });

    it('the leader keeps leading by renewing; others cannot take over before expiry', async () => {
      const store = await stores.fresh();
      const peer = await stores.peer(store);
      assert.equal(await store.acquireLeadership('a', 5_000, T0), true);
      assert.equal(await peer.acquireLeadership('b', 5_000, T0 + 1_000), false);
      assert.equal(await store.acquireLeadership('a', 5_000, T0 + 4_000), true, 'renewed until T0 + 9 s');
      assert.equal(
        await peer.acquireLeadership('b', 5_000, T0 + 8_000),
        false,
        'still within the renewed lease',
      );
    });

    it('another owner takes over once the leader stops renewing', async () => {
      const store = await stores.fresh();
      const peer = await stores.peer(store);
      assert.equal(await store.acquireLeadership('a', 5_000, T0), true);
      assert.equal(await peer.acquireLeadership('b', 5_000, T0 + 5_001), true, 'expired: b takes over');
      assert.equal(await store.acquireLeadership('a', 5_000, T0 + 5_002), false, 'a lost it');
    });

    it('a released leadership is free at once', async () => {
      const store = await stores.fresh();
      const peer = await stores.peer(store);
      assert.equal(await store.acquireLeadership('a', 60_000, T0), true);
      await peer.releaseLeadership('b');
      assert.equal(
        await peer.acquireLeadership('b', 60_000, T0 + 1),
        false,
        "b cannot release a's leadership",
      );
      await store.releaseLeadership('a');
      assert.equal(await peer.acquireLeadership('b', 60_000, T0 + 2), true);
    });
  });
}
