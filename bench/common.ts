/**
 * Shared by the benchmark runner (bench/run.ts) and its child processes (bench/child.ts): the catalogue of scenarios,
 * the stores, the systems measured, host construction and small statistics helpers.
 */
import { join } from 'node:path';
import { postgresStore } from '@hostwork/postgres';
import type { Host, JobDefinition, JobStore, WorkerOptions } from 'hostwork';
import { addJobs, createHostBuilder, sqliteStore } from 'hostwork';

/** The stores the harness knows. */
export const STORES = ['sqlite', 'postgres'] as const;
export type StoreKind = (typeof STORES)[number];

/**
 * The systems measured. On `postgres`, graphile-worker and pg-boss run the same scenarios on the same server, in
 * their own fresh schema per run (bench/systems/); on `sqlite` only Hostwork runs.
 */
export const SYSTEMS = ['hostwork', 'graphile-worker', 'pg-boss'] as const;
export type SystemName = (typeof SYSTEMS)[number];

/** The systems a store's suite measures by default. */
export function systemsOf(store: StoreKind): readonly SystemName[] {
  return store === 'postgres' ? SYSTEMS : ['hostwork'];
}

/**
 * A labelled Hostwork configuration other than the defaults, run in addition to them (never instead), with its own
 * result lines (`"variant": name`).
 */
export interface HostworkVariant {
  readonly name: string;
  /** Only on this store. */
  readonly store: StoreKind;
  /** Only these scenarios (figure names). */
  readonly scenarios: readonly string[];
  /** Options of the PostgreSQL store beyond the schema and URL. */
  readonly postgres?: { readonly poolSize?: number };
  /** Worker options beyond the scenario's concurrency. */
  readonly worker?: Partial<Omit<WorkerOptions, 'queues'>>;
}

export const HOSTWORK_VARIANTS: readonly HostworkVariant[] = [
  {
    // No completed jobs kept: a job's row is deleted as it completes, which is what graphile-worker always does.
    // The defaults keep completed jobs for 24 h, at the price of a second row update per job.
    name: 'maxCompletedJobs=0',
    store: 'postgres',
    scenarios: ['drain-c10', 'drain-c50', 'rss-mb'],
    worker: { maxCompletedJobs: 0 },
  },
  {
    // PostgreSQL's claim size before it became 2,000, and the size of graphile-worker's local queue in its documented
    // fastest configuration: shows, run after run, what the larger default claims are worth.
    name: 'batchSize=500',
    store: 'postgres',
    scenarios: ['drain-c10', 'drain-c50'],
    worker: { batchSize: 500 },
  },
];

/** Everything a child process needs to know about its run. */
export interface RunContext {
  readonly system: SystemName;
  readonly store: StoreKind;
  /** The run's own temporary directory (the SQLite file; the host's content root). */
  readonly dir: string;
  /** postgres: the run's fresh schema, dropped by the runner afterwards. */
  readonly schema: string;
  /** postgres: the database URL. */
  readonly databaseUrl: string;
  /** A Hostwork variant's name, or undefined for the defaults. */
  readonly variant?: string;
}

/** The variant a context names (undefined for the defaults). */
export function variantOf(ctx: RunContext): HostworkVariant | undefined {
  if (ctx.variant === undefined) return undefined;
  const v = HOSTWORK_VARIANTS.find((x) => x.name === ctx.variant && x.store === ctx.store);
  if (!v) throw new Error(`Unknown Hostwork variant '${ctx.variant}' for store ${ctx.store}.`);
  return v;
}

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
  /** The stores it applies to (default: all). */
  readonly stores?: readonly StoreKind[];
  /** Left out of the default suite on these stores (run it by name or with --all). */
  readonly optionalOn?: readonly StoreKind[];
}

/** Whether `m` runs on `store` without being named. */
export function inDefaultSuiteOf(m: Measurement, store: StoreKind): boolean {
  return m.inDefaultSuite && !(m.optionalOn ?? []).includes(store);
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
    // Three systems' runs of it would take the PostgreSQL suite past 10 minutes on a busy 2-core machine.
    optionalOn: ['postgres'],
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
    // It reads the SQLite file's size; on PostgreSQL the server's memory is not the worker's.
    stores: ['sqlite'],
  },
];

/**
 * The targets of the PostgreSQL comparison (for a 2-core machine): Hostwork's figure against graphile-worker's in the
 * same run (`atLeastTimesGraphile`), or an absolute bound in ms (`atMostMs`).
 */
export const POSTGRES_TARGETS: Readonly<
  Record<string, { atLeastTimesGraphile?: number; atMostMs?: number }>
> = {
  'enqueue-single': { atLeastTimesGraphile: 10 },
  'enqueue-bulk': { atLeastTimesGraphile: 1 },
  'drain-c10': { atLeastTimesGraphile: 1.5 },
  'drain-c50': { atLeastTimesGraphile: 1.5 },
  'latency-p50': { atMostMs: 2 },
  'latency-p99': { atMostMs: 5 },
};

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
  /** On PostgreSQL (three systems, 3 runs each): fewer, so the suite stays under 10 minutes. */
  postgresLatencyJobs: 500,
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

/** Jobs of a latency run on `store`. */
export function latencyJobsOf(store: StoreKind): number {
  return store === 'postgres' ? SIZES.postgresLatencyJobs : SIZES.latencyJobs;
}

/**
 * The messages a child sends the runner over IPC: figures (printed as result lines), details (only summarised on
 * stderr: the CPU split) and the end of the run.
 */
export type ChildMessage =
  | { readonly type: 'result'; readonly metric: string; readonly value: number }
  | { readonly type: 'detail'; readonly name: string; readonly value: number }
  | { readonly type: 'done' };

/** Wall-clock time in ms with sub-ms precision, comparable across processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

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

/**
 * Resident set size in MB after V8's last-resort collection (the one it runs on a low-memory notification): a full
 * GC that also compacts the heap and returns V8's pool of free pages to the operating system, so what is left is
 * what the process holds, not the headroom V8 keeps after a busy period. Needs --expose-gc.
 */
export function rssAfterLastResortGc(): number {
  (globalThis.gc as unknown as (options: object) => void)?.({
    type: 'major',
    execution: 'sync',
    flavor: 'last-resort',
  });
  return process.memoryUsage.rss() / (1024 * 1024);
}

/** Writes a progress line to stderr (stdout carries only result lines). */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
