import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LATEST_TIME } from '../../../src/jobs/handler-values.ts';
import type { AttemptError, JobState, Settlement } from '../../../src/jobs/job-record.ts';
import {
  claimIds,
  claimOne,
  countMap,
  insertMany,
  insertOne,
  LONG_LEASE,
  mustGet,
  newJobs,
  type StoreFactory,
  T0,
  useStores,
} from '../harness.ts';

function failure(attempt: number, at: number, message: string, stack?: string): AttemptError {
  return stack === undefined
    ? { attempt, at, message, kind: 'error' }
    : { attempt, at, message, stack, kind: 'error' };
}

/** settle(): every kind of outcome, owner checks, and mixed batches. */
export function settleCases(factory: StoreFactory): void {
  describe('settle', () => {
    const stores = useStores(factory);

    it('completed: finishes the job and it is never claimed again', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store);
      await claimOne(store);
      await store.settle('w1', [{ id, kind: 'completed' }], T0 + 100);
      const info = await mustGet(store, id);
      assert.equal(info.state, 'completed');
      assert.equal(info.finishedAt, T0 + 100);
      assert.deepEqual(info.errors, []);
      assert.deepEqual(await claimIds(store, 10, { now: T0 + 10 * LONG_LEASE }), []);
    });

    it('retry: back to pending at runAt with the error appended, not claimable before then', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store, { maxAttempts: 5 });
      await claimOne(store);
      const first = failure(1, T0 + 10, 'first failure', 'Error: first failure\n    at handler (job.ts:1:1)');
      await store.settle('w1', [{ id, kind: 'retry', runAt: T0 + 5000, error: first }], T0 + 10);
      const info = await mustGet(store, id);
      assert.equal(info.state, 'pending');
      assert.equal(info.runAt, T0 + 5000);
      assert.equal(info.attempt, 1);
      assert.equal(info.finishedAt, null);
      assert.deepEqual(info.errors, [first]);

      const early = await store.claim({
        queue: 'default',
        limit: 1,
        owner: 'w2',
        leaseMs: 1000,
        now: T0 + 4999,
      });
      assert.deepEqual(early.jobs, []);
      assert.equal(early.nextRunAt, T0 + 5000);

      const job = await claimOne(store, { owner: 'w2', now: T0 + 5000 });
      assert.equal(job.attempt, 2);
      const second = failure(2, T0 + 5100, 'second failure');
      await store.settle('w2', [{ id, kind: 'retry', runAt: T0 + 9000, error: second }], T0 + 5100);
      assert.deepEqual(
        (await mustGet(store, id)).errors,
        [first, second],
        'errors are kept in attempt order',
      );
    });

    it('dead: finishes the job keeping every error with its message and stack', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store, { maxAttempts: 2 });
      await claimOne(store);
      const first = failure(1, T0 + 1, 'transient', 'Error: transient\n    at a (a.ts:1:1)');
      await store.settle('w1', [{ id, kind: 'retry', runAt: T0 + 2, error: first }], T0 + 1);
      await claimOne(store, { now: T0 + 2 });
      const last: AttemptError = {
        attempt: 2,
        at: T0 + 3,
        message: 'fatal: "quoted" \\ and ünïcode ✓',
        stack: 'Error: fatal\n    at b (b.ts:2:2)',
        kind: 'poison',
      };
      await store.settle('w1', [{ id, kind: 'dead', error: last }], T0 + 3);
      const info = await mustGet(store, id);
      assert.equal(info.state, 'dead');
      assert.equal(info.finishedAt, T0 + 3);
      assert.deepEqual(info.errors, [first, last]);
      assert.deepEqual(await claimIds(store, 10, { now: T0 + 10 * LONG_LEASE }), []);
    });

    it('cancelled: finishes the job and it is never claimed again', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store);
      await claimOne(store);
      await store.settle('w1', [{ id, kind: 'cancelled' }], T0 + 50);
      const info = await mustGet(store, id);
      assert.equal(info.state, 'cancelled');
      assert.equal(info.finishedAt, T0 + 50);
      assert.deepEqual(await claimIds(store, 10, { now: T0 + 10 * LONG_LEASE }), []);
    });

    it('release: back to pending at runAt without counting the attempt', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store, { maxAttempts: 1 });
      assert.equal((await claimOne(store)).attempt, 1);
      await store.settle('w1', [{ id, kind: 'release', runAt: T0 + 2000 }], T0 + 5);
      const info = await mustGet(store, id);
      assert.equal(info.state, 'pending');
      assert.equal(info.runAt, T0 + 2000);
      assert.deepEqual(info.errors, []);
      assert.deepEqual(await claimIds(store, 1, { now: T0 + 1999 }), []);
      const again = await claimOne(store, { owner: 'w2', now: T0 + 2000 });
      assert.equal(again.attempt, 1, 'the released attempt is not counted');
      assert.equal((await mustGet(store, id)).attempt, 1);
      // Released again and again: still attempt 1, even with maxAttempts 1.
      await store.settle('w2', [{ id, kind: 'release', runAt: T0 + 3000 }], T0 + 2001);
      assert.equal((await claimOne(store, { now: T0 + 3000 })).attempt, 1);
    });

    it('changes nothing for a job the owner does not hold', async () => {
      const store = await stores.fresh();
      const [running, pending] = await insertMany(store, newJobs(2));
      await claimOne(store, { owner: 'w1', leaseMs: 10_000 });
      const kinds: Settlement[] = [
        { id: running!, kind: 'completed' },
        { id: running!, kind: 'dead', error: failure(1, T0, 'x') },
        { id: running!, kind: 'cancelled' },
        { id: running!, kind: 'retry', runAt: T0 + 1, error: failure(1, T0, 'x') },
        { id: running!, kind: 'release', runAt: T0 + 1 },
        { id: pending!, kind: 'completed' },
        { id: pending!, kind: 'dead', error: failure(1, T0, 'x') },
      ];
      const before = await mustGet(store, running!);
      for (const s of kinds) await store.settle('w2', [s], T0 + 1);
      assert.deepEqual(await mustGet(store, running!), before);
      const p = await mustGet(store, pending!);
      assert.equal(p.state, 'pending');
      assert.deepEqual(p.errors, []);
      // Settling twice: the second settle finds the job no longer leased and changes nothing.
      await store.settle('w1', [{ id: running!, kind: 'completed' }], T0 + 2);
      await store.settle('w1', [{ id: running!, kind: 'dead', error: failure(1, T0 + 3, 'late') }], T0 + 3);
      await store.settle('w1', [{ id: running!, kind: 'release', runAt: T0 + 4 }], T0 + 4);
      const done = await mustGet(store, running!);
      assert.equal(done.state, 'completed');
      assert.equal(done.finishedAt, T0 + 2);
      assert.deepEqual(done.errors, []);
    });

    it('completed with remove: deletes the job, and only a job the owner holds', async () => {
      const store = await stores.fresh();
      const [mine, theirs, pending] = await insertMany(store, newJobs(3));
      await claimOne(store, { owner: 'w1' });
      await claimOne(store, { owner: 'w2' });
      await store.settle(
        'w1',
        [mine, theirs, pending].map((id) => ({ id: id!, kind: 'completed' as const, remove: true })),
        T0 + 5,
      );
      assert.equal(await store.get(mine!), undefined, 'removed');
      assert.equal((await mustGet(store, theirs!)).state, 'running', "another owner's job stays");
      assert.equal((await mustGet(store, pending!)).state, 'pending', 'a pending job stays');
      assert.deepEqual(await countMap(store), { 'default/running': 1, 'default/pending': 1 });
    });

    it('a mixed batch removes the completions marked remove and writes every other outcome', async () => {
      const store = await stores.fresh();
      const [removed, kept, retried, dead] = await insertMany(store, newJobs(4, { maxAttempts: 3 }));
      assert.equal((await claimIds(store, 4, { owner: 'w1' })).length, 4);
      await store.settle(
        'w1',
        [
          { id: removed!, kind: 'completed', remove: true },
          { id: kept!, kind: 'completed' },
          { id: retried!, kind: 'retry', runAt: T0 + 100, error: failure(1, T0 + 7, 'again') },
          { id: dead!, kind: 'dead', error: failure(1, T0 + 7, 'gone') },
        ],
        T0 + 7,
      );
      assert.equal(await store.get(removed!), undefined);
      const k = await mustGet(store, kept!);
      assert.equal(k.state, 'completed');
      assert.equal(k.finishedAt, T0 + 7);
      assert.equal((await mustGet(store, retried!)).state, 'pending');
      assert.deepEqual((await mustGet(store, dead!)).errors, [failure(1, T0 + 7, 'gone')]);
    });

    it('accepts an empty batch', async () => {
      const store = await stores.fresh();
      await store.settle('w1', [], T0);
    });

    it('writes a mixed batch of 100 settlements in one call, skipping jobs held by others', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, newJobs(100, { maxAttempts: 5 }));
      const others = await insertMany(store, newJobs(3, { queue: 'others' }));
      assert.equal((await claimIds(store, 100, { owner: 'w1' })).length, 100);
      assert.equal((await claimIds(store, 3, { owner: 'w2', queue: 'others' })).length, 3);
      const kinds = ['completed', 'retry', 'dead', 'cancelled', 'release'] as const;
      const settlements: Settlement[] = ids.map((id, i) => {
        const kind = kinds[i % 5]!;
        if (kind === 'retry')
          return { id, kind, runAt: T0 + 1000 + i, error: failure(1, T0 + 9, `retry ${i}`) };
        if (kind === 'dead') return { id, kind, error: failure(1, T0 + 9, `dead ${i}`, `stack ${i}`) };
        if (kind === 'release') return { id, kind, runAt: T0 + 2000 + i };
        return { id, kind };
      });
      settlements.push(...others.map((id) => ({ id, kind: 'completed' as const })));
      await store.settle('w1', settlements, T0 + 9);

      const expected: Record<(typeof kinds)[number], JobState> = {
        completed: 'completed',
        retry: 'pending',
        dead: 'dead',
        cancelled: 'cancelled',
        release: 'pending',
      };
      for (const [i, id] of ids.entries()) {
        const kind = kinds[i % 5]!;
        const info = await mustGet(store, id);
        assert.equal(info.state, expected[kind], `job ${i} (${kind})`);
        if (kind === 'retry') {
          assert.equal(info.runAt, T0 + 1000 + i);
          assert.deepEqual(info.errors, [failure(1, T0 + 9, `retry ${i}`)]);
        } else if (kind === 'dead') {
          assert.deepEqual(info.errors, [failure(1, T0 + 9, `dead ${i}`, `stack ${i}`)]);
        } else if (kind === 'release') {
          assert.equal(info.runAt, T0 + 2000 + i);
          assert.deepEqual(info.errors, []);
        } else {
          assert.equal(info.finishedAt, T0 + 9);
          assert.deepEqual(info.errors, []);
        }
      }
      for (const id of others) assert.equal((await mustGet(store, id)).state, 'running');
      assert.deepEqual(await countMap(store), {
        'default/completed': 20,
        'default/dead': 20,
        'default/cancelled': 20,
        'default/pending': 40,
        'others/running': 3,
      });
    });

    it('stores any message the engine produces (replacement characters, emoji, 16 KiB) and a run time as late as a Date', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store, { maxAttempts: 5 });
      await claimOne(store);
      const message = `bad\uFFFDbyte 🙂 ${'x'.repeat(16_384)}`;
      await store.settle(
        'w1',
        [{ id, kind: 'retry', runAt: LATEST_TIME, error: failure(1, T0 + 1, message, message) }],
        T0 + 1,
      );
      const info = await mustGet(store, id);
      assert.equal(info.errors[0]!.message, message);
      assert.equal(info.errors[0]!.stack, message);
      assert.equal(info.runAt, LATEST_TIME);
    });

    it('refuses an outcome it cannot hold with an error it calls permanent, and changes nothing', async () => {
      const store = await stores.fresh();
      const id = await insertOne(store);
      await claimOne(store);
      const refusal = await store.settle('w1', [{ id, kind: 'release', runAt: Number.NaN }], T0 + 1).then(
        () => assert.fail('a run time of NaN was accepted'),
        (error: unknown) => error,
      );
      assert.equal(typeof store.isPermanentError, 'function', 'the built-in stores classify their errors');
      assert.equal(store.isPermanentError?.(refusal), true, `not called permanent: ${String(refusal)}`);
      assert.equal(store.isPermanentError?.(new Error('Connection terminated unexpectedly')), false);
      assert.equal((await mustGet(store, id)).state, 'running');
    });
  });
}
