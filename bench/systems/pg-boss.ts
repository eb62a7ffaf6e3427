/**
 * pg-boss's side of the PostgreSQL benchmark: the same scenarios as Hostwork's (bench/systems/hostwork.ts), in the fastest
 * configuration its documentation describes for short jobs:
 * - LISTEN/NOTIFY on: `useListenNotify: true` on the instance and `notify: true` on the queue, so an idle worker is
 *   woken by the insert instead of its poll (pg-boss's default is polling every 2 s);
 * - batch fetching: `batchSize: 500` jobs per fetch, completed together in one statement when the handler returns
 *   (the fastest of 20, 100, 500 and 1,000 in drains on this machine; 1,000 was no faster);
 * - `burstWhenBatchFull: true`: while a fetch comes back full the worker fetches again at once instead of waiting for
 *   its polling interval (without it, a worker waits 2 s between full batches);
 * - the scenario's concurrency C as `localConcurrency: C` (C independent fetch loops), each running the jobs of its
 *   batch one after the other, so at most C handlers run at once, as with the other systems.
 * Everything else is pg-boss's default (pool `max` 10, supervision and scheduling on, queue policy 'standard').
 *
 * Jobs are added with `send` (one at a time) and `insert` (its bulk API: one statement per batch).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, PgBoss } from 'pg-boss';
import type { RunContext } from '../common.ts';
import { latencyJobsOf, peakRssMb, progress, rssAfterGc, SIZES } from '../common.ts';
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

/** Jobs per fetch (and per completing statement); see the module comment. */
export const PGBOSS_BATCH_SIZE = 500;

/** The work() options of a worker with concurrency `concurrency` (see the module comment). */
export function workOptions(concurrency: number) {
  return { batchSize: PGBOSS_BATCH_SIZE, localConcurrency: concurrency, burstWhenBatchFull: true } as const;
}

async function startBoss(ctx: RunContext): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: ctx.databaseUrl, schema: ctx.schema, useListenNotify: true });
  boss.on('error', (error) => progress(`pg-boss error: ${error.message}`));
  boss.on('warning', (warning) => {
    // This server runs with autovacuum off (see docs/benchmarks.md); pg-boss's vacuum monitor says so once per run.
    if (!/autovacuum/i.test(warning.message)) progress(`pg-boss warning: ${warning.message}`);
  });
  await boss.start();
  for (const queue of ['noop', 'ping']) {
    if (!(await boss.getQueue(queue))) await boss.createQueue(queue, { notify: true });
  }
  return boss;
}

/** Jobs of the queue `name` in state `state`. */
async function countJobs(ctx: RunContext, name: string, state: string): Promise<number> {
  return withClient(ctx.databaseUrl, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${ctx.schema}".job WHERE name = $1 AND state = $2::text::"${ctx.schema}".job_state`,
      [name, state],
    );
    return Number(rows[0]!.n);
  });
}

async function enqueueSingle(ctx: RunContext): Promise<void> {
  const { jobs: n, enqueueClients: clients } = SIZES;
  const boss = await startBoss(ctx);
  const cpu = startCpuSplit(ctx, 'enqueue-single');
  const seconds = await timeLoops(n, clients, (i) => boss.send('noop', { i }));
  cpu();
  await boss.stop();
  assertCount('created jobs after enqueue-single', await countJobs(ctx, 'noop', 'created'), n);
  result('enqueue-single', n / seconds);
}

function inserts(from: number, count: number) {
  return Array.from({ length: count }, (_, k) => ({ data: { i: from + k } }));
}

async function enqueueBulk(ctx: RunContext): Promise<void> {
  const { jobs: n, bulkBatch } = SIZES;
  const boss = await startBoss(ctx);
  const cpu = startCpuSplit(ctx, 'enqueue-bulk');
  const t0 = performance.now();
  for (let i = 0; i < n; i += bulkBatch) await boss.insert('noop', inserts(i, bulkBatch));
  const seconds = (performance.now() - t0) / 1000;
  cpu();
  await boss.stop();
  assertCount('created jobs after enqueue-bulk', await countJobs(ctx, 'noop', 'created'), n);
  result('enqueue-bulk', n / seconds);
}

async function seed(ctx: RunContext, count: number): Promise<void> {
  const boss = await startBoss(ctx);
  for (let i = 0; i < count; i += SIZES.bulkBatch)
    await boss.insert('noop', inserts(i, Math.min(SIZES.bulkBatch, count - i)));
  await boss.stop();
}

/**
 * Drains pre-enqueued jobs with one instance. Timed from `start()` until the last handler has returned and every job
 * is completed: a batch is completed by one statement after its handler returns, so once the handlers are done the
 * count of completed jobs is checked every millisecond, on a connection of its own.
 */
async function drain(ctx: RunContext, concurrency: number): Promise<void> {
  const n = SIZES.jobs;
  await seedInChild(ctx, n);
  let ran = 0;
  const handled = Promise.withResolvers<void>();
  await withClient(ctx.databaseUrl, async (watcher) => {
    const rssBefore = rssAfterGc();
    const cpu = startCpuSplit(ctx, `drain-c${concurrency}`);
    const t0 = performance.now();
    const boss = await startBoss(ctx);
    await boss.work('noop', workOptions(concurrency), async (jobs: Job[]) => {
      // One job after the other: at most `concurrency` handlers at once.
      for (const _ of jobs) if (++ran === n) handled.resolve();
    });
    await handled.promise;
    const pending = `SELECT NOT EXISTS (SELECT FROM "${ctx.schema}".job WHERE name = 'noop' AND state < 'completed') AS done`;
    while (!(await watcher.query<{ done: boolean }>(pending)).rows[0]!.done) await sleep(1);
    const seconds = (performance.now() - t0) / 1000;
    const peak = peakRssMb(); // before anything else allocates
    cpu();
    const rss = rssAfterGc();
    progress(
      `drain-c${concurrency}: RSS ${rssBefore.toFixed(1)} MB before start, peak ${peak.toFixed(1)} MB, ${rss.toFixed(1)} MB after the drain and a GC`,
    );
    await boss.stop();
    assertCount('completed jobs after the drain', await countJobs(ctx, 'noop', 'completed'), n);
    result(`drain-c${concurrency}`, n / seconds);
    result(`drain-c${concurrency}-peak-rss`, peak);
    if (concurrency === 50) result('rss-mb', rss);
  });
}

async function workPings(boss: PgBoss, record: (i: number, t: number) => void): Promise<void> {
  await boss.work('ping', workOptions(10), async (jobs: Job<{ i: number; t: number }>[]) => {
    for (const job of jobs) record(job.data.i, job.data.t);
  });
}

/** An idle worker (concurrency 10) and, in the same process, `send` once every 20 ms. */
async function latencyInProcess(ctx: RunContext): Promise<void> {
  const count = latencyJobsOf(ctx.store);
  const latencies = collectLatencies(count);
  const boss = await startBoss(ctx);
  await workPings(boss, latencies.record);
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) => boss.send('ping', { i, t }));
  await within(latencies.all, latencies.samples, 10_000);
  await boss.stop();
  reportLatencies('latency', latencies.samples);
}

async function enqueuer(ctx: RunContext, count: number, intervalMs: number): Promise<void> {
  const boss = await startBoss(ctx);
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, intervalMs, (i, t) => boss.send('ping', { i, t }));
  await boss.stop();
}

/** An idle worker here; `send` in a separate process. */
async function latencyCrossProcess(ctx: RunContext): Promise<void> {
  const count = latencyJobsOf(ctx.store);
  const latencies = collectLatencies(count);
  const boss = await startBoss(ctx);
  await workPings(boss, latencies.record);
  await awaitPingsFromEnqueuer(ctx, count, SIZES.latencyIntervalMs, latencies);
  await boss.stop();
  reportLatencies('latency-xproc', latencies.samples);
}

export const pgBoss = systemScenarios(
  'pg-boss',
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
