import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { insertOne, type StoreFactory, useStores, waitFor } from '../harness.ts';

/** How long another instance may take to notice an insert. */
const PEER_WAKE_MS = 2000;
/** How long the inserting instance may take to wake its own listeners. */
const OWN_WAKE_MS = 250;

/** onWake(): listeners learn about new work, in this instance at once and in others soon. */
export function wakeCases(factory: StoreFactory): void {
  describe('wake', () => {
    const stores = useStores(factory);

    it('a listener on a peer is called after an insert', async () => {
      const store = await stores.fresh();
      const peer = await stores.peer(store);
      let inserting = false;
      const woken = waitFor('the peer listener', PEER_WAKE_MS);
      const unsubscribe = peer.onWake(() => {
        if (inserting) woken.resolve();
      });
      try {
        inserting = true;
        await insertOne(store);
        await woken.promise;
      } finally {
        unsubscribe();
      }
    });

    it('an insert wakes the listeners of its own instance promptly', async () => {
      const store = await stores.fresh();
      let inserting = false;
      const first = waitFor('the first own listener', OWN_WAKE_MS);
      const second = waitFor('the second own listener', OWN_WAKE_MS);
      const offs = [
        store.onWake(() => {
          if (inserting) first.resolve();
        }),
        store.onWake(() => {
          if (inserting) second.resolve();
        }),
      ];
      try {
        inserting = true;
        await insertOne(store);
        await Promise.all([first.promise, second.promise]);
      } finally {
        for (const off of offs) off();
      }
    });

    it('unsubscribe stops calls, here and on a peer', async () => {
      const store = await stores.fresh();
      const peer = await stores.peer(store);
      let inserting = false;
      let stoppedCalls = 0;
      const stopped = () => {
        if (inserting) stoppedCalls++;
      };
      const offOwn = store.onWake(stopped);
      const offPeer = peer.onWake(stopped);
      offOwn();
      offPeer();
      offPeer(); // twice is harmless
      // Still-subscribed listeners prove the wake-ups happened.
      const own = waitFor('the own listener', OWN_WAKE_MS);
      const other = waitFor('the peer listener', PEER_WAKE_MS);
      const offs = [
        store.onWake(() => {
          if (inserting) own.resolve();
        }),
        peer.onWake(() => {
          if (inserting) other.resolve();
        }),
      ];
      try {
        inserting = true;
        await insertOne(store);
        await Promise.all([own.promise, other.promise]);
        assert.equal(stoppedCalls, 0, 'an unsubscribed listener was called');
      } finally {
        for (const off of offs) off();
      }
    });
  });
}
