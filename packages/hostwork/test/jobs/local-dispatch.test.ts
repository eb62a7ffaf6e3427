import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob } from '../../src/jobs/job-definition.ts';
import type { JobId } from '../../src/jobs/job-record.ts';
import type { JobStore } from '../../src/jobs/job-store.ts';
import { overrideStore, recordEvents, T, waitFor, waitForState, withHost } from './helpers.ts';

// Local dispatch: a job enqueued in a process whose worker has an idle slot for its queue is inserted already
// claimed by that worker and started without a claim.

/** Wraps a store so the ids every claim returned are recorded. */
function recordClaims(claimed: JobId[]): (store: JobStore) => JobStore {
  return (store) =>
    overrideStore(store, {
      async claim(real, request) {
        const result = await real(request);
        for (const job of result.jobs) claimed.push(job.id);
        return result;
      },
    });
}

const Echo = defineJob({ name: 'echo', schema: z.object({ n: z.number() }), handle: ({ n }) => n });

describe('local dispatch', () => {
  it(
    'an idle worker runs a job enqueued in its process without claiming it, attempt 1, events in order',
    T,
    async () => {
      const claimed: JobId[] = [];
      await withHost({ jobs: [Echo], wrapStore: recordClaims(claimed) }, async ({ client, events }) => {
        const recorded = recordEvents(events);
        const { id } = await client.enqueue(Echo, { n: 1 });
        const done = await waitForState(client, id, 'completed');
        assert.equal(done.attempt, 1);
        assert.equal(done.leaseOwner, null);
        assert.ok(!claimed.includes(id), 'no claim returned the job');
        assert.deepEqual(
          recorded.filter((e) => e.id === id).map((e) => e.event),
          ['enqueued', 'started', 'completed'],
        );
      });
    },
  );

  it('with localDispatch: false the same job is claimed', T, async () => {
    const claimed: JobId[] = [];
    await withHost(
      { jobs: [Echo], worker: { localDispatch: false }, wrapStore: recordClaims(claimed) },
      async ({ client }) => {
        const { id } = await client.enqueue(Echo, { n: 1 });
        await waitForState(client, id, 'completed');
        assert.ok(claimed.includes(id), 'a claim returned the job');
      },
    );
  });

  it('a busy worker leaves the job pending for a claim; a delayed job is never dispatched', T, async () => {
    const claimed: JobId[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const Slow = defineJob({
      name: 'slow',
      schema: z.object({}),
      async handle() {
        await gate;
      },
    });
    await withHost(
      {
        jobs: [Slow, Echo],
        worker: { queues: { default: { concurrency: 1 } } },
        wrapStore: recordClaims(claimed),
      },
      async ({ client }) => {
        const slow = await client.enqueue(Slow, {});
        await waitForState(client, slow.id, 'running');
        const waiting = await client.enqueue(Echo, { n: 2 });
        assert.equal((await client.get(waiting.id))?.state, 'pending', 'no slot was free');
        release();
        await waitForState(client, waiting.id, 'completed');
        assert.ok(claimed.includes(waiting.id), 'it was claimed once a slot was free');

        const later = await client.enqueue(Echo, { n: 3 }, { delay: 300 });
        const info = await client.get(later.id);
        assert.equal(info?.state, 'pending', 'due later, so not handed over now');
        await waitForState(client, later.id, 'completed');
        assert.ok(claimed.includes(later.id));
      },
    );
  });

  it('a duplicate unique key gives the reserved slot back', T, async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const Held = defineJob({
      name: 'held',
      schema: z.object({ n: z.number() }),
      async handle() {
        await gate;
      },
    });
    await withHost(
      { jobs: [Held], worker: { queues: { default: { concurrency: 2 } } } },
      async ({ client }) => {
        const first = await client.enqueue(Held, { n: 1 }, { uniqueKey: 'k' });
        await waitForState(client, first.id, 'running');
        const again = await client.enqueue(Held, { n: 1 }, { uniqueKey: 'k' });
        assert.deepEqual(again, { id: first.id, outcome: 'duplicate' });
        // The second slot is still free: another job goes straight to it.
        const other = await client.enqueue(Held, { n: 2 });
        await waitFor(
          async () => ((await client.get(other.id))?.state === 'running' ? true : undefined),
          'other running',
        );
        release();
        await waitForState(client, other.id, 'completed');
      },
    );
  });
});
