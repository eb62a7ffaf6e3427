/**
 * A benchmark child process; bench/run.ts starts one per measurement and run, so memory and JIT state never leak from
 * one scenario into the next. Roles:
 *
 * - `run <measurement> <store> <dir>`: runs one measurement on a fresh store in `dir` and sends each figure to the
 *   runner over IPC.
 * - `seed <store> <dir> <count>`: pre-enqueues `count` no-op jobs in bulk, in its own short-lived process, so the
 *   worker measured next starts with a clean heap.
 * - `enqueuer <store> <dir> <count> <intervalMs>`: the separate enqueuing process of latency-xproc.
 *
 * Hosts log at `warn` to stdout; the runner routes a child's stdout to its own stderr, so results travel over IPC only.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { defineJob, JobClient, JobEvents } from 'hostwork';
import { z } from 'zod';
import type { ChildMessage, StoreKind } from './common.ts';
import { buildHost, now, percentile, progress, rssAfterGc, SIZES } from './common.ts';

const CHILD = fileURLToPath(import.meta.url);

/** The no-op job of the throughput and memory scenarios. */
const Noop = defineJob({ name: 'noop', schema: z.object({ i: z.number() }), handle() {} });

/** The latency job: carries its enqueue time; the handler hook records when it starts. */
let onPing: (i: number, sentAt: number, startedAt: number) => void = () => {};
const Ping = defineJob({
  name: 'ping',
  schema: z.object({ i: z.number(), t: z.number() }),
  handle(payload) {
    onPing(payload.i, payload.t, now());
  },
});

const JOBS = [Noop, Ping];

function send(message: ChildMessage): void {
  if (!process.send) throw new Error('bench/child.ts runs under bench/run.ts (it needs an IPC channel).');
  process.send(message);
}

function result(metric: string, value: number): void {
  send({ type: 'result', metric, value });
}

function items(from: number, count: number): { payload: { i: number } }[] {
  return Array.from({ length: count }, (_, k) => ({ payload: { i: from + k } }));
}

/** Pending / completed totals over every queue. */
async function totals(client: JobClient): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of await client.counts()) out[c.state] = (out[c.state] ?? 0) + c.count;
  return out;
}

function assertCount(what: string, actual: number | undefined, expected: number): void {
  if (actual !== expected) throw new Error(`${what}: expected ${expected}, found ${actual ?? 0}.`);
}

// ---------------------------------------------------------------------------------------------------------------
// Enqueue throughput

async function enqueueSingle(store: StoreKind, dir: string): Promise<void> {
  const { jobs: n, enqueueClients: clients } = SIZES;
  const host = buildHost(store, dir, JOBS, false);
  await host.start();
  const client = host.services.get(JobClient);
  await client.ready(); // open and migrate outside the timing
  const perClient = n / clients;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let k = 0; k < perClient; k++) await client.enqueue(Noop, { i: c * perClient + k });
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  assertCount('pending jobs after enqueue-single', (await totals(client)).pending, n);
  await host.stop();
  result('enqueue-single', n / seconds);
}

async function enqueueBulk(store: StoreKind, dir: string): Promise<void> {
  const { jobs: n, bulkBatch } = SIZES;
  const host = buildHost(store, dir, JOBS, false);
  await host.start();
  const client = host.services.get(JobClient);
  await client.ready();
  const t0 = performance.now();
  for (let i = 0; i < n; i += bulkBatch) await client.enqueueMany(Noop, items(i, bulkBatch));
  const seconds = (performance.now() - t0) / 1000;
  assertCount('pending jobs after enqueue-bulk', (await totals(client)).pending, n);
  await host.stop();
  result('enqueue-bulk', n / seconds);
}

// ---------------------------------------------------------------------------------------------------------------
// Drain

/** Pre-enqueues `count` no-op jobs in bulk (the `seed` role). */
async function seed(store: StoreKind, dir: string, count: number): Promise<void> {
  const host = buildHost(store, dir, JOBS, false);
  await host.start();
  const client = host.services.get(JobClient);
  for (let i = 0; i < count; i += SIZES.bulkBatch)
    await client.enqueueMany(Noop, items(i, Math.min(SIZES.bulkBatch, count - i)));
  await host.stop();
}

/** Runs the seed role in its own process and waits for it. */
async function seedInChild(store: StoreKind, dir: string, count: number): Promise<void> {
  const child = spawn(process.execPath, [CHILD, 'seed', store, dir, String(count)], {
    stdio: ['ignore', 2, 2],
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`The seed process exited with code ${code}.`);
}

/**
 * Drains pre-enqueued jobs with one worker host. Timed from the `start()` call to the `completed` event of the last
 * job, which the worker emits after the batch write that settled it.
 */
async function drain(store: StoreKind, dir: string, concurrency: number): Promise<void> {
  const n = SIZES.jobs;
  await seedInChild(store, dir, n);
  const host = buildHost(store, dir, JOBS, { queues: { default: { concurrency } } });
  let completed = 0;
  const all = Promise.withResolvers<void>();
  host.services.get(JobEvents).on('completed', () => {
    if (++completed === n) all.resolve();
  });
  const rssBefore = rssAfterGc();
  const t0 = performance.now();
  await host.start();
  await all.promise;
  const seconds = (performance.now() - t0) / 1000;
  const rss = rssAfterGc();
  const heap = process.memoryUsage();
  progress(
    `drain-c${concurrency}: RSS ${rssBefore.toFixed(1)} MB before start, ${rss.toFixed(1)} MB after the drain and a GC (heap used ${(heap.heapUsed / 2 ** 20).toFixed(1)} MB of ${(heap.heapTotal / 2 ** 20).toFixed(1)} MB)`,
  );
  assertCount('completed jobs after the drain', (await totals(host.services.get(JobClient))).completed, n);
  await host.stop();
  result(`drain-c${concurrency}`, n / seconds);
  if (concurrency === 50) result('rss-mb', rss);
}

// ---------------------------------------------------------------------------------------------------------------
// Latency

/** Collects handler-start latencies of `count` ping jobs, indexed by job number. */
function collectLatencies(count: number): { samples: Float64Array; all: Promise<void> } {
  const samples = new Float64Array(count).fill(Number.NaN);
  const all = Promise.withResolvers<void>();
  let seen = 0;
  onPing = (i, sentAt, startedAt) => {
    if (!Number.isNaN(samples[i]!)) return; // a re-run (at-least-once) keeps the first start
    samples[i] = startedAt - sentAt;
    if (++seen === count) all.resolve();
  };
  return { samples, all: all.promise };
}

/** Enqueues `count` pings, one every `intervalMs` on a fixed cadence; each carries the time just before its call. */
async function sendPings(client: JobClient, count: number, intervalMs: number): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + i * intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    await client.enqueue(Ping, { i, t: now() });
  }
}

/** Waits for every ping, or fails after `ms`, naming how many arrived. */
async function within(all: Promise<void>, samples: Float64Array, ms: number): Promise<void> {
  const timer = sleep(ms, undefined, { ref: false }).then(() => {
    const missing = samples.filter(Number.isNaN).length;
    throw new Error(`${missing} of ${samples.length} latency jobs did not start within ${ms} ms.`);
  });
  await Promise.race([all, timer]);
}

function reportLatencies(prefix: string, samples: Float64Array): void {
  const kept = [...samples.subarray(SIZES.latencyWarmup)].sort((a, b) => a - b);
  progress(
    `${prefix}: min ${kept[0]!.toFixed(2)} ms, p90 ${percentile(kept, 0.9).toFixed(2)} ms, max ${kept.at(-1)!.toFixed(2)} ms over ${kept.length} jobs`,
  );
  result(`${prefix}-p50`, percentile(kept, 0.5));
  result(`${prefix}-p99`, percentile(kept, 0.99));
}

/** An idle worker and, in the same process, an enqueuer sending one job every 20 ms. */
async function latencyInProcess(store: StoreKind, dir: string): Promise<void> {
  const { latencyJobs: count, latencyIntervalMs: interval } = SIZES;
  const { samples, all } = collectLatencies(count);
  const host = buildHost(store, dir, JOBS, { queues: { default: { concurrency: 10 } } });
  await host.start();
  await sleep(SIZES.latencySettleMs);
  await sendPings(host.services.get(JobClient), count, interval);
  await within(all, samples, 10_000);
  await host.stop();
  reportLatencies('latency', samples);
}

/** The enqueuing process of latency-xproc (the `enqueuer` role). */
async function enqueuer(store: StoreKind, dir: string, count: number, intervalMs: number): Promise<void> {
  const host = buildHost(store, dir, JOBS, false);
  await host.start();
  const client = host.services.get(JobClient);
  await client.ready();
  await sleep(SIZES.latencySettleMs);
  await sendPings(client, count, intervalMs);
  await host.stop();
}

/** An idle worker here; the enqueuer is a separate process on the same store. */
async function latencyCrossProcess(store: StoreKind, dir: string): Promise<void> {
  const { latencyJobs: count, latencyIntervalMs: interval } = SIZES;
  const { samples, all } = collectLatencies(count);
  const host = buildHost(store, dir, JOBS, { queues: { default: { concurrency: 10 } } });
  await host.start(); // creates the file and schema before the enqueuer opens it
  const child = spawn(process.execPath, [CHILD, 'enqueuer', store, dir, String(count), String(interval)], {
    stdio: ['ignore', 2, 2],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  // A failed enqueuer ends the run at once; one that exits cleanly leaves the last jobs to arrive.
  const failed = exited.then((code) => {
    if (code !== 0) throw new Error(`The enqueuer process exited with code ${code}.`);
    return new Promise<never>(() => {});
  });
  try {
    await within(Promise.race([all, failed]), samples, count * interval + 30_000);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  await exited;
  await host.stop();
  reportLatencies('latency-xproc', samples);
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

/**
 * One worker processes 500,000 no-op jobs, enqueued in bulk (chunks of 1,000) by the same process while it runs, with
 * the backlog kept at or under 50,000. Completed jobs: `completedRetentionMs: 0` and `maxCompletedJobs: 10,000` (the
 * worker prunes at start and then once a minute, so within this run the table keeps every completed row).
 *
 * The checkpoints are taken alike: the producer stops at 100,000 (then 500,000) enqueued, waits for the worker to
 * complete them all, runs a full GC and reads the RSS. The worker is idle at both, so the figures compare retained
 * memory, not what happened to be in flight.
 */
async function memoryFlat(store: StoreKind, dir: string): Promise<void> {
  const { memoryJobs: total, memoryCheckpoint: checkpoint, memoryMaxBacklog: maxBacklog } = SIZES;
  const chunk = SIZES.memoryChunk;
  const host = buildHost(store, dir, JOBS, {
    queues: { default: { concurrency: 50 } },
    completedRetentionMs: 0,
    maxCompletedJobs: 10_000,
  });
  const client = host.services.get(JobClient);
  let completed = 0;
  let enqueued = 0;
  let peakHeapTotal = 0;
  /** Resolved when `completed` reaches `until`. */
  let waiter: { until: number; resolve: () => void } | undefined;
  const waitFor = (until: number): Promise<void> => {
    if (completed >= until) return Promise.resolve();
    return new Promise((resolve) => {
      waiter = { until, resolve };
    });
  };
  host.services.get(JobEvents).on('completed', () => {
    completed++;
    if (completed % 10_000 === 0) peakHeapTotal = Math.max(peakHeapTotal, process.memoryUsage().heapTotal);
    if (waiter && completed >= waiter.until) {
      waiter.resolve();
      waiter = undefined;
    }
  });
  const t0 = performance.now();
  await host.start();
  const sample = async (at: number): Promise<number> => {
    await waitFor(at);
    const rss = rssAfterGc();
    const m = process.memoryUsage();
    const seconds = (performance.now() - t0) / 1000;
    progress(
      `memory-flat: ${completed.toLocaleString('en')} completed after ${seconds.toFixed(1)} s (${Math.round(completed / seconds).toLocaleString('en')} jobs/s); after GC: rss ${rss.toFixed(1)} MB${rssParts()}, heap used ${mb(m.heapUsed)} MB of ${mb(m.heapTotal)} MB, external ${mb(m.external)} MB; peak heap total so far ${mb(peakHeapTotal)} MB`,
    );
    return rss;
  };
  const rss: number[] = [];
  for (const stop of [checkpoint, total]) {
    while (enqueued < stop) {
      // Keep the backlog bounded: wait for room for a chunk (with some slack, so a refill is more than one chunk).
      if (enqueued - completed + chunk > maxBacklog)
        await waitFor(enqueued + chunk - maxBacklog + 10 * chunk);
      const count = Math.min(chunk, stop - enqueued);
      await client.enqueueMany(Noop, items(enqueued, count));
      enqueued += count;
    }
    rss.push(await sample(stop));
  }
  const [at100k, at500k] = rss as [number, number];
  const left = await totals(client);
  const file = join(dir, 'jobs.db');
  const wal = statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  progress(
    `memory-flat: rows left ${JSON.stringify(left)}; database ${mb(statSync(file).size)} MB, WAL ${mb(wal)} MB; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB`,
  );
  await host.stop();
  result('rss-at-100k-mb', at100k);
  result('rss-at-500k-mb', at500k);
  result('rss-growth-pct', ((at500k - at100k) / at100k) * 100);
}

// ---------------------------------------------------------------------------------------------------------------

async function runMeasurement(name: string, store: StoreKind, dir: string): Promise<void> {
  switch (name) {
    case 'enqueue-single':
      return enqueueSingle(store, dir);
    case 'enqueue-bulk':
      return enqueueBulk(store, dir);
    case 'drain-c10':
      return drain(store, dir, 10);
    case 'drain-c50':
      return drain(store, dir, 50);
    case 'latency':
      return latencyInProcess(store, dir);
    case 'latency-xproc':
      return latencyCrossProcess(store, dir);
    case 'memory-flat':
      return memoryFlat(store, dir);
    default:
      throw new Error(`Unknown measurement '${name}'.`);
  }
}

const [role, ...rest] = process.argv.slice(2);
switch (role) {
  case 'run':
    await runMeasurement(rest[0]!, rest[1] as StoreKind, rest[2]!);
    send({ type: 'done' });
    process.disconnect?.();
    break;
  case 'seed':
    await seed(rest[0] as StoreKind, rest[1]!, Number(rest[2]));
    break;
  case 'enqueuer':
    await enqueuer(rest[0] as StoreKind, rest[1]!, Number(rest[2]), Number(rest[3]));
    break;
  default:
    throw new Error(`bench/child.ts: unknown role '${role}' (expected run, seed or enqueuer).`);
}
