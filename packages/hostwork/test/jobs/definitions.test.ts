import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { createHostBuilder } from '../../src/hosting/index.ts';
import { addJobs } from '../../src/jobs/add-jobs.ts';
import type { JobContext } from '../../src/jobs/job-definition.ts';
import { defineJob, jobDefaults } from '../../src/jobs/job-definition.ts';
import {
  expectRejection,
  expectThrow,
  jobHost,
  recordEvents,
  T,
  waitFor,
  waitForState,
  withHost,
} from './helpers.ts';

// Job definitions: typed payloads, defaults and overrides as stored, and what a handler's context carries.

const Email = defineJob({
  name: 'email',
  schema: z.object({ to: z.email(), subject: z.string().min(1), attempts: z.number().int().optional() }),
  handle(payload) {
    // The handler's payload is the schema's output type.
    const subject: string = payload.subject;
    // @ts-expect-error: the payload has no such field
    void payload.body;
    return subject;
  },
});

describe('typed payloads', () => {
  it(
    'refuses the wrong payload type at compile time, and at run time with the failing field',
    T,
    async () => {
      const { host, client } = jobHost({ jobs: [Email], worker: false });
      try {
        const ok = await client.enqueue(Email, { to: 'a@example.com', subject: 'Hi' });
        assert.equal(ok.outcome, 'inserted');
        const wrong = { to: 'a@example.com', subject: 42 } as const;
        await expectRejection(
          // @ts-expect-error: subject must be a string
          client.enqueue(Email, wrong),
          ErrorCodes.JOB_INVALID_PAYLOAD,
          'subject',
        );
        await expectRejection(
          // @ts-expect-error: `to` is required
          client.enqueue(Email, { subject: 'Hi' }),
          ErrorCodes.JOB_INVALID_PAYLOAD,
          'to',
        );
        assert.equal((await client.list()).length, 1, 'only the valid job is stored');
      } finally {
        await host.stop();
      }
    },
  );
});

describe('defaults and overrides', () => {
  const Report = defineJob({
    name: 'report',
    schema: z.object({ n: z.number() }),
    queue: 'reports',
    priority: 5,
    maxAttempts: 3,
    backoff: { type: 'fixed', delay: 60_000 },
    timeout: 1_500,
    handle() {},
  });
  const Plain = defineJob({ name: 'plain', schema: z.object({}), handle() {} });

  it('stores the definition defaults, and the library defaults when a definition sets none', T, async () => {
    const { host, client } = jobHost({ jobs: [Report, Plain], worker: false });
    try {
      const a = await client.get((await client.enqueue(Report, { n: 1 })).id);
      assert.deepEqual(
        { queue: a?.queue, priority: a?.priority, maxAttempts: a?.maxAttempts, timeoutMs: a?.timeoutMs },
        { queue: 'reports', priority: 5, maxAttempts: 3, timeoutMs: 1_500 },
      );
      assert.deepEqual(a?.payload, { n: 1 });
      assert.equal(a?.state, 'pending');
      assert.equal(a?.attempt, 0);
      assert.deepEqual(a?.errors, []);

      const b = await client.get((await client.enqueue(Plain, {})).id);
      assert.deepEqual(
        { queue: b?.queue, priority: b?.priority, maxAttempts: b?.maxAttempts, timeoutMs: b?.timeoutMs },
        {
          queue: jobDefaults.queue,
          priority: jobDefaults.priority,
          maxAttempts: jobDefaults.maxAttempts,
          timeoutMs: jobDefaults.timeout,
        },
      );
    } finally {
      await host.stop();
    }
  });

  it('stores per-enqueue overrides of queue, priority, maxAttempts, backoff and timeout', T, async () => {
    const { host, client } = jobHost({ jobs: [Report], worker: false });
    try {
      const { id } = await client.enqueue(
        Report,
        { n: 2 },
        { queue: 'urgent', priority: -2, maxAttempts: 7, backoff: { type: 'fixed', delay: 25 }, timeout: 0 },
      );
      const info = await client.get(id);
      assert.deepEqual(
        {
          queue: info?.queue,
          priority: info?.priority,
          maxAttempts: info?.maxAttempts,
          timeoutMs: info?.timeoutMs,
        },
        { queue: 'urgent', priority: -2, maxAttempts: 7, timeoutMs: 0 },
      );
      // The backoff is not part of JobInfo: a claim shows what is stored (a per-job override, or null).
      const defaulted = await client.enqueue(Report, { n: 3 }, { queue: 'urgent' });
      const { jobs } = await client.store.claim({
        queue: 'urgent',
        limit: 10,
        owner: 'test',
        leaseMs: 60_000,
        now: Date.now(),
      });
      const byId = new Map(jobs.map((j) => [j.id, j]));
      assert.deepEqual(JSON.parse(byId.get(id)?.backoff ?? 'null'), { type: 'fixed', delay: 25 });
      assert.equal(
        byId.get(defaulted.id)?.backoff,
        null,
        "without an override the definition's backoff applies",
      );
    } finally {
      await host.stop();
    }
  });

  it('uses the per-enqueue backoff for the retry delay instead of the definition default', T, async () => {
    let calls = 0;
    const Flaky = defineJob({
      name: 'flaky',
      schema: z.object({}),
      backoff: { type: 'fixed', delay: 60_000 },
      handle() {
        calls++;
        if (calls === 1) throw new Error('first attempt fails');
      },
    });
    await withHost({ jobs: [Flaky] }, async ({ client, events }) => {
      const recorded = recordEvents(events);
      const { id } = await client.enqueue(Flaky, {}, { backoff: { type: 'fixed', delay: 50 } });
      const done = await waitForState(client, id, 'completed');
      assert.equal(done.attempt, 2);
      const failed = recorded.find((e) => e.event === 'failed');
      assert.ok(failed?.event === 'failed');
      const delay = failed.retryAt - failed.error.at;
      assert.ok(delay >= 0 && delay < 1_000, `retry delay ${delay} ms: the override (50 ms) should apply`);
    });
  });

  it('refuses invalid definitions, naming the bad option', () => {
    expectThrow(
      () => defineJob({ name: 'bad', schema: z.object({}), maxAttempts: 0, handle() {} }),
      ErrorCodes.INVALID_OPTION,
      'maxAttempts',
    );
    expectThrow(
      // @ts-expect-error: not an option of defineJob
      () => defineJob({ name: 'bad', schema: z.object({}), retries: 3, handle() {} }),
      ErrorCodes.UNKNOWN_OPTION,
      'retries',
    );
    expectThrow(
      // @ts-expect-error: a schema is required
      () => defineJob({ name: 'bad', schema: {}, handle() {} }),
      ErrorCodes.INVALID_OPTION,
      'Standard Schema',
    );
  });
});

describe('addJobs setup', () => {
  const builder = () => createHostBuilder({ env: {}, args: [], logging: { level: 'silent' } });

  it('refuses two different definitions with one name, and bad worker options, naming them', () => {
    const A = defineJob({ name: 'twin', schema: z.object({}), handle() {} });
    const B = defineJob({ name: 'twin', schema: z.object({}), handle() {} });
    expectThrow(() => addJobs(builder(), { jobs: [A, B] }), ErrorCodes.JOB_NOT_REGISTERED, "'twin'");
    expectThrow(
      () => addJobs(builder(), { jobs: [A], worker: { leaseMs: 1_000, heartbeatMs: 1_000 } }),
      ErrorCodes.INVALID_OPTION,
      'heartbeatMs',
    );
    expectThrow(
      // @ts-expect-error: not a worker option
      () => addJobs(builder(), { jobs: [A], worker: { concurrency: 5 } }),
      ErrorCodes.UNKNOWN_OPTION,
      "'concurrency'",
    );
    expectThrow(
      () => addJobs(builder(), { jobs: [A], worker: { queues: { default: { concurrency: 0 } } } }),
      ErrorCodes.INVALID_OPTION,
      'queues.default.concurrency',
    );
    expectThrow(
      // @ts-expect-error: not a setup key
      () => addJobs(builder(), { jobs: [A], workers: {} }),
      ErrorCodes.UNKNOWN_OPTION,
      "'workers'",
    );
  });
});

describe('the job context', () => {
  /** A scoped service that counts instances and disposals, to observe the scope of each attempt. */
  class Probe implements Disposable {
    static created = 0;
    static disposed = 0;
    readonly n = ++Probe.created;
    disposed = false;
    [Symbol.dispose](): void {
      this.disposed = true;
      Probe.disposed++;
    }
  }

  interface Seen {
    readonly ctx: JobContext;
    readonly signal: AbortSignal;
    readonly aborted: boolean;
    readonly probe: Probe;
    readonly sameProbe: boolean;
    readonly earlierProbesDisposed: boolean;
  }

  it(
    'carries id, name, queue, attempt, signal, a bound logger and a fresh DI scope per attempt',
    T,
    async () => {
      Probe.created = 0;
      Probe.disposed = 0;
      const seen: Seen[] = [];
      const Ctx = defineJob({
        name: 'ctx',
        schema: z.object({ n: z.number() }),
        queue: 'ctxq',
        maxAttempts: 4,
        backoff: { type: 'fixed', delay: 10 },
        handle(_payload, ctx) {
          const probe = ctx.services.get(Probe);
          seen.push({
            ctx,
            signal: ctx.signal,
            aborted: ctx.signal.aborted,
            probe,
            sameProbe: ctx.services.get(Probe) === probe,
            earlierProbesDisposed: seen.every((s) => s.probe.disposed),
          });
          ctx.logger.info({ marker: true }, `hello from attempt ${ctx.attempt}`);
          if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} fails`);
        },
      });
      await withHost(
        {
          jobs: [Ctx],
          worker: { queues: { ctxq: { concurrency: 1 } } },
          configure: (b) => b.services.addScoped(Probe),
        },
        async ({ client, logs }) => {
          const { id } = await client.enqueue(Ctx, { n: 1 });
          const done = await waitForState(client, id, 'completed');
          assert.equal(done.attempt, 3);
          assert.equal(seen.length, 3);
          seen.forEach((s, i) => {
            assert.equal(s.ctx.id, id);
            assert.equal(s.ctx.name, 'ctx');
            assert.equal(s.ctx.queue, 'ctxq');
            assert.equal(s.ctx.attempt, i + 1);
            assert.equal(s.ctx.maxAttempts, 4);
            assert.ok(s.signal instanceof AbortSignal);
            assert.equal(s.aborted, false);
            assert.ok(s.sameProbe, 'one instance per scope');
            assert.ok(
              s.earlierProbesDisposed,
              'the scope of an earlier attempt was disposed before the next ran',
            );
          });
          assert.equal(new Set(seen.map((s) => s.probe)).size, 3, 'a fresh scope per attempt');
          assert.equal(new Set(seen.map((s) => s.signal)).size, 3, 'a fresh signal per attempt');
          // The attempt's scope is disposed before its outcome is written.
          assert.equal(Probe.disposed, 3);
          assert.ok(seen.every((s) => s.probe.disposed));

          const lines = logs.lines.filter((l) => l.marker === true);
          assert.equal(lines.length, 3);
          lines.forEach((line, i) => {
            assert.equal(line.msg, `hello from attempt ${i + 1}`);
            assert.equal(line.jobId, id);
            assert.equal(line.job, 'ctx');
            assert.equal(line.attempt, i + 1);
            assert.equal(line.category, 'Hostwork.Jobs');
          });
        },
      );
    },
  );

  it('stores progress with the job and emits it as an event', T, async () => {
    const release = Promise.withResolvers<void>();
    const Progress = defineJob({
      name: 'progress',
      schema: z.object({}),
      async handle(_payload, ctx) {
        ctx.progress({ done: 1, of: 3 });
        ctx.progress({ done: 2, of: 3 });
        await release.promise;
        ctx.progress({ done: 3, of: 3 });
      },
    });
    await withHost({ jobs: [Progress] }, async ({ client, events }) => {
      const recorded = recordEvents(events);
      const { id } = await client.enqueue(Progress, {});
      // While it runs, the latest progress is stored.
      await waitFor(async () => {
        const info = await client.get(id);
        return info?.state === 'running' && (info.progress as { done?: number } | null)?.done === 2;
      }, 'the progress of a running job to be stored');
      release.resolve();
      const done = await waitForState(client, id, 'completed');
      assert.deepEqual(done.progress, { done: 3, of: 3 });
      const progress = recorded.filter((e) => e.event === 'progress');
      assert.deepEqual(
        progress.map((e) => (e.event === 'progress' ? e.progress : undefined)),
        [
          { done: 1, of: 3 },
          { done: 2, of: 3 },
          { done: 3, of: 3 },
        ],
      );
      for (const e of progress) {
        assert.ok(e.event === 'progress');
        assert.deepEqual(
          { id: e.id, name: e.name, queue: e.queue, attempt: e.attempt },
          { id, name: 'progress', queue: 'default', attempt: 1 },
        );
      }
    });
  });
});
