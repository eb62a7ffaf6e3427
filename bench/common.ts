/**
 * Shared by the benchmark runner (bench/run.ts) and its child processes (bench/child.ts): the catalogue of scenarios,
 * the stores, host construction and small statistics helpers.
 */
import { join } from 'node:path';
import type { Host, JobDefinition, JobStore, WorkerOptions } from 'hostwork';
import { addJobs, createHostBuilder, sqliteStore } from 'hostwork';

/** The stores the harness knows; `postgres` is reserved for the issue that adds that store. */
export const STORES = ['sqlite', 'postgres'] as const;
export type StoreKind = (typeof STORES)[number];

/** One figure a scenario reports. */
export interface Metric {
  readonly name: string;
  readonly unit: 'jobs/s' | 'ms' | 'MB' | '%';
}

/**
 * One measurement: what one child process runs. Some measurements report several figures (percentiles of one set of
 * samples; the RSS left after a drain), each printed as its own result line.
 */
export interface Measurement {
  readonly name: string;
  readonly metrics: readonly Metric[];
  /** Part of the default suite; the others run only when named with --scenario or with --all. */
  readonly inDefaultSuite: boolean;
  /** The child is killed (and the run counted as failed) after this long. */
  readonly timeoutMs: number;
}

const MINUTE = 60_000;

export const MEASUREMENTS: readonly Measurement[] = [
  {
    name: 'enqueue-single',
    metrics: [{ name: 'enqueue-single', unit: 'jobs/s' }],
    inDefaultSuite: true,
    timeoutMs: 3 * MINUTE,
  },
  {
    name: 'enqueue-bulk',
    metrics: [{ name: 'enqueue-bulk', unit: 'jobs/s' }],
    inDefaultSuite: true,
    timeoutMs: 3 * MINUTE,
  },
  {
    name: 'drain-c10',
    metrics: [{ name: 'drain-c10', unit: 'jobs/s' }],
    inDefaultSuite: true,
    timeoutMs: 3 * MINUTE,
  },
  {
    name: 'drain-c50',
    metrics: [
      { name: 'drain-c50', unit: 'jobs/s' },
      { name: 'rss-mb', unit: 'MB' },
    ],
    inDefaultSuite: true,
    timeoutMs: 3 * MINUTE,
  },
  {
    name: 'latency',
    metrics: [
      { name: 'latency-p50', unit: 'ms' },
      { name: 'latency-p99', unit: 'ms' },
    ],
    inDefaultSuite: true,
    timeoutMs: 3 * MINUTE,
  },
  {
    name: 'latency-xproc',
    metrics: [
      { name: 'latency-xproc-p50', unit: 'ms' },
      { name: 'latency-xproc-p99', unit: 'ms' },
    ],
    inDefaultSuite: true,
    timeoutMs: 3 * MINUTE,
  },
  {
    name: 'memory-flat',
    metrics: [
      { name: 'rss-at-100k-mb', unit: 'MB' },
      { name: 'rss-at-500k-mb', unit: 'MB' },
      { name: 'rss-growth-pct', unit: '%' },
    ],
    inDefaultSuite: false,
    timeoutMs: 30 * MINUTE,
  },
];

/** Sizes of the scenarios, in one place (the docs quote them). */
export const SIZES = {
  /** Jobs of enqueue-single, enqueue-bulk and the drains. */
  jobs: 20_000,
  /** Concurrent async loops of enqueue-single. */
  enqueueClients: 10,
  /** Batch size of enqueue-bulk and of every pre-enqueue. */
  bulkBatch: 1_000,
  /** Jobs of a latency run, one every `latencyIntervalMs`; the first `latencyWarmup` are discarded. */
  latencyJobs: 1_000,
  latencyIntervalMs: 20,
  latencyWarmup: 50,
  /** Idle time between the worker's start and the first latency job. */
  latencySettleMs: 250,
  /** memory-flat: jobs processed, RSS checkpoint, bound on the backlog, enqueue chunk. */
  memoryJobs: 500_000,
  memoryCheckpoint: 100_000,
  memoryMaxBacklog: 50_000,
  memoryChunk: 1_000,
} as const;

/** The messages a child sends the runner over IPC. */
export type ChildMessage =
  | { readonly type: 'result'; readonly metric: string; readonly value: number }
  | { readonly type: 'done' };

/** Wall-clock time in ms with sub-ms precision, comparable across processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** The job store of a scenario, in the run's own fresh directory. */
export function createStore(kind: StoreKind, dir: string): JobStore {
  switch (kind) {
    case 'sqlite':
      return sqliteStore({ path: join(dir, 'jobs.db') });
    case 'postgres':
      throw new Error('The postgres store is not available yet.');
  }
}

/** A host with jobs on `kind`'s store in `dir`, quiet (warnings only), reading no configuration files or env. */
export function buildHost(
  kind: StoreKind,
  dir: string,
  // biome-ignore lint/suspicious/noExplicitAny: jobs of every payload type live in one list.
  jobs: readonly JobDefinition<any, any>[],
  worker: Partial<WorkerOptions> | false,
): Host {
  const builder = createHostBuilder({
    env: {},
    args: [],
    contentRoot: dir,
    environmentName: 'Production',
    logging: { level: 'warn' },
  });
  addJobs(builder, { jobs, store: createStore(kind, dir), worker });
  return builder.build();
}

/** The value at quantile `q` (0..1) by the nearest-rank method. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

/** The median (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Rounds a figure for printing: whole jobs/s, ms to 2 decimals, MB and % to 1. */
export function roundFor(unit: Metric['unit'], value: number): number {
  switch (unit) {
    case 'jobs/s':
      return Math.round(value);
    case 'ms':
      return Math.round(value * 100) / 100;
    default:
      return Math.round(value * 10) / 10;
  }
}

/** Resident set size in MB, after a full GC when the process runs with --expose-gc. */
export function rssAfterGc(): number {
  globalThis.gc?.();
  return process.memoryUsage.rss() / (1024 * 1024);
}

/** Writes a progress line to stderr (stdout carries only result lines). */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
