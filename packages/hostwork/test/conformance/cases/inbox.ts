import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInboxStore } from '../../../src/messaging/inbox-store.ts';
import { type StoreFactory, T0, useStores } from '../harness.ts';

/** The consumers' inbox (optional: InboxStore): one record per consumer and message id, for a window. */
export function inboxCases(factory: StoreFactory): void {
  describe('inbox', () => {
    const stores = useStores(factory);

    it('records a message once per consumer until it expires; a peer sees the record; pruning drops expired ones', async (t) => {
      const store = await stores.fresh();
      if (!isInboxStore(store)) {
        t.skip('this store keeps no inbox');
        return;
      }
      const peer = await stores.peer(store);
      assert.ok(isInboxStore(peer));
      assert.equal(await store.inboxHas('c1', 'm1', T0), false);
      assert.equal(await store.recordInbox('c1', 'm1', T0, T0 + 1_000), true);
      assert.equal(await peer.recordInbox('c1', 'm1', T0 + 1, T0 + 1_001), false, 'already recorded');
      assert.equal(await peer.inboxHas('c1', 'm1', T0 + 999), true);
      assert.equal(await store.inboxHas('c2', 'm1', T0), false, 'per consumer');
      assert.equal(await store.recordInbox('c2', 'm1', T0, T0 + 5_000), true);
      assert.equal(await store.inboxHas('c1', 'm1', T0 + 1_000), false, 'expired');
      assert.equal(await store.pruneInbox(T0 + 1_000, 10), 1, 'only the expired record');
      assert.equal(
        await store.recordInbox('c1', 'm1', T0 + 2_000, T0 + 3_000),
        true,
        'recorded again after expiry',
      );
      assert.equal(await store.recordInbox('c2', 'm1', T0 + 2_000, T0 + 3_000), false);
    });
  });
}
