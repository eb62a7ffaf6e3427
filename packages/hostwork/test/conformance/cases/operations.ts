import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  claimIds,
  insertMany,
  insertOne,
  mustGet,
  newJob,
  type StoreFactory,
  T0,
  UNKNOWN_ID,
  useStores,
} from '../harness.ts';

/**
 * What a dashboard needs beyond list/counts/purge: filters by payload field and creation time (list and purge), and
 * the optional runNow, listWorkers and throughput.
 */
export function operationCases(factory: StoreFactory): void {
  describe('operations (payload and time filters, run now, workers, throughput)', () => {
    const stores = useStores(factory);

    it('list and purge filter by a payload field compared as text, nested, in arrays, with other filters', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [
        newJob({ payload: '{"customer":{"id":42,"tier":"gold"},"items":[{"sku":"A1"}],"vip":true}' }),
        newJob({ payload: '{"customer":{"id":"42","tier":"silver"},"vip":false}' }),
        newJob({ payload: '{"customer":{"id":7,"tier":"gold"},"ratio":1.5}' }),
        newJob({ payload: '{"customer":{"id":42,"tier":"gold"}}', queue: 'other' }),
        newJob({ payload: '[1,2]' }),
        newJob({ payload: '{"customer":null}' }),
        newJob({ payload: '{"customer.id":"dotted"}' }),
      ]);
      const found = async (path: string[], equals: string, queue?: string) =>
        (
          await store.list({
            limit: 50,
            payload: { path, equals },
            ...(queue === undefined ? {} : { queue }),
          })
        ).map((j) => j.id);
      assert.deepEqual(
        await found(['customer', 'id'], '42'),
        [ids[3], ids[1], ids[0]],
        'number and string alike',
      );
      assert.deepEqual(await found(['customer', 'id'], '42', 'default'), [ids[1], ids[0]], 'with a queue');
      assert.deepEqual(
        await found(['customer', 'tier'], 'gold'),
        [ids[3], ids[2], ids[0]],
        'a string, unquoted',
      );
      assert.deepEqual(await found(['vip'], 'true'), [ids[0]], 'a boolean as true/false');
      assert.deepEqual(await found(['vip'], 'false'), [ids[1]]);
      assert.deepEqual(await found(['ratio'], '1.5'), [ids[2]], 'a fraction as written');
      assert.deepEqual(
        await found(['items', '0', 'sku'], 'A1'),
        [ids[0]],
        'a digit segment indexes an array',
      );
      assert.deepEqual(await found(['customer'], 'null'), [], 'JSON null never matches');
      assert.deepEqual(await found(['customer.id'], 'dotted'), [ids[6]], 'a key with a dot is one key');
      assert.deepEqual(await found(['missing'], '42'), []);
      await assert.rejects(store.list({ limit: 5, payload: { path: [], equals: 'x' } }), /path must list/);
      await assert.rejects(store.list({ limit: 5, payload: { path: ['a"b'], equals: 'x' } }), /without/);

      assert.equal(
        await store.purge({ payload: { path: ['customer', 'tier'], equals: 'gold' }, queue: 'default' }),
        2,
      );
      assert.equal(await store.get(ids[0]!), undefined);
      assert.equal(await store.get(ids[2]!), undefined);
      assert.ok(await store.get(ids[3]!), 'the other queue kept');
      assert.ok(await store.get(ids[1]!), 'silver kept');
    });

    it('list and purge filter by ids', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [newJob(), newJob(), newJob({ queue: 'b' }), newJob()]);
      const listed = await store.list({ limit: 10, ids: [ids[0]!, ids[2]!, UNKNOWN_ID] });
      assert.deepEqual(
        listed.map((j) => j.id),
        [ids[2], ids[0]],
      );
      assert.deepEqual(
        (await store.list({ limit: 10, ids: [ids[0]!, ids[2]!], queue: 'b' })).map((j) => j.id),
        [ids[2]],
      );
      assert.deepEqual(await store.list({ limit: 10, ids: [] }), [], 'no ids, no jobs');
      await assert.rejects(store.list({ limit: 10, ids: ['x1'] }), /whole numbers/);
      assert.equal(await store.purge({ ids: [ids[1]!, ids[3]!] }), 2);
      assert.equal((await store.list({ limit: 10 })).length, 2);
    });

    it('list and purge filter by creation time: createdAfter inclusive, createdBefore exclusive', async () => {
      const store = await stores.fresh();
      const first = await insertOne(store);
      await sleep(5);
      const second = await insertOne(store);
      await sleep(5);
      const third = await insertOne(store);
      const at = (await mustGet(store, second)).createdAt;
      const firstAt = (await mustGet(store, first)).createdAt;
      const ids = async (filter: { createdAfter?: number; createdBefore?: number }) =>
        (await store.list({ limit: 10, ...filter })).map((j) => j.id);
      assert.deepEqual(await ids({ createdAfter: at }), [third, second]);
      assert.deepEqual(await ids({ createdBefore: at }), [first]);
      assert.deepEqual(await ids({ createdAfter: firstAt, createdBefore: at + 1 }), [second, first]);
      await assert.rejects(store.list({ limit: 10, createdAfter: Number.NaN }), /createdAfter/);
      assert.equal(await store.purge({ createdBefore: at }), 1);
      assert.equal(await store.get(first), undefined);
    });

    it('runNow makes a delayed pending job due; false for running, finished and unknown jobs', async (t) => {
      const store = await stores.fresh();
      if (!store.runNow) {
        t.skip('this store has no runNow');
        return;
      }
      const later = await insertOne(store, { runAt: T0 + 60_000 });
      const due = await insertOne(store, { runAt: T0 - 5 });
      assert.deepEqual(await claimIds(store, 5, { now: T0 }), [due], 'only the due job is claimed');
      assert.equal(await store.runNow(later, T0 + 10), true);
      assert.equal((await mustGet(store, later)).runAt, T0 + 10);
      assert.equal(await store.runNow(later, T0 + 20), true, 'already due: still pending');
      assert.equal((await mustGet(store, later)).runAt, T0 + 10, 'the run time of a due job is kept');
      assert.equal(await store.runNow(due, T0 + 10), false, 'running');
      assert.equal(await store.runNow(UNKNOWN_ID, T0), false);
      assert.deepEqual(await claimIds(store, 5, { now: T0 + 20 }), [later]);
      await store.settle('w1', [{ id: due, kind: 'completed' }], T0 + 30);
      assert.equal(await store.runNow(due, T0 + 40), false, 'completed');
      assert.equal((await mustGet(store, due)).state, 'completed');
    });

    it('listWorkers returns live announcements with their queues', async (t) => {
      const store = await stores.fresh();
      if (!store.listWorkers || !store.announceWorker) {
        t.skip('this store does not list workers');
        return;
      }
      await store.announceWorker('w-b', ['emails', 'reports'], 5_000, T0);
      await store.announceWorker('w-a', ['default'], 1_000, T0);
      assert.deepEqual(await store.listWorkers(T0 + 1), [
        { owner: 'w-a', queues: ['default'], expiresAt: T0 + 1_000 },
        { owner: 'w-b', queues: ['emails', 'reports'], expiresAt: T0 + 5_000 },
      ]);
      assert.deepEqual(
        (await store.listWorkers(T0 + 2_000)).map((w) => w.owner),
        ['w-b'],
        'w-a expired',
      );
    });

    it('throughput counts completed and dead jobs per bucket of finish time', async (t) => {
      const store = await stores.fresh();
      if (!store.throughput) {
        t.skip('this store has no throughput');
        return;
      }
      await insertMany(
        store,
        Array.from({ length: 5 }, () => newJob({ maxAttempts: 1 })),
      );
      const ids = await claimIds(store, 5, { now: T0 });
      const error = { attempt: 1, at: T0, message: 'x', kind: 'error' as const };
      await store.settle('w1', [{ id: ids[0]!, kind: 'completed' }], T0 + 1_000);
      await store.settle('w1', [{ id: ids[1]!, kind: 'completed' }], T0 + 59_000);
      await store.settle('w1', [{ id: ids[2]!, kind: 'dead', error }], T0 + 61_000);
      await store.settle('w1', [{ id: ids[3]!, kind: 'completed' }], T0 + 125_000);
      assert.deepEqual(await store.throughput(T0, 60_000), [
        { at: T0, completed: 2, dead: 0 },
        { at: T0 + 60_000, completed: 0, dead: 1 },
        { at: T0 + 120_000, completed: 1, dead: 0 },
      ]);
      assert.deepEqual(await store.throughput(T0 + 60_000, 60_000), [
        { at: T0 + 60_000, completed: 0, dead: 1 },
        { at: T0 + 120_000, completed: 1, dead: 0 },
      ]);
    });
  });
}
