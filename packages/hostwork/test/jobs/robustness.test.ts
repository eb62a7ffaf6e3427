import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineJob } from '../../src/jobs/job-definition.ts';
import { JobWorker } from '../../src/jobs/job-worker.ts';
import {
  aborted,
  jobHost,
  overrideStore,
  rawJob,
  T,
  tempDb,
  waitFor,
  waitForState,
  withHost,
} from './helpers.ts';

// What must not break the worker: a schema or a backoff that throws, a failing store call, a lease that expired
// under a live handler, a store that could not be opened the first time.

const Quick = defineJob({ name: 'quick', schema: z.object({}), handle() {} });

describe('user code that throws where the engine calls it', () => {
  it(
    'settles a job whose schema throws while validating the stored payload, and frees its slot',
    T,
    async () => {
      let ran = 0;
      const Touchy = defineJob({
        name: 'touchy',
        schema: z.object({ n: z.number() }).refine((v) => {
          if (v.n === 13) throw new Error('the schema itself failed');
          return true;
        }),
        handle() {
          ran++;
        },
      });
      await withHost(
        { jobs: [Touchy, Quick], worker: { queues: { default: { concurrency: 1 } } } },
        async ({ client }) => {
          // Stored by an earlier version of the application whose schema did not throw.
          const [bad] = await client.store.insert([
            rawJob({ name: 'touchy', payload: '{"n":13}', maxAttempts: 3 }),
          ]);
          const dead = await waitForState(client, bad!.id, 'dead');
          assert.equal(dead.errors[0]?.kind, 'poison');
          assert.match(dead.errors[0]!.message, /the schema itself failed/);
          // The only slot is free again.
          const next = await client.enqueue(Quick, {});
          await waitForState(client, next.id, 'completed');
          assert.equal(ran, 0);
        },
      );
    },
  );

  it('settles the failed attempt of a job whose backoff function throws', T, async () => {
    const BadBackoff = defineJob({
      name: 'bad-backoff',
      schema: z.object({}),
      maxAttempts: 3,
      backoff: () => {
        throw new Error('backoff bug');
      },
      handle() {
        throw new Error('handler failed');
      },
    });
    await withHost(
      { jobs: [BadBackoff, Quick], worker: { queues: { default: { concurrency: 1 } } } },
      async ({ client, logs }) => {
        const { id } = await client.enqueue(BadBackoff, {});
        const info = await waitFor(async () => {
          const j = await client.get(id);
          return j && j.state !== 'running' && j.errors.length === 1 ? j : undefined;
        }, 'the failed attempt to be written');
        assert.equal(info.state, 'pending', 'retried with the default backoff');
        assert.equal(info.errors[0]!.message, 'handler failed');
        assert.ok(info.runAt > info.errors[0]!.at, 'not retried at once');
        assert.ok(logs.find('backoff'), 'the backoff failure is logged');
        const next = await client.enqueue(Quick, {});
        await waitForState(client, next.id, 'completed');
      },
    );
  });

  it('settles the failed attempt of a job whose backoff function returns no number', T, async () => {
    const NoDelay = defineJob({
      name: 'no-delay',
      schema: z.object({}),
      maxAttempts: 3,
      backoff: () => undefined as unknown as number,
      handle() {
        throw new Error('handler failed');
      },
    });
    await withHost({ jobs: [NoDelay] }, async ({ client }) => {
      const { id } = await client.enqueue(NoDelay, {});
      const info = await waitFor(async () => {
        const j = await client.get(id);
        return j && j.state !== 'running' && j.errors.length === 1 ? j : undefined;
      }, 'the failed attempt to be written');
      assert.equal(info.state, 'pending');
      assert.ok(Number.isFinite(info.runAt) && info.runAt > info.errors[0]!.at);
    });
  });
});

describe('store failures', () => {
  it('logs a failure of the first maintenance pass instead of crashing, and keeps working', T, async () => {
    let failures = 0;
    await withHost(
      {
        jobs: [Quick],
        wrapStore: (store) =>
          overrideStore(store, {
            recoverExpired: (real, now) => {
              if (failures++ === 0) return Promise.reject(new Error('database is locked'));
              return real(now);
            },
          }),
      },
      async ({ client, logs }) => {
        await waitFor(() => failures >= 2, 'a second maintenance pass');
        assert.ok(logs.lines.some((l) => JSON.stringify(l).includes('database is locked')));
        const { id } = await client.enqueue(Quick, {});
        await waitForState(client, id, 'completed');
      },
    );
  });

  it('lets the client retry after the store failed to open once', T, async () => {
    const path = tempDb();
    // The database's folder is blocked by a file: opening fails until it is removed.
    const blocker = dirname(path);
    rmSync(blocker, { recursive: true });
    writeFileSync(blocker, 'not a folder');
    const nested = join(blocker, 'jobs.db');
    const h = jobHost({ jobs: [Quick], worker: false, path: nested });
    try {
      await assert.rejects(h.client.enqueue(Quick, {}));
      rmSync(blocker);
      const { outcome } = await h.client.enqueue(Quick, {});
      assert.equal(outcome, 'inserted');
      assert.equal((await h.client.list()).length, 1);
    } finally {
      await h.host.stop();
    }
  });
});

describe('a lease that expired under a live handler', () => {
  it(
    'aborts the stale attempt when this worker claims the job again, and keeps its slot count right',
    T,
    async () => {
      const signals: AbortSignal[] = [];
      const gate = Promise.withResolvers<void>();
      const Held = defineJob({
        name: 'held',
        schema: z.object({}),
        async handle(_p, ctx) {
          signals.push(ctx.signal);
          if (signals.length === 1) await Promise.race([gate.promise, aborted(ctx.signal)]);
        },
      });
      // Two jobs that each wait for the other to start: they complete only if both slots are free.
      const arrived = new Set<string>();
      const Pair = defineJob({
        name: 'pair',
        schema: z.object({}),
        async handle(_p, ctx) {
          arrived.add(ctx.id);
          await waitFor(() => arrived.size === 2 || ctx.signal.aborted, 'the other job of the pair', 5_000);
        },
      });
      await withHost(
        {
          jobs: [Held, Pair],
          worker: { queues: { default: { concurrency: 2 } }, heartbeatMs: 1_000, leaseMs: 4_000 },
        },
        async ({ host, client, logs }) => {
          const worker = host.services.get(JobWorker);
          const { id } = await client.enqueue(Held, {});
          await waitFor(() => signals.length === 1, 'the first attempt to start');
          // The lease runs out while the handler still runs (as when the event loop was blocked for a while);
          // maintenance recovers the job and, a slot being free, this worker claims it again.
          await client.store.renew(worker.owner, [id], -1_000, Date.now());
          const done = await waitForState(client, id, 'completed');
          assert.equal(signals.length, 2, 'the job was claimed again');
          assert.ok(signals[0]!.aborted, 'the stale attempt was aborted');
          assert.equal(done.errors[0]?.kind, 'lease-expired');
          assert.ok(logs.find('claimed again after its lease expired'));
          gate.resolve();
          // Both slots are free again.
          const pair = await client.enqueueMany(Pair, [{ payload: {} }, { payload: {} }]);
          for (const r of pair) await waitForState(client, r.id, 'completed');
          assert.equal(worker.runningCount, 0);
        },
      );
    },
  );
});
