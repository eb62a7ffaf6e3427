import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineJob } from '../../src/jobs/job-definition.ts';
import {
  aborted,
  jobHost,
  overrideStore,
  rawJob,
  recordEvents,
  T,
  waitFor,
  waitForState,
  withHost,
  withHosts,
} from './helpers.ts';

// The worker: retries with backoff and their history, dead jobs, snoozes, concurrency, priority, timeouts,
// cancellation, poison jobs and the events of a job's life.

describe('retries and dead jobs', () => {
  it('retries after the backoff and succeeds, keeping each failed attempt in the history', T, async () => {
    const attempts: Array<{ attempt: number; at: number }> = [];
    const Flaky = defineJob({
      name: 'flaky',
      schema: z.object({ failures: z.number() }),
      maxAttempts: 5,
      backoff: { type: 'fixed', delay: 150 },
      handle({ failures }, ctx) {
        attempts.push({ attempt: ctx.attempt, at: Date.now() });
        if (ctx.attempt <= failures) throw new Error(`boom ${ctx.attempt}`);
        return 'ok';
      },
    });
    await withHost({ jobs: [Flaky] }, async ({ client }) => {
      const { id } = await client.enqueue(Flaky, { failures: 2 });
      const done = await waitForState(client, id, 'completed');
      assert.equal(done.attempt, 3);
      assert.deepEqual(
        attempts.map((a) => a.attempt),
        [1, 2, 3],
      );
      for (let i = 1; i < attempts.length; i++) {
        const gap = attempts[i]!.at - attempts[i - 1]!.at;
        assert.ok(gap >= 140, `attempt ${i + 1} ran ${gap} ms after the previous one; the backoff is 150 ms`);
      }
      assert.equal(done.errors.length, 2);
      done.errors.forEach((e, i) => {
        assert.equal(e.attempt, i + 1);
        assert.equal(e.message, `boom ${i + 1}`);
        assert.equal(e.kind, 'error');
        assert.match(
          e.stack ?? '',
          /Error: boom \d[\s\S]*worker\.test\.ts/,
          'the stack points at the handler',
        );
        assert.ok(e.at > 0);
      });
      assert.ok(done.finishedAt !== null && done.finishedAt >= attempts[2]!.at);
      assert.equal(done.leaseOwner, null);
    });
  });

  it('sends the job to dead after its last attempt, keeping the error', T, async () => {
    let calls = 0;
    const Doomed = defineJob({
      name: 'doomed',
      schema: z.object({}),
      maxAttempts: 2,
      backoff: { type: 'fixed', delay: 20 },
      handle() {
        calls++;
        throw new TypeError(`always fails (${calls})`);
      },
    });
    await withHost({ jobs: [Doomed] }, async ({ client, events, logs }) => {
      const recorded = recordEvents(events);
      const { id } = await client.enqueue(Doomed, {});
      const dead = await waitForState(client, id, 'dead');
      assert.equal(dead.attempt, 2);
      assert.deepEqual(
        dead.errors.map((e) => [e.attempt, e.kind, e.message]),
        [
          [1, 'error', 'always fails (1)'],
          [2, 'error', 'always fails (2)'],
        ],
      );
      assert.match(dead.errors[1]!.stack ?? '', /TypeError: always fails/);
      assert.ok(dead.finishedAt !== null);
      const deadEvent = recorded.find((e) => e.event === 'dead');
      assert.ok(deadEvent?.event === 'dead');
      assert.equal(deadEvent.attempt, 2);
      assert.equal(deadEvent.error.message, 'always fails (2)');
      const line = logs.find(`is dead after attempt 2/2`);
      assert.ok(line, 'a dead job is logged');
      assert.equal(line.level, 50);
      // Never retried by itself.
      await sleep(300);
      assert.equal(calls, 2);
      assert.equal((await client.get(id))?.state, 'dead');
    });
  });

  it('uses a backoff function of the attempt and the error', T, async () => {
    const seen: Array<[number, string]> = [];
    const Custom = defineJob({
      name: 'custom-backoff',
      schema: z.object({}),
      maxAttempts: 3,
      backoff: (attempt, error) => {
        seen.push([attempt, (error as Error).message]);
        return 10;
      },
      handle(_p, ctx) {
        if (ctx.attempt < 3) throw new Error(`fail ${ctx.attempt}`);
      },
    });
    await withHost({ jobs: [Custom] }, async ({ client }) => {
      const { id } = await client.enqueue(Custom, {});
      await waitForState(client, id, 'completed');
      assert.deepEqual(seen, [
        [1, 'fail 1'],
        [2, 'fail 2'],
      ]);
    });
  });
});

describe('snooze', () => {
  it('runs the job again later without counting the attempt', T, async () => {
    const runs: Array<{ attempt: number; at: number }> = [];
    const Polling = defineJob({
      name: 'polling',
      schema: z.object({}),
      maxAttempts: 1,
      handle(_p, ctx) {
        runs.push({ attempt: ctx.attempt, at: Date.now() });
        if (runs.length < 3) return ctx.snooze(150);
        return undefined;
      },
    });
    await withHost({ jobs: [Polling] }, async ({ client, events }) => {
      const recorded = recordEvents(events);
      const { id } = await client.enqueue(Polling, {});
      const done = await waitForState(client, id, 'completed');
      // maxAttempts is 1: had a snooze counted, the job would not have run three times.
      assert.deepEqual(
        runs.map((r) => r.attempt),
        [1, 1, 1],
      );
      assert.equal(done.attempt, 1);
      assert.deepEqual(done.errors, []);
      for (let i = 1; i < runs.length; i++) {
        const gap = runs[i]!.at - runs[i - 1]!.at;
        assert.ok(gap >= 140, `ran again ${gap} ms after a 150 ms snooze`);
      }
      const snoozed = recorded.filter((e) => e.event === 'snoozed');
      assert.equal(snoozed.length, 2);
      assert.ok(snoozed.every((e) => e.event === 'snoozed' && e.id === id && e.runAt > 0));
      assert.equal(recorded.filter((e) => e.event === 'failed').length, 0);
    });
  });
});

const Quick = defineJob({ name: 'quick', schema: z.object({ i: z.number() }), handle: () => {} });

describe('concurrency and order', () => {
  it(
    'claims the next job right after writing an outcome, without waiting for the poll (batchSize 1)',
    T,
    async () => {
      const One = defineJob({
        name: 'one',
        schema: z.object({ i: z.number() }),
        async handle() {
          await sleep(30); // still running when the claim's own follow-up looks for room
        },
      });
      await withHost(
        {
          jobs: [One],
          worker: {
            queues: { default: { concurrency: 1 } },
            batchSize: 1,
            prefetch: false,
            pollIntervalMs: 60_000,
          },
        },
        async ({ client }) => {
          const started = performance.now();
          const results = await client.enqueueMany(One, [
            { payload: { i: 0 } },
            { payload: { i: 1 } },
            { payload: { i: 2 } },
          ]);
          for (const { id } of results) await waitForState(client, id, 'completed', 5_000);
          const ms = performance.now() - started;
          assert.ok(
            ms < 3_000,
            `three one-job claims took ${Math.round(ms)} ms; each should follow the previous write`,
          );
        },
      );
    },
  );

  it('an idle queue makes no claim after each finished job (no store round trip per job)', T, async () => {
    let claims = 0;
    await withHost(
      {
        jobs: [Quick],
        worker: { pollIntervalMs: 60_000 },
        wrapStore: (store) =>
          overrideStore(store, {
            async claim(real, request) {
              claims++;
              return real(request);
            },
          }),
      },
      async ({ client }) => {
        await waitFor(async () => claims >= 1, 'the first claim at start');
        const before = claims;
        for (let i = 0; i < 5; i++) {
          const { id } = await client.enqueue(Quick, { i });
          await waitForState(client, id, 'completed');
        }
        await sleep(50); // room for a claim that would follow the last write
        assert.equal(
          claims - before,
          0,
          'jobs enqueued here ran without claims, and their writes claimed nothing',
        );
      },
    );
  });

  it(
    'a job enqueued while every slot is busy starts when one frees, without waiting for the poll',
    T,
    async () => {
      const gate = Promise.withResolvers<void>();
      const Gated = defineJob({
        name: 'gated',
        schema: z.object({}),
        async handle() {
          await gate.promise;
        },
      });
      await withHost(
        { jobs: [Gated, Quick], worker: { queues: { default: { concurrency: 1 } }, pollIntervalMs: 60_000 } },
        async ({ client }) => {
          const busy = await client.enqueue(Gated, {});
          await waitForState(client, busy.id, 'running');
          const waiting = await client.enqueue(Quick, { i: 1 });
          await sleep(20); // its wake-up finds no free slot
          assert.equal((await client.get(waiting.id))?.state, 'pending');
          gate.resolve();
          await waitForState(client, waiting.id, 'completed', 2_000);
        },
      );
    },
  );

  it('keeps about 250 ms of short jobs in hand, not a whole batch, when slots are few', T, async () => {
    const limits: number[] = [];
    const Short = defineJob({
      name: 'short',
      schema: z.object({ i: z.number() }),
      async handle() {
        await sleep(1);
      },
    });
    const h = jobHost({
      jobs: [Short],
      worker: { queues: { default: { concurrency: 1 } }, batchSize: 2_000 },
      wrapStore: (store) =>
        overrideStore(store, {
          async claim(real, request) {
            limits.push(request.limit);
            return real(request);
          },
        }),
    });
    try {
      const results = await h.client.enqueueMany(
        Short,
        Array.from({ length: 300 }, (_, i) => ({ payload: { i } })),
      );
      await h.host.start();
      for (const r of results) await waitForState(h.client, r.id, 'completed', 10_000);
      const most = Math.max(...limits);
      // Jobs of 1–3 ms at concurrency 1: about 80–250 in hand. A whole batch would be 2,000 (all 300 at once).
      assert.ok(most > 10, `short jobs are prefetched (largest claim ${most})`);
      assert.ok(
        most <= 260,
        `largest claim ${most}: more than about 250 ms of work in hand (claims: ${limits})`,
      );
    } finally {
      await h.host.stop();
    }
  });

  it(
    'starts the next claim while the jobs in hand still run, so its round trip overlaps them',
    T,
    async () => {
      let handled = 0;
      let claimed = 0;
      const starts: Array<{ handled: number; claimed: number }> = [];
      const Tiny = defineJob({
        name: 'tiny',
        schema: z.object({ i: z.number() }),
        handle() {
          handled++;
        },
      });
      const h = jobHost({
        jobs: [Tiny],
        worker: { batchSize: 100, pollIntervalMs: 60_000 },
        wrapStore: (store) =>
          overrideStore(store, {
            async claim(real, request) {
              starts.push({ handled, claimed });
              const result = await real(request);
              claimed += result.jobs.length;
              return result;
            },
          }),
      });
      try {
        const results = await h.client.enqueueMany(
          Tiny,
          Array.from({ length: 600 }, (_, i) => ({ payload: { i } })),
        );
        await h.host.start();
        for (const r of results) await waitForState(h.client, r.id, 'completed');
        // Left for the next turn of the event loop, a refill would start only once every job in hand had run.
        const early = starts.filter((s) => s.handled < s.claimed);
        assert.ok(
          early.length >= 2,
          `claims started with jobs still in hand: ${early.length} of ${starts.length} (${JSON.stringify(starts)})`,
        );
      } finally {
        await h.host.stop();
      }
    },
  );

  it('runs at most `concurrency` handlers of a queue at once, and reaches that limit', T, async () => {
    let current = 0;
    let max = 0;
    const Slow = defineJob({
      name: 'slow',
      schema: z.object({ i: z.number() }),
      async handle() {
        current++;
        max = Math.max(max, current);
        await sleep(40);
        current--;
      },
    });
    const h = jobHost({ jobs: [Slow], worker: { queues: { default: { concurrency: 3 } } } });
    try {
      const results = await h.client.enqueueMany(
        Slow,
        Array.from({ length: 15 }, (_, i) => ({ payload: { i } })),
      );
      await h.host.start();
      for (const r of results) await waitForState(h.client, r.id, 'completed');
      assert.equal(max, 3);
    } finally {
      await h.host.stop();
    }
  });

  it('keeps the limit per queue, and leaves queues it does not consume alone', T, async () => {
    const current = new Map<string, number>();
    const max = new Map<string, number>();
    const Work = defineJob({
      name: 'work',
      schema: z.object({}),
      async handle(_p, ctx) {
        current.set(ctx.queue, (current.get(ctx.queue) ?? 0) + 1);
        max.set(ctx.queue, Math.max(max.get(ctx.queue) ?? 0, current.get(ctx.queue)!));
        await sleep(30);
        current.set(ctx.queue, current.get(ctx.queue)! - 1);
      },
    });
    const h = jobHost({
      jobs: [Work],
      worker: { queues: { a: { concurrency: 1 }, b: { concurrency: 4 } } },
    });
    try {
      const items = (queue: string, n: number) =>
        Array.from({ length: n }, () => ({ payload: {}, options: { queue } }));
      const a = await h.client.enqueueMany(Work, items('a', 6));
      const b = await h.client.enqueueMany(Work, items('b', 12));
      const other = await h.client.enqueue(Work, {}, { queue: 'elsewhere' });
      await h.host.start();
      for (const r of [...a, ...b]) await waitForState(h.client, r.id, 'completed');
      assert.equal(max.get('a'), 1);
      assert.equal(max.get('b'), 4);
      assert.equal((await h.client.get(other.id))?.state, 'pending');
    } finally {
      await h.host.stop();
    }
  });

  it('runs higher priority first, then earlier run time, then older', T, async () => {
    const order: string[] = [];
    const Ordered = defineJob({
      name: 'ordered',
      schema: z.object({ tag: z.string() }),
      handle({ tag }) {
        order.push(tag);
      },
    });
    const h = jobHost({ jobs: [Ordered], worker: { queues: { default: { concurrency: 1 } } } });
    try {
      const past = Date.now() - 60_000;
      await h.client.enqueue(Ordered, { tag: 'p0-first' });
      await h.client.enqueue(Ordered, { tag: 'p5' }, { priority: 5 });
      await h.client.enqueue(Ordered, { tag: 'p0-second' });
      await h.client.enqueue(Ordered, { tag: 'p-3' }, { priority: -3 });
      await h.client.enqueue(Ordered, { tag: 'p10' }, { priority: 10 });
      await h.client.enqueue(Ordered, { tag: 'p0-past' }, { runAt: past });
      await h.client.enqueue(Ordered, { tag: 'p5-second' }, { priority: 5 });
      await h.host.start();
      await waitFor(
        () => order.length === 7,
        () => `7 jobs to run, ran ${order.join(', ')}`,
      );
      assert.deepEqual(order, ['p10', 'p5', 'p5-second', 'p0-past', 'p0-first', 'p0-second', 'p-3']);
    } finally {
      await h.host.stop();
    }
  });
});

describe('batch writes of outcomes', () => {
  it('writes a second batch while the first waits for its commit, never a third', T, async () => {
    let inFlight = 0;
    let most = 0;
    const batches: string[][] = [];
    await withHost(
      {
        jobs: [Quick],
        wrapStore: (store) =>
          overrideStore(store, {
            async settle(real, owner, settlements, now) {
              inFlight++;
              most = Math.max(most, inFlight);
              batches.push(settlements.map((s) => s.id));
              try {
                await sleep(150); // a slow commit
                return await real(owner, settlements, now);
              } finally {
                inFlight--;
              }
            },
          }),
      },
      async ({ client }) => {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          ids.push((await client.enqueue(Quick, { i })).id);
          await sleep(30); // each job finishes alone, while the writes before it are in flight
        }
        for (const id of ids) await waitForState(client, id, 'completed');
        assert.equal(most, 2, 'two writes overlap, and the third waits for one of them');
        assert.deepEqual(batches.flat().sort(), [...ids].sort(), 'each outcome written once');
      },
    );
  });

  it(
    'a completion never overtakes the last progress of its job, written by an earlier batch',
    T,
    async () => {
      const order: string[] = [];
      const Reporting = defineJob({
        name: 'reporting',
        schema: z.object({}),
        async handle(_payload, ctx) {
          ctx.progress({ done: 1 });
          await sleep(30); // the progress leaves in a batch of its own
          ctx.progress({ done: 2 });
          await sleep(30);
        },
      });
      await withHost(
        {
          jobs: [Reporting],
          wrapStore: (store) =>
            overrideStore(store, {
              async progress(real, id, value) {
                await sleep(150); // slower than the rest of the job
                await real(id, value);
                order.push(`progress ${value}`);
              },
              async settle(real, owner, settlements, now) {
                order.push('settle');
                return real(owner, settlements, now);
              },
            }),
        },
        async ({ client }) => {
          const { id } = await client.enqueue(Reporting, {});
          const done = await waitForState(client, id, 'completed');
          assert.deepEqual(order, ['progress {"done":1}', 'progress {"done":2}', 'settle']);
          assert.deepEqual(done.progress, { done: 2 }, 'the last progress is kept with the completed job');
        },
      );
    },
  );
});

describe('timeouts', () => {
  it('aborts the signal at the timeout and counts a failed attempt of kind timeout', T, async () => {
    const reasons: unknown[] = [];
    const Stuck = defineJob({
      name: 'stuck',
      schema: z.object({}),
      timeout: 150,
      maxAttempts: 2,
      backoff: { type: 'fixed', delay: 10 },
      async handle(_p, ctx) {
        await aborted(ctx.signal);
        reasons.push(ctx.signal.reason);
        throw ctx.signal.reason;
      },
    });
    await withHost({ jobs: [Stuck] }, async ({ client, events }) => {
      const recorded = recordEvents(events);
      const { id } = await client.enqueue(Stuck, {});
      const dead = await waitForState(client, id, 'dead');
      assert.equal(reasons.length, 2);
      assert.equal((reasons[0] as Error).name, 'AbortError');
      assert.deepEqual(
        dead.errors.map((e) => [e.attempt, e.kind, e.message]),
        [
          [1, 'timeout', 'Timed out after 150 ms'],
          [2, 'timeout', 'Timed out after 150 ms'],
        ],
      );
      const failed = recorded.find((e) => e.event === 'failed');
      assert.ok(failed?.event === 'failed');
      assert.ok(failed.durationMs >= 140, `the attempt lasted ${failed.durationMs} ms`);
    });
  });

  it('settles a handler that ignores its signal after abortGraceMs', T, async () => {
    let handlerEnded = false;
    const finished = Promise.withResolvers<void>();
    const Deaf = defineJob({
      name: 'deaf',
      schema: z.object({}),
      timeout: 100,
      maxAttempts: 1,
      async handle() {
        await sleep(3_000);
        handlerEnded = true;
        finished.resolve();
      },
    });
    await withHost({ jobs: [Deaf], worker: { abortGraceMs: 200 } }, async ({ client, logs }) => {
      const { id } = await client.enqueue(Deaf, {});
      const dead = await waitForState(client, id, 'dead');
      assert.equal(handlerEnded, false, 'settled without waiting for the handler');
      assert.equal(dead.errors[0]?.kind, 'timeout');
      assert.ok(logs.find('ignored its abort signal'), 'the handler is named in the log');
      await finished.promise;
      // The late end of the handler changes nothing.
      await sleep(50);
      const after = await client.get(id);
      assert.equal(after?.state, 'dead');
      assert.equal(after?.errors.length, 1);
    });
  });
});

describe('cancellation', () => {
  it('cancels a pending job: it never runs', T, async () => {
    let ran = 0;
    const Never = defineJob({
      name: 'never',
      schema: z.object({}),
      handle() {
        ran++;
      },
    });
    await withHost({ jobs: [Never] }, async ({ client }) => {
      const later = await client.enqueue(Never, {}, { delay: 400 });
      assert.equal(await client.cancel(later.id), 'cancelled');
      const probe = await client.enqueue(Never, {}, { delay: 500 });
      await waitForState(client, probe.id, 'completed');
      const info = await client.get(later.id);
      assert.equal(info?.state, 'cancelled');
      assert.ok(info?.finishedAt);
      assert.equal(ran, 1, 'only the probe ran');
      assert.equal(await client.cancel(later.id), 'finished');
      assert.equal(await client.cancel('999999'), 'not-found');
    });
  });

  it('cancels a running job: its signal aborts, it ends cancelled and is not retried', T, async () => {
    let calls = 0;
    const started = Promise.withResolvers<AbortSignal>();
    const Long = defineJob({
      name: 'long',
      schema: z.object({}),
      maxAttempts: 5,
      backoff: { type: 'fixed', delay: 10 },
      async handle(_p, ctx) {
        calls++;
        started.resolve(ctx.signal);
        await aborted(ctx.signal);
        throw ctx.signal.reason;
      },
    });
    await withHost({ jobs: [Long] }, async ({ client, events }) => {
      const recorded = recordEvents(events);
      const { id } = await client.enqueue(Long, {});
      const signal = await started.promise;
      assert.equal(await client.cancel(id), 'cancelling');
      assert.ok(signal.aborted, 'the signal aborts at once in the same process');
      const info = await waitForState(client, id, 'cancelled');
      assert.deepEqual(info.errors, [], 'a cancellation is not a failure');
      assert.ok(recorded.some((e) => e.event === 'cancelled' && e.id === id));
      await sleep(300);
      assert.equal(calls, 1, 'not retried');
      assert.equal((await client.get(id))?.state, 'cancelled');
    });
  });

  it('cancels a job running in another host: its worker learns it at the next lease renewal', T, async () => {
    const started = Promise.withResolvers<void>();
    let sawAbort = false;
    const Long = defineJob({
      name: 'long-remote',
      schema: z.object({}),
      async handle(_p, ctx) {
        started.resolve();
        await aborted(ctx.signal);
        sawAbort = true;
        throw ctx.signal.reason;
      },
    });
    await withHosts([{ jobs: [Long] }], async ([worker]) => {
      const operator = jobHost({ jobs: [Long], worker: false, path: worker!.path });
      try {
        const { id } = await operator.client.enqueue(Long, {});
        await started.promise;
        assert.equal(await operator.client.cancel(id), 'cancelling');
        const info = await waitForState(operator.client, id, 'cancelled');
        assert.ok(sawAbort);
        assert.deepEqual(info.errors, []);
      } finally {
        await operator.host.stop();
      }
    });
  });
});

describe('poison jobs', () => {
  it('sends a job no worker knows to dead at once with the reason', T, async () => {
    const Known = defineJob({ name: 'known', schema: z.object({}), handle() {} });
    await withHost({ jobs: [Known] }, async ({ client }) => {
      const [inserted] = await client.store.insert([rawJob({ name: 'ghost', maxAttempts: 10 })]);
      const dead = await waitForState(client, inserted!.id, 'dead');
      assert.equal(dead.attempt, 1, 'never retried');
      assert.equal(dead.errors.length, 1);
      assert.equal(dead.errors[0]!.kind, 'poison');
      assert.match(dead.errors[0]!.message, /No handler for job 'ghost'/);
      assert.match(dead.errors[0]!.message, /known: known/);
    });
  });

  it(
    'sends a job whose stored payload no longer validates to dead at once, naming the field',
    T,
    async () => {
      let ran = 0;
      const Strict = defineJob({
        name: 'strict',
        schema: z.object({ email: z.email() }),
        handle() {
          ran++;
        },
      });
      await withHost({ jobs: [Strict] }, async ({ client }) => {
        const [stale, broken] = await client.store.insert([
          rawJob({ name: 'strict', payload: JSON.stringify({ mail: 'old-field@example.com' }) }),
          rawJob({ name: 'strict', payload: '{not json' }),
        ]);
        const dead = await waitForState(client, stale!.id, 'dead');
        assert.equal(dead.attempt, 1);
        assert.equal(dead.errors[0]?.kind, 'poison');
        assert.match(dead.errors[0]!.message, /no longer matches the schema of 'strict'/);
        assert.match(dead.errors[0]!.message, /email/);
        const notJson = await waitForState(client, broken!.id, 'dead');
        assert.equal(notJson.errors[0]?.kind, 'poison');
        assert.match(notJson.errors[0]!.message, /not valid JSON/);
        assert.equal(ran, 0);
      });
    },
  );
});

describe('events', () => {
  it(
    'emits enqueued, started, failed, started, completed in order for a job that fails once',
    T,
    async () => {
      const Once = defineJob({
        name: 'once',
        schema: z.object({}),
        queue: 'evq',
        backoff: { type: 'fixed', delay: 30 },
        async handle(_p, ctx) {
          await sleep(5);
          if (ctx.attempt === 1) throw new Error('first try fails');
        },
      });
      await withHost(
        { jobs: [Once], worker: { queues: { evq: { concurrency: 2 } } } },
        async ({ client, events }) => {
          const recorded = recordEvents(events);
          const { id } = await client.enqueue(Once, {});
          await waitForState(client, id, 'completed');
          await waitFor(() => recorded.some((e) => e.event === 'completed'), 'the completed event');
          assert.deepEqual(
            recorded.map((e) => e.event),
            ['enqueued', 'started', 'failed', 'started', 'completed'],
          );
          for (const e of recorded) {
            assert.ok(e.event !== 'cancel-requested');
            assert.deepEqual([e.id, e.name, e.queue], [id, 'once', 'evq'], `${e.event} names the job`);
          }
          const [, started1, failed, started2, completed] = recorded;
          assert.ok(started1?.event === 'started' && started2?.event === 'started');
          assert.deepEqual([started1.attempt, started2.attempt], [1, 2]);
          assert.ok(failed?.event === 'failed');
          assert.equal(failed.attempt, 1);
          assert.equal(failed.error.message, 'first try fails');
          assert.ok(failed.durationMs >= 4 && failed.durationMs < 5_000, `durationMs ${failed.durationMs}`);
          assert.ok(failed.retryAt >= failed.error.at + 30);
          assert.ok(completed?.event === 'completed');
          assert.equal(completed.attempt, 2);
          assert.ok(
            completed.durationMs >= 4 && completed.durationMs < 5_000,
            `durationMs ${completed.durationMs}`,
          );
        },
      );
    },
  );

  it('a throwing listener does not break the engine', T, async () => {
    const Fine = defineJob({ name: 'fine', schema: z.object({}), handle() {} });
    await withHost({ jobs: [Fine] }, async ({ client, events, logs }) => {
      events.on('started', () => {
        throw new Error('listener bug');
      });
      const { id } = await client.enqueue(Fine, {});
      await waitForState(client, id, 'completed');
      assert.ok(logs.find("A 'started' event listener threw"));
    });
  });
});
