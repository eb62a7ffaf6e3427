import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob } from '../../src/jobs/job-definition.ts';
import type { JobCount } from '../../src/jobs/job-record.ts';
import { jobHost, T, tempDb, totalJobs, waitFor, waitForState, withHost } from './helpers.ts';

// Inspection and retention: list, get, counts, retry of dead jobs, purge, and pruning of completed jobs.

const Maybe = defineJob({
  name: 'maybe',
  schema: z.object({ fail: z.boolean() }),
  maxAttempts: 1,
  handle({ fail }) {
    if (fail) throw new Error('asked to fail');
  },
});
const Other = defineJob({ name: 'other', schema: z.object({}), queue: 'side', handle() {} });

function sorted(counts: JobCount[]): JobCount[] {
  return [...counts].sort((a, b) => `${a.queue}/${a.state}`.localeCompare(`${b.queue}/${b.state}`));
}

describe('inspection', () => {
  it('lists by queue, state and name, newest first, paged; counts per queue and state', T, async () => {
    await withHost({ jobs: [Maybe, Other] }, async ({ client }) => {
      const ok = await client.enqueueMany(Maybe, [
        { payload: { fail: false } },
        { payload: { fail: false } },
      ]);
      const bad = await client.enqueue(Maybe, { fail: true });
      const side = await client.enqueueMany(Other, [{ payload: {} }, { payload: {} }, { payload: {} }]);
      const later = await client.enqueue(Maybe, { fail: false }, { delay: 60_000 });
      for (const r of ok) await waitForState(client, r.id, 'completed');
      await waitForState(client, bad.id, 'dead');

      assert.deepEqual(sorted(await client.counts()), [
        { queue: 'default', state: 'completed', count: 2 },
        { queue: 'default', state: 'dead', count: 1 },
        { queue: 'default', state: 'pending', count: 1 },
        { queue: 'side', state: 'pending', count: 3 },
      ]);

      const completed = await client.list({ state: 'completed' });
      assert.deepEqual(
        completed.map((j) => j.id),
        ok.map((r) => r.id).reverse(),
        'newest first',
      );
      const sideJobs = await client.list({ queue: 'side' });
      assert.deepEqual(
        sideJobs.map((j) => j.id),
        side.map((r) => r.id).reverse(),
      );
      assert.ok(sideJobs.every((j) => j.state === 'pending' && j.name === 'other'));
      assert.deepEqual(
        (await client.list({ state: 'pending', queue: 'default' })).map((j) => j.id),
        [later.id],
      );
      assert.equal((await client.list({ name: 'maybe' })).length, 4);
      assert.deepEqual(await client.list({ state: 'cancelled' }), []);

      // Paging: `before` is the last id of the previous page.
      const page1 = await client.list({ limit: 3 });
      const page2 = await client.list({ limit: 3, before: page1.at(-1)!.id });
      const page3 = await client.list({ limit: 3, before: page2.at(-1)!.id });
      const all = [...page1, ...page2, ...page3].map((j) => j.id);
      assert.equal(all.length, 7);
      assert.equal(new Set(all).size, 7);
      assert.deepEqual(
        all,
        [...all].sort((a, b) => Number(b) - Number(a)),
      );

      const info = await client.get(bad.id);
      assert.equal(info?.state, 'dead');
      assert.equal(info?.errors.length, 1);
      assert.deepEqual([info?.errors[0]?.attempt, info?.errors[0]?.message], [1, 'asked to fail']);
      assert.equal(await client.get('424242'), undefined);
      assert.equal(await client.get('not-an-id'), undefined);
    });
  });

  it('retries a dead job: it runs again with fresh attempts, its history kept', T, async () => {
    let runs = 0;
    const Once = defineJob({
      name: 'fails-first',
      schema: z.object({}),
      maxAttempts: 1,
      handle() {
        runs++;
        if (runs === 1) throw new Error('first run fails');
      },
    });
    await withHost({ jobs: [Once] }, async ({ client }) => {
      const { id } = await client.enqueue(Once, {});
      await waitForState(client, id, 'dead');
      assert.equal(await client.retry(id), true);
      const done = await waitForState(client, id, 'completed');
      assert.equal(runs, 2);
      assert.equal(done.attempt, 1, 'fresh attempts');
      assert.deepEqual(
        done.errors.map((e) => e.message),
        ['first run fails'],
        'the history is kept',
      );
      assert.equal(await client.retry(id), false, 'a completed job is not retried');
    });
  });

  it('retries a cancelled job', T, async () => {
    await withHost(
      { jobs: [Other], worker: { queues: { side: { concurrency: 1 } } } },
      async ({ client }) => {
        const { id } = await client.enqueue(Other, {}, { delay: 60_000 });
        assert.equal(await client.cancel(id), 'cancelled');
        assert.equal(await client.retry(id), true);
        const info = await waitForState(client, id, 'completed');
        assert.equal(info.attempt, 1);
      },
    );
  });

  it('purges finished jobs by state and filter, never running ones', T, async () => {
    const release = Promise.withResolvers<void>();
    const Blocking = defineJob({
      name: 'blocking',
      schema: z.object({}),
      async handle() {
        await release.promise;
      },
    });
    await withHost({ jobs: [Maybe, Blocking] }, async ({ client }) => {
      const dead = await client.enqueueMany(Maybe, [
        { payload: { fail: true } },
        { payload: { fail: true } },
      ]);
      const done = await client.enqueue(Maybe, { fail: false });
      const running = await client.enqueue(Blocking, {});
      for (const r of dead) await waitForState(client, r.id, 'dead');
      await waitForState(client, done.id, 'completed');
      await waitForState(client, running.id, 'running');

      assert.equal(await client.purge({ state: 'dead' }), 2);
      assert.equal(await client.get(dead[0]!.id), undefined);
      assert.equal(await client.purge({ state: 'completed', queue: 'elsewhere' }), 0);
      assert.equal(await client.purge({ state: 'completed', name: 'maybe' }), 1);
      // purge() refuses 'running' in its type; the store never deletes a running job either way.
      assert.equal(await client.store.purge({}), 0);
      assert.equal((await client.get(running.id))?.state, 'running');
      release.resolve();
      await waitForState(client, running.id, 'completed');
      assert.equal(await totalJobs(client), 1);
    });
  });
});

describe('retention', () => {
  it('prunes completed jobs on the first maintenance pass with completedRetentionMs: 0', T, async () => {
    const path = tempDb();
    // A host with the default retention completes jobs (and keeps them).
    let ids: string[] = [];
    let deadId = '';
    await withHost({ jobs: [Maybe], path }, async ({ client }) => {
      const results = await client.enqueueMany(
        Maybe,
        Array.from({ length: 5 }, () => ({ payload: { fail: false } })),
      );
      ids = results.map((r) => r.id);
      deadId = (await client.enqueue(Maybe, { fail: true })).id;
      for (const id of ids) await waitForState(client, id, 'completed');
      await waitForState(client, deadId, 'dead');
    });
    // A host with no retention prunes them as soon as it starts; dead and pending jobs stay.
    await withHost({ jobs: [Maybe], path, worker: { completedRetentionMs: 0 } }, async ({ client }) => {
      const pending = await client.enqueue(Maybe, { fail: false }, { delay: 60_000 });
      await waitFor(async () => {
        const counts = await client.counts();
        return !counts.some((c) => c.state === 'completed');
      }, 'completed jobs to be pruned');
      for (const id of ids) assert.equal(await client.get(id), undefined);
      assert.equal((await client.get(deadId))?.state, 'dead');
      assert.equal((await client.get(pending.id))?.state, 'pending');
    });
  });

  for (const worker of [{ completedRetentionMs: 0 }, { maxCompletedJobs: 0 }]) {
    it(
      `deletes a job as it completes with ${JSON.stringify(worker)}, still reporting it; failures are kept`,
      T,
      async () => {
        const h = jobHost({ jobs: [Maybe], worker });
        const completed: string[] = [];
        h.events.on('completed', (e) => completed.push(e.id));
        try {
          await h.host.start();
          const ok = await h.client.enqueueMany(
            Maybe,
            Array.from({ length: 5 }, () => ({ payload: { fail: false } })),
          );
          const bad = await h.client.enqueue(Maybe, { fail: true });
          await waitForState(h.client, bad.id, 'dead');
          await waitFor(async () => completed.length === 5, 'five completed events');
          assert.deepEqual(completed.sort(), ok.map((r) => r.id).sort());
          for (const r of ok) assert.equal(await h.client.get(r.id), undefined, `job ${r.id} deleted`);
          assert.equal((await h.client.get(bad.id))?.state, 'dead', 'a dead job stays for inspection');
          const errors = h.logs.lines.filter((l) => l.level >= 50 && l.jobId !== bad.id);
          assert.deepEqual(errors, [], "no error logged but the dead job's");
        } finally {
          await h.host.stop();
        }
      },
    );
  }

  it('keeps at most maxCompletedJobs completed jobs, the newest', T, async () => {
    const h = jobHost({ jobs: [Maybe] });
    let newestTwo: string[] = [];
    try {
      await h.host.start();
      const results = await h.client.enqueueMany(
        Maybe,
        Array.from({ length: 6 }, () => ({ payload: { fail: false } })),
      );
      const done = [];
      for (const r of results) done.push(await waitForState(h.client, r.id, 'completed'));
      done.sort((a, b) => b.finishedAt! - a.finishedAt! || Number(b.id) - Number(a.id));
      newestTwo = done.slice(0, 2).map((j) => j.id);
    } finally {
      await h.host.stop();
    }
    await withHost({ jobs: [Maybe], path: h.path, worker: { maxCompletedJobs: 2 } }, async ({ client }) => {
      await waitFor(
        async () => (await client.list({ state: 'completed' })).length === 2,
        'pruning to 2 jobs',
      );
      const kept = (await client.list({ state: 'completed' })).map((j) => j.id);
      assert.deepEqual(kept.sort(), newestTwo.sort(), 'the newest by (finishedAt, id) are kept');
    });
  });
});
