/**
 * Hostwork's scenarios, on either store, and the `producer` role of memory-flat. Loaded by bench/child.ts only in the
 * processes that measure Hostwork, so graphile-worker's and pg-boss's processes never load Hostwork or zod.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { postgresStore } from '@hostwork/postgres';
import type { Host, JobDefinition, JobStore, WorkerOptions } from 'hostwork';
import { addJobs, createHostBuilder, defineJob, JobClient, JobEvents, sqliteStore } from 'hostwork';
import { z } from 'zod';
import type { RunContext } from '../common.ts';
import {
  latencyJobsOf,
  peakRssMb,
  progress,
  rssAfterGc,
  rssAfterLastResortGc,
  SIZES,
  variantOf,
} from '../common.ts';
import {
  assertCount,
  awaitPingsFromEnqueuer,
  collectLatencies,
  detail,
  items,
  reportLatencies,
  result,
  seedInChild,
  sendPings,
  spawnRole,
  startCpuSplit,
  systemScenarios,
  timeLoops,
  within,
} from '../kit.ts';

/**
 * The job store of a run: SQLite in the run's own fresh directory; PostgreSQL in the run's own fresh schema, with the
 * store's defaults (pool of 10) unless a variant says otherwise.
 */
export function createStore(ctx: RunContext): JobStore {
  switch (ctx.store) {
    case 'sqlite':
      return sqliteStore({ path: join(ctx.dir, 'jobs.db') });
    case 'postgres':
      return postgresStore({
        connectionString: ctx.databaseUrl,
        schema: ctx.schema,
        ...variantOf(ctx)?.postgres,
      });
  }
}

/**
 * A Hostwork host with jobs on the run's store, quiet (warnings only), reading no configuration files or env. A
 * variant's worker options are applied over `worker` (never to a client-only host).
 */
export function buildHost(
  ctx: RunContext,
  // biome-ignore lint/suspicious/noExplicitAny: jobs of every payload type live in one list.
  jobs: readonly JobDefinition<any, any>[],
  worker: Partial<WorkerOptions> | false,
): Host {
  const builder = createHostBuilder({
    env: {},
    args: [],
    contentRoot: ctx.dir,
    environmentName: 'Production',
    logging: { level: 'warn' },
  });
  const options = worker === false ? false : { ...worker, ...variantOf(ctx)?.worker };
  addJobs(builder, { jobs, store: createStore(ctx), worker: options });
  return builder.build();
}

/** Creates the payload index when the run's variant says so (after the host migrated the schema). */
async function payloadIndexOfVariant(ctx: RunContext): Promise<void> {
  if (variantOf(ctx)?.payloadIndex !== true || ctx.store !== 'postgres') return;
  const store = postgresStore({ connectionString: ctx.databaseUrl, schema: ctx.schema });
  await store.createPayloadIndex();
  await store.close();
}

/** The no-op job of the throughput and memory scenarios. */
const Noop = defineJob({ name: 'noop', schema: z.object({ i: z.number() }), handle() {} });

/** The latency job: carries its enqueue time; the handler hook records when it starts. */
let onPing: (i: number, sentAt: number) => void = () => {};
const Ping = defineJob({
  name: 'ping',
  schema: z.object({ i: z.number(), t: z.number() }),
  handle(payload) {
    onPing(payload.i, payload.t);
  },
});

const JOBS = [Noop, Ping];

/** Pending / completed totals over every queue. */
async function totals(client: JobClient): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of await client.counts()) out[c.state] = (out[c.state] ?? 0) + c.count;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Enqueue throughput

async function enqueueSingle(ctx: RunContext): Promise<void> {
  const { jobs: n, enqueueClients: clients } = SIZES;
  const host = buildHost(ctx, JOBS, false);
  await host.start();
  const client = host.services.get(JobClient);
  await client.ready(); // open and migrate outside the timing
  await payloadIndexOfVariant(ctx);
  const cpu = startCpuSplit(ctx, 'enqueue-single');
  const seconds = await timeLoops(n, clients, (i) => client.enqueue(Noop, { i }));
  cpu();
  assertCount('pending jobs after enqueue-single', (await totals(client)).pending, n);
  await host.stop();
  result('enqueue-single', n / seconds);
}

async function enqueueBulk(ctx: RunContext): Promise<void> {
  const { jobs: n, bulkBatch } = SIZES;
  const host = buildHost(ctx, JOBS, false);
  await host.start();
  const client = host.services.get(JobClient);
  await client.ready();
  await payloadIndexOfVariant(ctx);
  const cpu = startCpuSplit(ctx, 'enqueue-bulk');
  const t0 = performance.now();
  for (let i = 0; i < n; i += bulkBatch) await client.enqueueMany(Noop, items(i, bulkBatch));
  const seconds = (performance.now() - t0) / 1000;
  cpu();
  assertCount('pending jobs after enqueue-bulk', (await totals(client)).pending, n);
  await host.stop();
  result('enqueue-bulk', n / seconds);
}

// ---------------------------------------------------------------------------------------------------------------
// Drain

/** Pre-enqueues `count` no-op jobs in bulk (the `seed` role). */
async function seed(ctx: RunContext, count: number): Promise<void> {
  const host = buildHost(ctx, JOBS, false);
  await host.start();
  const client = host.services.get(JobClient);
  for (let i = 0; i < count; i += SIZES.bulkBatch)
    await client.enqueueMany(Noop, items(i, Math.min(SIZES.bulkBatch, count - i)));
  await host.stop();
}

/**
 * Drains pre-enqueued jobs with one worker host. Timed from the `start()` call to the `completed` event of the last
 * job, which the worker emits after the batch write that settled it.
 */
async function drain(ctx: RunContext, concurrency: number): Promise<void> {
  const n = SIZES.jobs;
  await seedInChild(ctx, n);
  if (variantOf(ctx)?.telemetry === 'noop-exporter') await registerNoopTelemetry();
  const host = buildHost(ctx, JOBS, { queues: { default: { concurrency } } });
  let completed = 0;
  const all = Promise.withResolvers<void>();
  host.services.get(JobEvents).on('completed', () => {
    if (++completed === n) all.resolve();
  });
  const rssBefore = rssAfterGc();
  const cpu = startCpuSplit(ctx, `drain-c${concurrency}`);
  const t0 = performance.now();
  await host.start();
  await all.promise;
  const seconds = (performance.now() - t0) / 1000;
  const peak = peakRssMb(); // before anything else allocates
  cpu();
  const rss = rssAfterGc();
  const heap = process.memoryUsage();
  progress(
    `drain-c${concurrency}: RSS ${rssBefore.toFixed(1)} MB before start, peak ${peak.toFixed(1)} MB, ${rss.toFixed(1)} MB after the drain and a GC (heap used ${(heap.heapUsed / 2 ** 20).toFixed(1)} MB of ${(heap.heapTotal / 2 ** 20).toFixed(1)} MB)`,
  );
  const after = await totals(host.services.get(JobClient));
  if (variantOf(ctx)?.worker?.maxCompletedJobs === 0) {
    // Completed jobs are deleted as they complete: the table must be empty (none pending, failed or kept).
    assertCount(
      'jobs left after the drain',
      Object.values(after).reduce((a, b) => a + b, 0),
      0,
    );
  } else {
    assertCount('completed jobs after the drain', after.completed, n);
  }
  await host.stop();
  result(`drain-c${concurrency}`, n / seconds);
  result(`drain-c${concurrency}-peak-rss`, peak);
  if (concurrency === 50) result('rss-mb', rss);
}

// ---------------------------------------------------------------------------------------------------------------
// Latency

/** An idle worker and, in the same process, an enqueuer sending one job every 20 ms. */
async function latencyInProcess(ctx: RunContext): Promise<void> {
  const count = latencyJobsOf(ctx.store);
  const latencies = collectLatencies(count);
  onPing = latencies.record;
  const host = buildHost(ctx, JOBS, { queues: { default: { concurrency: 10 } } });
  await host.start();
  await sleep(SIZES.latencySettleMs);
  const client = host.services.get(JobClient);
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) => client.enqueue(Ping, { i, t }));
  await within(latencies.all, latencies.samples, 10_000);
  await host.stop();
  reportLatencies('latency', latencies.samples);
}

/** The enqueuing process of latency-xproc (the `enqueuer` role). */
async function enqueuer(ctx: RunContext, count: number, intervalMs: number): Promise<void> {
  const host = buildHost(ctx, JOBS, false);
  await host.start();
  const client = host.services.get(JobClient);
  await client.ready();
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, intervalMs, (i, t) => client.enqueue(Ping, { i, t }));
  await host.stop();
}

/** An idle worker here; the enqueuer is a separate process on the same store. */
async function latencyCrossProcess(ctx: RunContext): Promise<void> {
  const count = latencyJobsOf(ctx.store);
  const latencies = collectLatencies(count);
  onPing = latencies.record;
  const host = buildHost(ctx, JOBS, { queues: { default: { concurrency: 10 } } });
  await host.start(); // creates the file or schema before the enqueuer opens it
  await awaitPingsFromEnqueuer(ctx, count, SIZES.latencyIntervalMs, latencies);
  await host.stop();
  reportLatencies('latency-xproc', latencies.samples);
}

// ---------------------------------------------------------------------------------------------------------------
// Memory

function mb(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** Linux only: the RSS split into anonymous memory, mapped files and shared memory (e.g. SQLite's WAL index). */
function rssParts(): string {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return ` (anon ${(kb('RssAnon') / 1024).toFixed(1)}, file ${(kb('RssFile') / 1024).toFixed(1)}, shmem ${(kb('RssShmem') / 1024).toFixed(1)})`;
  } catch {
    return '';
  }
}

/** Messages from the measured worker to the `producer` role of memory-flat. */
type ProducerMessage = { readonly completed: number } | { readonly resume: true };

/**
 * One worker process runs 500,000 no-op jobs that a separate `producer` process enqueues in bulk (chunks of 1,000)
 * while it runs, as a web process feeds a worker process in a deployment; the backlog is kept at or under 50,000.
 * Completed jobs: `maxCompletedJobs: 10,000` (the worker prunes at start and then once a minute, so the table keeps
 * completed rows between prunes, as a deployment does).
 *
 * The checkpoints are taken alike: the producer stops at 100,000 (then 500,000) enqueued, the worker completes them
 * all, runs a full GC and reads its RSS, then lets the producer go on. The worker is idle at both, so the figures
 * compare retained memory, not what happened to be in flight.
 */
async function memoryFlat(ctx: RunContext): Promise<void> {
  const { memoryJobs: total, memoryCheckpoint: checkpoint } = SIZES;
  const host = buildHost(ctx, JOBS, {
    queues: { default: { concurrency: 50 } },
    maxCompletedJobs: 10_000,
  });
  let completed = 0;
  let peakHeapTotal = 0;
  /** Resolved when `completed` reaches `until`. */
  let waiter: { until: number; resolve: () => void } | undefined;
  const waitFor = (until: number): Promise<void> => {
    if (completed >= until) return Promise.resolve();
    return new Promise((resolve) => {
      waiter = { until, resolve };
    });
  };
  const t0 = performance.now();
  await host.start(); // creates the file before the producer opens it
  const { child: producer, exited } = spawnRole('producer', ctx, [], true);
  const tell = (message: ProducerMessage): void => {
    // The producer disconnects once it has enqueued everything; a message after that is of no use to it.
    if (producer.connected) producer.send(message, () => {});
  };
  host.services.get(JobEvents).on('completed', () => {
    completed++;
    if (completed % SIZES.memoryChunk === 0) tell({ completed });
    if (completed % 10_000 === 0) peakHeapTotal = Math.max(peakHeapTotal, process.memoryUsage().heapTotal);
    if (waiter && completed >= waiter.until) {
      waiter.resolve();
      waiter = undefined;
    }
  });
  const failed = exited.then((code) => {
    if (code !== 0) throw new Error(`The producer process exited with code ${code}.`);
    return new Promise<never>(() => {});
  });
  const sample = async (at: number): Promise<number> => {
    await Promise.race([waitFor(at), failed]);
    const seconds = (performance.now() - t0) / 1000;
    // First an ordinary full GC (the figure rss-mb uses elsewhere): its RSS still holds V8's free-page pool.
    const rssGc = rssAfterGc();
    const m = process.memoryUsage();
    const parts = rssParts();
    const rss = rssAfterLastResortGc();
    const k = `${Math.round(at / 1000)}k`;
    detail(`rss-after-plain-gc-at-${k}-mb`, rssGc);
    progress(
      `memory-flat: ${completed.toLocaleString('en')} completed after ${seconds.toFixed(1)} s (${Math.round(completed / seconds).toLocaleString('en')} jobs/s); after a full GC: rss ${rssGc.toFixed(1)} MB${parts}, heap used ${mb(m.heapUsed)} MB of ${mb(m.heapTotal)} MB, external ${mb(m.external)} MB, peak heap total so far ${mb(peakHeapTotal)} MB; after the last-resort GC: rss ${rss.toFixed(1)} MB${rssParts()}, heap ${mb(process.memoryUsage().heapTotal)} MB`,
    );
    return rss;
  };
  const at100k = await sample(checkpoint);
  tell({ resume: true });
  const at500k = await sample(total);
  assertCount('exit code of the producer', (await exited) ?? -1, 0);
  const left = await totals(host.services.get(JobClient));
  const file = join(ctx.dir, 'jobs.db');
  const wal = statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  progress(
    `memory-flat: rows left ${JSON.stringify(left)}; database ${mb(statSync(file).size)} MB, WAL ${mb(wal)} MB; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB`,
  );
  await host.stop();
  result('rss-at-100k-mb', at100k);
  result('rss-at-500k-mb', at500k);
  result('rss-growth-pct', ((at500k - at100k) / at100k) * 100);
}

/**
 * The `producer` role of memory-flat: enqueues the jobs in chunks, keeping the backlog (enqueued − completed, as the
 * worker reports it) within bounds, and pauses at the checkpoint until the worker has sampled its memory.
 */
export async function producer(ctx: RunContext): Promise<void> {
  const { memoryJobs: total, memoryCheckpoint: checkpoint, memoryMaxBacklog: maxBacklog } = SIZES;
  const chunk = SIZES.memoryChunk;
  const host = buildHost(ctx, JOBS, false);
  await host.start();
  const client = host.services.get(JobClient);
  let completed = 0;
  let resumed = false;
  let wake: (() => void) | undefined;
  process.on('message', (message: ProducerMessage) => {
    if ('completed' in message) completed = message.completed;
    else resumed = true;
    wake?.();
  });
  const until = async (condition: () => boolean): Promise<void> => {
    while (!condition()) await new Promise<void>((resolve) => (wake = resolve));
  };
  let enqueued = 0;
  for (const stop of [checkpoint, total]) {
    while (enqueued < stop) {
      // Wait for room for a chunk, with some slack, so that a refill is more than one chunk.
      if (enqueued - completed + chunk > maxBacklog)
        await until(() => enqueued - completed + chunk + 10 * chunk <= maxBacklog);
      const count = Math.min(chunk, stop - enqueued);
      await client.enqueueMany(Noop, items(enqueued, count));
      enqueued += count;
    }
    if (stop === checkpoint) await until(() => resumed);
  }
  await host.stop();
  process.disconnect?.();
}

// ---------------------------------------------------------------------------------------------------------------

/** Hostwork's scenarios, on either store. */
export const hostwork = systemScenarios(
  'hostwork',
  {
    'enqueue-single': enqueueSingle,
    'enqueue-bulk': enqueueBulk,
    'drain-c10': (ctx) => drain(ctx, 10),
    'drain-c50': (ctx) => drain(ctx, 50),
    latency: latencyInProcess,
    'latency-xproc': latencyCrossProcess,
    'memory-flat': memoryFlat,
  },
  { seed, enqueuer },
);

/**
 * The OpenTelemetry SDK as an application registers it, exporting nowhere: every span is recorded, batched and
 * handed to an exporter that drops it; metrics are read by a periodic reader. Loaded only by the variant's process.
 */
async function registerNoopTelemetry(): Promise<void> {
  const { context, metrics, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BatchSpanProcessor, TracerProvider } = await import('@opentelemetry/sdk-trace');
  const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = await import(
    '@opentelemetry/sdk-metrics'
  );
  const done = { code: 0 };
  const spanExporter = {
    export: (_spans: unknown[], callback: (result: { code: number }) => void) => callback(done),
    shutdown: async () => {},
  };
  const metricExporter = {
    export: (_metrics: unknown, callback: (result: { code: number }) => void) => callback(done),
    forceFlush: async () => {},
    shutdown: async () => {},
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: spanExporter })] }),
  );
  metrics.setGlobalMeterProvider(
    new MeterProvider({
      readers: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 1_000 })],
    }),
  );
}
