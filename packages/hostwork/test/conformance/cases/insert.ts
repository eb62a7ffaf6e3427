import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mustGet, newJob, newJobs, type StoreFactory, T0, useStores } from '../harness.ts';

/** migrate() and insert(). */
export function insertCases(factory: StoreFactory): void {
  describe('migrate', () => {
    const stores = useStores(factory);

    it('is idempotent and keeps existing data', async () => {
      const store = await stores.unmigrated();
      await store.migrate();
      await store.migrate();
      const [r] = await store.insert([newJob({ payload: '{"kept":true}' })]);
      await store.migrate();
      assert.deepEqual((await mustGet(store, r!.id)).payload, { kept: true });
      const peer = await stores.peer(store);
      assert.deepEqual((await mustGet(peer, r!.id)).payload, { kept: true });
    });

    it('can run from several instances at once', async () => {
      const store = await stores.unmigrated();
      const peers = [store];
      for (let i = 0; i < 3; i++) peers.push(await stores.peer(store, false));
      await Promise.all(peers.map((s) => s.migrate()));
      await Promise.all(peers.map((s) => s.migrate()));
      const [r] = await peers[1]!.insert([newJob({ payload: '{"from":1}' })]);
      for (const s of peers) assert.deepEqual((await mustGet(s, r!.id)).payload, { from: 1 });
    });
  });

  describe('close', () => {
    const stores = useStores(factory);

    it('is idempotent, and asyncDispose closes too; written data stays', async () => {
      const store = await stores.fresh();
      let id: string;
      {
        await using peer = await stores.peer(store);
        id = (await peer.insert([newJob({ payload: '{"by":"peer"}' })]))[0]!.id;
      }
      const other = await stores.peer(store);
      await other.close();
      await other.close();
      await Promise.all([other.close(), other[Symbol.asyncDispose]()]);
      assert.deepEqual((await mustGet(store, id)).payload, { by: 'peer' });
      const later = await stores.peer(store);
      assert.deepEqual((await mustGet(later, id)).payload, { by: 'peer' });
    });
  });

  describe('insert', () => {
    const stores = useStores(factory);

    it('returns one result per job, in order', async () => {
      const store = await stores.fresh();
      const jobs = [
        newJob({ name: 'a', payload: '{"n":0}' }),
        newJob({ name: 'b', queue: 'other', payload: '{"n":1}', priority: 7 }),
        newJob({ name: 'c', payload: '{"n":2}', runAt: T0 + 5000, maxAttempts: 9, timeoutMs: 1234 }),
        newJob({ name: 'd', payload: '{"n":3}', uniqueKey: 'only-d' }),
      ];
      const results = await store.insert(jobs);
      assert.equal(results.length, jobs.length);
      assert.ok(results.every((r) => r.outcome === 'inserted'));
      assert.equal(new Set(results.map((r) => r.id)).size, jobs.length, 'ids are distinct');
      for (const [i, job] of jobs.entries()) {
        const info = await mustGet(store, results[i]!.id);
        assert.equal(info.name, job.name);
        assert.equal(info.queue, job.queue);
        assert.deepEqual(info.payload, { n: i });
        assert.equal(info.priority, job.priority);
        assert.equal(info.runAt, job.runAt);
        assert.equal(info.maxAttempts, job.maxAttempts);
        assert.equal(info.timeoutMs, job.timeoutMs);
        assert.equal(info.uniqueKey, job.uniqueKey);
        assert.equal(info.state, 'pending');
      }
    });

    it('returns [] for no jobs', async () => {
      const store = await stores.fresh();
      assert.deepEqual(await store.insert([]), []);
      assert.deepEqual(await store.counts().then((c) => c.filter((r) => r.count > 0)), []);
    });

    it('inserts 1,000 jobs in one call', async () => {
      const store = await stores.fresh();
      const results = await store.insert(newJobs(1000));
      assert.equal(results.length, 1000);
      assert.ok(results.every((r) => r.outcome === 'inserted'));
      assert.equal(new Set(results.map((r) => r.id)).size, 1000);
      for (const i of [0, 1, 499, 998, 999]) {
        assert.deepEqual((await mustGet(store, results[i]!.id)).payload, { i }, `result ${i} is job ${i}`);
      }
      const pending = (await store.counts()).find((c) => c.queue === 'default' && c.state === 'pending');
      assert.equal(pending?.count, 1000);
    });

    // A bulk insert is one transaction. Every store must refuse a job without a name (the engine never sends one,
    // so this is the portable way to make one row of a batch fail): the rows before it must not be stored either.
    it('stores nothing when one row of a bulk insert fails', async () => {
      const store = await stores.fresh();
      const rows = newJobs(10);
      const broken = { ...rows[5]!, name: null as unknown as string };
      await assert.rejects(store.insert([...rows.slice(0, 5), broken, ...rows.slice(6)]));
      assert.deepEqual(await store.counts(), []);
    });
  });
}
