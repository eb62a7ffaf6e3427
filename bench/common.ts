/**
 * Shared by the benchmark runner (bench/run.ts) and its child processes (bench/child.ts): the catalogue of scenarios,
 * the stores, the systems measured and small statistics helpers. It loads no job library: each system's module does.
 */
// Types only (erased when the file is loaded): a competitor's process never loads Hostwork through this module.
import type { WorkerOptions } from 'hostwork';

/** The stores the harness knows. */
export const STORES = ['sqlite', 'postgres'] as const;
export type StoreKind = (typeof STORES)[number];

/**
 * The systems measured. On `postgres`, graphile-worker and pg-boss run the same scenarios on the same server, in
 * their own fresh schema per run (bench/systems/); on `sqlite` only Hostwork runs.
 */
export const SYSTEMS = ['hostwork', 'graphile-worker', 'pg-boss'] as const;

/** The message transports the harness knows (`--transport`), instead of a job store. */
export const TRANSPORTS = ['rabbitmq', 'sqs', 'kafka', 'nats', 'redis', 'azure-service-bus'] as const;
export type TransportKind = (typeof TRANSPORTS)[number];

/**
 * The systems measured on a transport: Hostwork's consumer engine over its adapter, and a plain loop on the same
 * client library doing the same work (amqplib for RabbitMQ, the AWS SDK's SQS client for SQS, nats.js for NATS
 * JetStream, node-redis for Redis, @azure/service-bus's own receiver for Azure Service Bus, on the local AMQP stand-in).
 */
export const MESSAGE_SYSTEMS: Readonly<Record<TransportKind, readonly ['hostwork', PlainClient]>> = {
  rabbitmq: ['hostwork', 'amqplib'],
  sqs: ['hostwork', 'aws-sdk'],
  kafka: ['hostwork', 'platformatic-kafka'],
  nats: ['hostwork', 'nats-js'],
  redis: ['hostwork', 'node-redis'],
  'azure-service-bus': ['hostwork', 'azure-sdk'],
};
export type PlainClient =
  | 'amqplib'
  | 'aws-sdk'
  | 'platformatic-kafka'
  | 'nats-js'
  | 'node-redis'
  | 'azure-sdk';

export type SystemName = (typeof SYSTEMS)[number] | PlainClient;

/** The systems a store's suite measures by default. */
export function systemsOf(store: StoreKind): readonly SystemName[] {
  return store === 'postgres' ? SYSTEMS : ['hostwork'];
}

/**
 * A labelled configuration of one system other than the one it is normally measured in, run in addition to it (never
 * instead), with its own result lines (`"variant": name`).
 */
export interface Variant {
  readonly system: SystemName;
  readonly name: string;
  /** Only on this store. */
  readonly store: StoreKind;
  /** Only these scenarios (figure names). */
  readonly scenarios: readonly string[];
  /** Hostwork: options of the PostgreSQL store beyond the schema and URL. */
  readonly postgres?: { readonly poolSize?: number };
  /** Hostwork: worker options beyond the scenario's concurrency. */
  readonly worker?: Partial<Omit<WorkerOptions, 'queues'>>;
  /** graphile-worker: the size of its local queue (its performance page's configuration uses 500). */
  readonly localQueueSize?: number;
  /**
   * Hostwork: register the OpenTelemetry SDK in the measured process before the host is built (traces through a
   * batch span processor and metrics through a periodic reader, both to exporters that drop everything), so
   * Hostwork's telemetry is on; the system's normal configuration registers no SDK (telemetry off).
   */
  readonly telemetry?: 'noop-exporter';
  /** Hostwork on PostgreSQL: create the payload index (PostgresStore.createPayloadIndex) before the timing. */
  readonly payloadIndex?: true;
}

const DRAIN_FIGURES = ['drain-c10', 'drain-c50', 'drain-c10-peak-rss', 'drain-c50-peak-rss', 'rss-mb'];

export const VARIANTS: readonly Variant[] = [
  {
    // The payload index, which the dashboard's payload search can use: what it costs every enqueue (docs/dashboard.md).
    system: 'hostwork',
    name: 'payload-index',
    store: 'postgres',
    scenarios: ['enqueue-single', 'enqueue-bulk'],
    payloadIndex: true,
  },
  {
    // No completed jobs kept: a job's row is deleted as it completes, which is what graphile-worker always does.
    // The defaults keep completed jobs for 24 h, at the price of a second row update per job.
    system: 'hostwork',
    name: 'maxCompletedJobs=0',
    store: 'postgres',
    scenarios: DRAIN_FIGURES,
    worker: { maxCompletedJobs: 0 },
  },
  {
    // The size of graphile-worker's local queue in its documented configuration: what Hostwork's larger default
    // claims (2,000 on PostgreSQL) are worth, run after run.
    system: 'hostwork',
    name: 'batchSize=500',
    store: 'postgres',
    scenarios: ['drain-c10', 'drain-c50'],
    worker: { batchSize: 500 },
  },
  {
    // Telemetry on: the OpenTelemetry SDK registered with exporters that drop everything, so what is measured is
    // Hostwork's spans and metrics (and the SDK's span processing), not an exporter's network traffic.
    system: 'hostwork',
    name: 'telemetry=noop-exporter',
    store: 'sqlite',
    scenarios: DRAIN_FIGURES,
    telemetry: 'noop-exporter',
  },
  {
    // The same on PostgreSQL, where a job's own cost is higher (the store is another process).
    system: 'hostwork',
    name: 'telemetry=noop-exporter',
    store: 'postgres',
    scenarios: DRAIN_FIGURES,
    telemetry: 'noop-exporter',
  },
  {
    // Beyond graphile-worker's documentation: a local queue as large as Hostwork's default claims. Its drain rate
    // grows with the local queue on this workload, so the comparison is shown against this too.
    system: 'graphile-worker',
    name: 'localQueue=2000',
    store: 'postgres',
    scenarios: DRAIN_FIGURES,
    localQueueSize: 2_000,
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
  /** A variant's name (see {@link VARIANTS}), or undefined for the system's normal configuration. */
  readonly variant?: string;
}

/** The variant a context names (undefined for the system's normal configuration). */
export function variantOf(ctx: RunContext): Variant | undefined {
  if (ctx.variant === undefined) return undefined;
  const v = VARIANTS.find((x) => x.system === ctx.system && x.name === ctx.variant && x.store === ctx.store);
  if (!v) throw new Error(`Unknown ${ctx.system} variant '${ctx.variant}' for store ${ctx.store}.`);
  return v;
}

/** One figure a scenario reports. */
export interface Metric {
  readonly name: string;
  readonly unit: 'jobs/s' | 'msgs/s' | 'ms' | 'MB' | '%';
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
    metrics: [
      { name: 'drain-c10', unit: 'jobs/s' },
      { name: 'drain-c10-peak-rss', unit: 'MB' },
    ],
    inDefaultSuite: true,
    timeoutMs: 3 * MINUTE,
  },
  {
    name: 'drain-c50',
    metrics: [
      { name: 'drain-c50', unit: 'jobs/s' },
      { name: 'drain-c50-peak-rss', unit: 'MB' },
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
 * The measurements on a message transport (`--transport`), each run by Hostwork and by the plain client loop. The
 * figure names say what is measured: messages consumed per second at a concurrency, messages published per second,
 * and the time from before a publish to the handler's first line.
 */
export const MESSAGE_MEASUREMENTS: readonly Measurement[] = [
  {
    name: 'consume-c10',
    metrics: [{ name: 'consume-c10', unit: 'msgs/s' }],
    inDefaultSuite: true,
    timeoutMs: 3 * MINUTE,
  },
  {
    name: 'consume-c50',
    metrics: [{ name: 'consume-c50', unit: 'msgs/s' }],
    inDefaultSuite: true,
    timeoutMs: 3 * MINUTE,
  },
  {
    name: 'publish',
    metrics: [{ name: 'publish', unit: 'msgs/s' }],
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
];

/**
 * The targets of the transport comparison: Hostwork's rate at least this share of the plain client loop's in the same
 * run (`atLeastTimesPlain`), or its latency at most this many ms above the plain loop's (`addedAtMostMs`).
 */
export const MESSAGE_TARGETS: Readonly<
  Record<string, { atLeastTimesPlain?: number; addedAtMostMs?: number }>
> = {
  'consume-c10': { atLeastTimesPlain: 0.9 },
  'consume-c50': { atLeastTimesPlain: 0.9 },
  'latency-p50': { addedAtMostMs: 1 },
};

/** Sizes of the transport scenarios (the docs quote them). */
export const MESSAGE_SIZES: Readonly<
  Record<TransportKind, { consume: number; publish: number; latency: number }>
> = {
  rabbitmq: { consume: 20_000, publish: 20_000, latency: 500 },
  sqs: { consume: 20_000, publish: 20_000, latency: 500 },
  kafka: { consume: 20_000, publish: 20_000, latency: 500 },
  nats: { consume: 100_000, publish: 20_000, latency: 500 },
  redis: { consume: 100_000, publish: 20_000, latency: 500 },
  'azure-service-bus': { consume: 20_000, publish: 20_000, latency: 500 },
};

/**
 * Partitions of a Kafka run's topic (and its retry and dead-letter topics): as many as the highest concurrency, since
 * Hostwork's default ordering runs one message of a partition at a time.
 */
export const KAFKA_PARTITIONS = 50;

/**
 * How long a fetch waits at the broker on a Kafka run, for both systems. librdkafka's mock cluster answers a fetch
 * that found nothing only when this wait is over, even if a record arrives meanwhile (a broker answers at once), so
 * the wait, not the consumer, would make the latency: kept short on the mock.
 */
export const KAFKA_FETCH_MAX_WAIT_MS = 20;

/** Concurrent publishing loops of the `publish` scenario. */
export const PUBLISH_LOOPS = 10;
/** SQS: messages per SendMessageBatch / sendMany call in `publish` and in seeding. */
export const SQS_BATCH = 10;

/** Everything a child process measuring a transport needs to know about its run. */
export interface MessageRunContext {
  readonly system: SystemName;
  readonly transport: TransportKind;
  /** The run's own temporary directory (the host's content root). */
  readonly dir: string;
  /** The broker: the AMQP URL, the SQS emulator's endpoint, the NATS server, or the Redis URL. */
  readonly brokerUrl: string;
  /** The run's fresh queue, deleted by the runner afterwards (with its dead-letter queue). */
  readonly queue: string;
  readonly variant?: undefined;
}

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
    case 'msgs/s':
      return Math.round(value);
    case 'ms':
      return Math.round(value * 100) / 100;
    default:
      return Math.round(value * 10) / 10;
  }
}

/**
 * The process's peak resident set size so far in MB (`process.resourceUsage().maxRSS`, kB on Linux): read right after
 * a drain, in the fresh worker process that ran it (the jobs were enqueued by another process), it is the most memory
 * the worker held at any moment, start-up and the drain included, with no GC forced before it.
 */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
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
