/**
 * graphile-worker's side of the PostgreSQL benchmark: the same scenarios as Hostwork's (bench/systems/hostwork.ts), in the
 * configuration graphile-worker's performance page documents as its fastest (worker.graphile.org/docs/performance):
 * a local queue of 500 jobs and batched completions and failures (`completeJobBatchDelay: 0`, `failJobBatchDelay: 0`),
 * with `maxPoolSize` as its option docs recommend (`concurrency + 2`, at least 10) and success logging off
 * (`NO_LOG_SUCCESS=1`, set by the runner before the library loads; the logger passes warnings and errors only).
 * Everything else is its default (prepared statements on, PostgreSQL's clock, poll interval 2 s for future jobs).
 *
 * Tasks are given as a `taskList`; jobs are added with `WorkerUtils.addJob` (one at a time) and `addJobs` (its bulk
 * API: one `add_jobs` call per batch). graphile-worker deletes a job when it completes; with batched completions the
 * delete happens after the handler returns, so a drain ends when the last handler has run AND the jobs table is empty.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Runner, RunnerOptions, TaskList, WorkerUtils } from 'graphile-worker';
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import type { RunContext } from '../common.ts';
import { latencyJobsOf, peakRssMb, progress, rssAfterGc, SIZES, variantOf } from '../common.ts';
import {
  assertCount,
  awaitPingsFromEnqueuer,
  collectLatencies,
  reportLatencies,
  result,
  seedInChild,
  sendPings,
  startCpuSplit,
  systemScenarios,
  timeLoops,
  within,
} from '../kit.ts';
import { withClient } from '../postgres.ts';

/** The documented fastest settings (see the module comment); the scenario sets the concurrency. */
export const GRAPHILE_SETTINGS = {
  localQueue: { size: 500 },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
} as const;

/** Warnings and errors to stderr; graphile-worker's info lines (start, stop) are left out, like Hostwork's. */
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') progress(`graphile-worker ${level}: ${message}`);
});

function utilsOf(ctx: RunContext): Promise<WorkerUtils> {
  return makeWorkerUtils({ connectionString: ctx.databaseUrl, schema: ctx.schema, logger });
}

function runnerOptions(ctx: RunContext, concurrency: number, taskList: TaskList): RunnerOptions {
  return {
    connectionString: ctx.databaseUrl,
    schema: ctx.schema,
    concurrency,
    maxPoolSize: Math.max(10, concurrency + 2),
    noHandleSignals: true,
    logger,
    taskList,
    preset: {
      worker: {
        ...GRAPHILE_SETTINGS,
        localQueue: { size: variantOf(ctx)?.localQueueSize ?? GRAPHILE_SETTINGS.localQueue.size },
      },
    },
  };
}

/** Jobs left in the schema's job table (completed jobs are deleted). */
async function jobsLeft(ctx: RunContext): Promise<number> {
  return withClient(ctx.databaseUrl, async (c) => {
    const { rows } = await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${ctx.schema}"._private_jobs`);
    return Number(rows[0]!.n);
  });
}

async function enqueueSingle(ctx: RunContext): Promise<void> {
  const { jobs: n, enqueueClients: clients } = SIZES;
  const utils = await utilsOf(ctx);
  await utils.migrate(); // install the schema outside the timing
  const cpu = startCpuSplit(ctx, 'enqueue-single');
  const seconds = await timeLoops(n, clients, (i) => utils.addJob('noop', { i }));
  cpu();
  await utils.release();
  assertCount('jobs after enqueue-single', await jobsLeft(ctx), n);
  result('enqueue-single', n / seconds);
}

function specs(from: number, count: number) {
  return Array.from({ length: count }, (_, k) => ({ identifier: 'noop', payload: { i: from + k } }));
}

async function enqueueBulk(ctx: RunContext): Promise<void> {
  const { jobs: n, bulkBatch } = SIZES;
  const utils = await utilsOf(ctx);
  await utils.migrate();
  const cpu = startCpuSplit(ctx, 'enqueue-bulk');
  const t0 = performance.now();
  for (let i = 0; i < n; i += bulkBatch) await utils.addJobs(specs(i, bulkBatch));
  const seconds = (performance.now() - t0) / 1000;
  cpu();
  await utils.release();
  assertCount('jobs after enqueue-bulk', await jobsLeft(ctx), n);
  result('enqueue-bulk', n / seconds);
}

async function seed(ctx: RunContext, count: number): Promise<void> {
  const utils = await utilsOf(ctx);
  await utils.migrate();
  for (let i = 0; i < count; i += SIZES.bulkBatch)
    await utils.addJobs(specs(i, Math.min(SIZES.bulkBatch, count - i)));
  await utils.release();
}

/**
 * Drains pre-enqueued jobs with one runner. Timed from the `run()` call until the last handler has returned and the
 * job table is empty (the batched completions deleted every job; checked every millisecond once the handlers are
 * done, on a connection of its own).
 */
async function drain(ctx: RunContext, concurrency: number): Promise<void> {
  const n = SIZES.jobs;
  await seedInChild(ctx, n);
  let ran = 0;
  const handled = Promise.withResolvers<void>();
  const taskList: TaskList = {
    noop: async () => {
      if (++ran === n) handled.resolve();
    },
  };
  await withClient(ctx.databaseUrl, async (watcher) => {
    const rssBefore = rssAfterGc();
    const cpu = startCpuSplit(ctx, `drain-c${concurrency}`);
    const t0 = performance.now();
    const runner: Runner = await run(runnerOptions(ctx, concurrency, taskList));
    await handled.promise;
    const empty = `SELECT NOT EXISTS (SELECT FROM "${ctx.schema}"._private_jobs) AS empty`;
    while (!(await watcher.query<{ empty: boolean }>(empty)).rows[0]!.empty) await sleep(1);
    const seconds = (performance.now() - t0) / 1000;
    const peak = peakRssMb(); // before anything else allocates
    cpu();
    const rss = rssAfterGc();
    progress(
      `drain-c${concurrency}: RSS ${rssBefore.toFixed(1)} MB before start, peak ${peak.toFixed(1)} MB, ${rss.toFixed(1)} MB after the drain and a GC`,
    );
    await runner.stop();
    result(`drain-c${concurrency}`, n / seconds);
    result(`drain-c${concurrency}-peak-rss`, peak);
    if (concurrency === 50) result('rss-mb', rss);
  });
}

/** An idle runner (concurrency 10) and, in the same process, `runner.addJob` once every 20 ms. */
async function latencyInProcess(ctx: RunContext): Promise<void> {
  const count = latencyJobsOf(ctx.store);
  const latencies = collectLatencies(count);
  const runner = await run(
    runnerOptions(ctx, 10, {
      ping: async (payload) => {
        const { i, t } = payload as { i: number; t: number };
        latencies.record(i, t);
      },
    }),
  );
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) => runner.addJob('ping', { i, t }));
  await within(latencies.all, latencies.samples, 10_000);
  await runner.stop();
  reportLatencies('latency', latencies.samples);
}

async function enqueuer(ctx: RunContext, count: number, intervalMs: number): Promise<void> {
  const utils = await utilsOf(ctx);
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, intervalMs, (i, t) => utils.addJob('ping', { i, t }));
  await utils.release();
}

/** An idle runner here; `WorkerUtils.addJob` in a separate process. */
async function latencyCrossProcess(ctx: RunContext): Promise<void> {
  const count = latencyJobsOf(ctx.store);
  const latencies = collectLatencies(count);
  const runner = await run(
    runnerOptions(ctx, 10, {
      ping: async (payload) => {
        const { i, t } = payload as { i: number; t: number };
        latencies.record(i, t);
      },
    }),
  );
  await awaitPingsFromEnqueuer(ctx, count, SIZES.latencyIntervalMs, latencies);
  await runner.stop();
  reportLatencies('latency-xproc', latencies.samples);
}

export const graphileWorker = systemScenarios(
  'graphile-worker',
  {
    'enqueue-single': enqueueSingle,
    'enqueue-bulk': enqueueBulk,
    'drain-c10': (ctx) => drain(ctx, 10),
    'drain-c50': (ctx) => drain(ctx, 50),
    latency: latencyInProcess,
    'latency-xproc': latencyCrossProcess,
  },
  { seed, enqueuer },
);
