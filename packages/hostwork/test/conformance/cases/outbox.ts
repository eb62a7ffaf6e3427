import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobStore } from '../../../src/jobs/job-store.ts';
import { isOutboxStore, type OutboxMessage, type OutboxStore } from '../../../src/messaging/outbox-store.ts';
import { LONG_LEASE, type StoreFactory, T0, useStores, waitFor } from '../harness.ts';

/** An outbox message; every field can be overridden. */
function message(id: string, overrides: Partial<OutboxMessage> = {}): OutboxMessage {
  return {
    id,
    transport: 'memory',
    destination: '{"name":"orders"}',
    key: null,
    headers: '{"hostwork-type":"test"}',
    body: new TextEncoder().encode(JSON.stringify({ id })),
    delayMs: 0,
    createdAt: T0,
    ...overrides,
  };
}

function outboxOf(store: JobStore, t: { skip(message: string): void }): (JobStore & OutboxStore) | undefined {
  if (isOutboxStore(store)) return store;
  t.skip('this store keeps no outbox');
  return undefined;
}

const ids = (claimed: readonly { id: string }[]): string[] => claimed.map((m) => m.id);

/** The transactional outbox's store side (optional: OutboxStore): order, per-key holds, retries, leases, pruning. */
export function outboxCases(factory: StoreFactory): void {
  describe('outbox', () => {
    const stores = useStores(factory);

    it('claims appended messages oldest first, with every field as appended, once each', async (t) => {
      const store = outboxOf(await stores.fresh(), t);
      if (!store) return;
      const body = new Uint8Array([0, 1, 2, 255, 10]);
      await store.appendOutbox([
        message('m1', { body, key: 'k', headers: '{"a":"b"}', delayMs: 500, transport: 't2' }),
        message('m2'),
      ]);
      await store.appendOutbox([message('m3')]);
      const claimed = await store.claimOutbox(10, 'relay-a', LONG_LEASE, T0);
      assert.deepEqual(ids(claimed), ['m1', 'm2', 'm3']);
      const first = claimed[0]!;
      assert.deepEqual(
        { ...first, body: [...first.body], seq: undefined },
        {
          ...message('m1', { key: 'k', headers: '{"a":"b"}', delayMs: 500, transport: 't2' }),
          body: [...body],
          attempts: 0,
          seq: undefined,
        },
      );
      assert.ok(Number(claimed[1]!.seq) > Number(first.seq), 'seq ascends in append order');
      assert.deepEqual(await store.claimOutbox(10, 'relay-b', LONG_LEASE, T0), [], 'held by relay-a');
      assert.deepEqual(await store.countOutbox(), { unsent: 3, sent: 0 });
    });

    it('never hands out a key’s message while an earlier one of that key is held by another relay', async (t) => {
      const store = outboxOf(await stores.fresh(), t);
      if (!store) return;
      const peer = (await stores.peer(store)) as JobStore & OutboxStore;
      await store.appendOutbox([
        message('a1', { key: 'A' }),
        message('a2', { key: 'A' }),
        message('b1', { key: 'B' }),
        message('n1'),
        message('a3', { key: 'A' }),
      ]);
      const first = await store.claimOutbox(1, 'relay-a', LONG_LEASE, T0);
      assert.deepEqual(ids(first), ['a1']);
      // a2 and a3 wait behind a1 (held by relay-a); a key's later rows are never claimed past it.
      assert.deepEqual(ids(await peer.claimOutbox(10, 'relay-b', LONG_LEASE, T0)), ['b1', 'n1']);
      await store.markOutboxSent([first[0]!.seq], T0 + 1);
      assert.deepEqual(ids(await peer.claimOutbox(10, 'relay-b', LONG_LEASE, T0 + 2)), ['a2', 'a3']);
    });

    it('a failed publish counts an attempt and holds the key’s later messages until its retry is due', async (t) => {
      const store = outboxOf(await stores.fresh(), t);
      if (!store) return;
      await store.appendOutbox([message('a1', { key: 'A' }), message('a2', { key: 'A' }), message('n1')]);
      const claimed = await store.claimOutbox(10, 'relay-a', LONG_LEASE, T0);
      assert.deepEqual(ids(claimed), ['a1', 'a2', 'n1']);
      await store.retryOutbox('relay-a', [claimed[0]!.seq, claimed[1]!.seq], T0 + 1_000, 'broker down');
      await store.markOutboxSent([claimed[2]!.seq], T0 + 1);
      assert.deepEqual(await store.claimOutbox(10, 'relay-b', LONG_LEASE, T0 + 999), [], 'not due yet');
      const again = await store.claimOutbox(10, 'relay-b', LONG_LEASE, T0 + 1_000);
      assert.deepEqual(ids(again), ['a1', 'a2']);
      assert.deepEqual(
        again.map((m) => m.attempts),
        [1, 1],
      );
      // Another owner's retry or release changes nothing.
      await store.retryOutbox('relay-a', [again[0]!.seq], T0 + 5_000, 'not mine');
      await store.releaseOutbox('relay-a', [again[0]!.seq]);
      assert.deepEqual(
        await store.claimOutbox(10, 'relay-c', LONG_LEASE, T0 + 1_001),
        [],
        'still held by relay-b',
      );
      // A release hands back without counting an attempt.
      await store.releaseOutbox('relay-b', [again[0]!.seq, again[1]!.seq]);
      const released = await store.claimOutbox(10, 'relay-c', LONG_LEASE, T0 + 1_002);
      assert.deepEqual(
        released.map((m) => [m.id, m.attempts]),
        [
          ['a1', 1],
          ['a2', 1],
        ],
      );
    });

    it('peers claiming at the same moment never split a key between them', async (t) => {
      const store = outboxOf(await stores.fresh(), t);
      if (!store) return;
      const peer = (await stores.peer(store)) as JobStore & OutboxStore;
      for (let round = 0; round < 40; round++) {
        const key = `k${round}`;
        await store.appendOutbox([message(`${key}-1`, { key }), message(`${key}-2`, { key })]);
        const now = T0 + round;
        // One takes the key's first message; the other, claiming at once, must not take the second past it.
        const [one, other] = await Promise.all([
          store.claimOutbox(1, 'relay-a', LONG_LEASE, now),
          peer.claimOutbox(10, 'relay-b', LONG_LEASE, now),
        ]);
        const a = ids(one);
        const b = ids(other);
        assert.ok(
          !(a.includes(`${key}-1`) && b.includes(`${key}-2`)) &&
            !(b.includes(`${key}-1`) && a.includes(`${key}-2`)),
          `round ${round}: the key was split (relay-a ${a.join(',')}, relay-b ${b.join(',')})`,
        );
        await store.markOutboxSent(
          [...one, ...other].map((m) => m.seq),
          now,
        );
        // Whatever was left behind the held message is sent now too, so the next round starts empty.
        const rest = await store.claimOutbox(10, 'relay-c', LONG_LEASE, now);
        await store.markOutboxSent(
          rest.map((m) => m.seq),
          now,
        );
      }
    });

    it('a message held by a relay whose lease expired is claimed again, in order', async (t) => {
      const store = outboxOf(await stores.fresh(), t);
      if (!store) return;
      await store.appendOutbox([message('a1', { key: 'A' }), message('a2', { key: 'A' })]);
      assert.deepEqual(ids(await store.claimOutbox(1, 'crashed', 1_000, T0)), ['a1']);
      assert.deepEqual(await store.claimOutbox(10, 'relay-b', 1_000, T0 + 999), [], 'a1 held, a2 behind it');
      assert.deepEqual(ids(await store.claimOutbox(10, 'relay-b', 1_000, T0 + 1_000)), ['a1', 'a2']);
    });

    it('marks sent in one call, whoever holds the rows; prunes only sent rows, oldest first', async (t) => {
      const store = outboxOf(await stores.fresh(), t);
      if (!store) return;
      await store.appendOutbox([message('m1'), message('m2'), message('m3')]);
      const claimed = await store.claimOutbox(10, 'relay-a', 1_000, T0);
      await store.markOutboxSent([claimed[0]!.seq], T0 + 10);
      await store.markOutboxSent([claimed[1]!.seq], T0 + 20);
      assert.deepEqual(await store.countOutbox(), { unsent: 1, sent: 2 });
      assert.equal(await store.pruneOutbox(T0 + 15, 10), 1, 'only m1 was sent before T0+15');
      assert.equal(await store.pruneOutbox(T0 + 100, 10), 1);
      assert.deepEqual(await store.countOutbox(), { unsent: 1, sent: 0 });
      assert.deepEqual(ids(await store.claimOutbox(10, 'relay-b', 1_000, T0 + 2_000)), ['m3']);
    });

    it('an append wakes the listeners of this instance and of a peer', async (t) => {
      const store = outboxOf(await stores.fresh(), t);
      if (!store) return;
      const peer = await stores.peer(store);
      let appending = false;
      const own = waitFor('the own listener', 250);
      const other = waitFor('the peer listener', 2_000);
      const offs = [
        store.onWake(() => {
          if (appending) own.resolve();
        }),
        peer.onWake(() => {
          if (appending) other.resolve();
        }),
      ];
      try {
        appending = true;
        await store.appendOutbox([message('m1')]);
        await Promise.all([own.promise, other.promise]);
      } finally {
        for (const off of offs) off();
      }
    });
  });
}
