/**
 * Hostwork's telemetry: OpenTelemetry traces through `@opentelemetry/api` only (the application brings and registers
 * its SDK), and metrics kept in Hostwork's own registry, reported through the OpenTelemetry metrics API when a meter
 * provider is registered and rendered for Prometheus without one.
 *
 * Whether traces are made is decided once, when the host resolves this service (as it starts): with `tracing: 'auto'`
 * (the default) only when a tracer provider is registered then. When it is off, the engines check one boolean per job
 * and create nothing else, so telemetry costs nothing.
 */
import {
  type Attributes,
  type Context,
  context,
  metrics,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { JobStore } from '../jobs/job-store.ts';
import {
  type CounterSeries,
  type GaugeValue,
  type HistogramSeries,
  type Labels,
  MetricRegistry,
} from './metric-registry.ts';
import { traceContextEntries } from './trace-context.ts';

/** Telemetry options (`addTelemetry(builder, options)`). */
export interface TelemetryOptions {
  /**
   * Traces: `'auto'` (default) makes spans when an OpenTelemetry tracer provider is registered as the host starts
   * (register your SDK before building the host, as OpenTelemetry asks anyway); `true` always asks the API for spans
   * (no-op without an SDK); `false` never does.
   */
  readonly tracing?: boolean | 'auto';
  /**
   * Metrics: `true` (default) counts jobs and messages (a few additions per job, no allocation), served by the
   * Prometheus handler and, when an OpenTelemetry meter provider is registered as the host starts, reported through
   * it; `false` counts nothing.
   */
  readonly metrics?: boolean;
  /**
   * How long values read on collection (jobs by state and queue lag from the store, consumer lag from the brokers)
   * are reused. Default: 5,000 ms.
   */
  readonly storeReadCacheMs?: number;
}

const OPTION_KEYS = ['tracing', 'metrics', 'storeReadCacheMs'];

/** Attribute names used on spans and metrics (OpenTelemetry messaging semantic conventions, plus Hostwork's own). */
export const Attr = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  messageId: 'messaging.message.id',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  consumerGroup: 'messaging.consumer.group.name',
  errorType: 'error.type',
  jobAttempt: 'hostwork.job.attempt',
  jobName: 'hostwork.job.name',
  messageAttempt: 'hostwork.message.attempt',
  messageType: 'hostwork.message.type',
  outcome: 'hostwork.outcome',
  queue: 'hostwork.queue',
  state: 'hostwork.job.state',
} as const;

/** `messaging.system` of durable jobs (a job store, not a broker). */
export const JOBS_SYSTEM = 'hostwork';

/** `messaging.system` of a transport, from its kind: the semantic conventions' names where they have one. */
export function messagingSystem(kind: string): string {
  switch (kind) {
    case 'sqs':
      return 'aws_sqs';
    case 'azure-service-bus':
    case 'servicebus':
      return 'servicebus';
    case 'nats':
      return 'nats';
    default:
      return kind;
  }
}

/** Seconds between bucket bounds of `messaging.process.duration` (the semantic conventions' advice). */
const DURATION_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** How an attempt or a delivery ended, as the `hostwork.outcome` label says it. */
export type Outcome = 'completed' | 'retry' | 'dead' | 'cancelled' | 'released' | 'lost';

/** The metrics of one destination (a job queue, a consumer's source, a publisher's destination). */
export interface DestinationMetrics {
  readonly sent: CounterSeries;
  readonly consumed: CounterSeries;
  readonly retries: CounterSeries;
  readonly deadLetters: CounterSeries;
  /** The duration series of an outcome. */
  duration(outcome: Outcome): HistogramSeries;
}

/** A running process span and the context to run its handler in (its span active). */
export interface ProcessTrace {
  readonly span: Span;
  readonly context: Context;
}

/** An error as recorded on a span. */
export interface RecordedError {
  readonly name?: string;
  readonly message: string;
  readonly stack?: string;
  /** `error.type` when there is no name (a timeout, a lost lease). */
  readonly kind?: string;
}

const NOOP_COUNTER: CounterSeries = { labels: {}, value: 0, add() {} };
const NOOP_HISTOGRAM: HistogramSeries = { labels: {}, counts: [], sum: 0, count: 0, observe() {} };
/** Metrics that count into nothing (telemetry off, or an engine built by hand without it). */
export const NOOP_DESTINATION: DestinationMetrics = {
  sent: NOOP_COUNTER,
  consumed: NOOP_COUNTER,
  retries: NOOP_COUNTER,
  deadLetters: NOOP_COUNTER,
  duration: () => NOOP_HISTOGRAM,
};

/** Whether the global tracer provider is an SDK's rather than the API's no-op (checked once, at construction). */
export function tracerProviderRegistered(): boolean {
  let provider: object = trace.getTracerProvider();
  const proxy = provider as { getDelegate?: () => object };
  if (typeof proxy.getDelegate === 'function') provider = proxy.getDelegate();
  return provider.constructor?.name !== 'NoopTracerProvider';
}

/** Whether the global meter provider is an SDK's rather than the API's no-op. */
export function meterProviderRegistered(): boolean {
  return metrics.getMeterProvider().constructor?.name !== 'NoopMeterProvider';
}

/** Validates `addTelemetry` options; bad ones throw HW_UNKNOWN_OPTION or HW_INVALID_OPTION naming the fix. */
export function validateTelemetryOptions(options: TelemetryOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addTelemetry(): options must be an object, got ${JSON.stringify(options)}.`,
    );
  }
  assertKnownKeys('addTelemetry() options', options, OPTION_KEYS);
  if (options.tracing !== undefined && typeof options.tracing !== 'boolean' && options.tracing !== 'auto') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addTelemetry(): tracing must be true, false or 'auto', got ${JSON.stringify(options.tracing)}.`,
    );
  }
  if (options.metrics !== undefined && typeof options.metrics !== 'boolean') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addTelemetry(): metrics must be true or false, got ${JSON.stringify(options.metrics)}.`,
    );
  }
  const cache = options.storeReadCacheMs;
  if (cache !== undefined && !(typeof cache === 'number' && Number.isFinite(cache) && cache >= 0)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addTelemetry(): storeReadCacheMs must be a number of ms >= 0, got ${JSON.stringify(cache)}.`,
    );
  }
}

/**
 * The telemetry of one host: its tracer (when tracing is on) and its metrics. Resolved from the host's services
 * (`host.services.get(Telemetry)`); {@link Telemetry.prometheus} renders the metrics for a scrape.
 */
export class Telemetry {
  /** Whether spans are made (decided once, at construction). */
  readonly tracing: boolean;
  /** Whether metrics are counted. */
  readonly metricsEnabled: boolean;
  /** The metrics, for the Prometheus handler. */
  readonly registry = new MetricRegistry();
  readonly #tracer: Tracer;
  readonly #cacheMs: number;
  readonly #destinations = new Map<string, DestinationMetrics>();
  readonly #watched = new WeakSet<JobStore>();
  readonly #sent;
  readonly #consumed;
  readonly #duration;
  readonly #retries;
  readonly #deadLetters;
  readonly #leaseRecoveries;
  readonly #jobs;
  readonly #lag;
  readonly #consumerLag;
  /** `hostwork.lease_recoveries` of the job store. */
  readonly leaseRecoveries: CounterSeries;

  constructor(options: TelemetryOptions = {}) {
    validateTelemetryOptions(options);
    const tracing = options.tracing ?? 'auto';
    this.tracing = tracing === 'auto' ? tracerProviderRegistered() : tracing;
    this.metricsEnabled = options.metrics ?? true;
    this.#cacheMs = options.storeReadCacheMs ?? 5_000;
    this.#tracer = trace.getTracer('hostwork');
    const r = this.registry;
    this.#sent = r.counter({
      name: 'messaging.client.sent.messages',
      description: 'Messages sent: jobs enqueued, messages published.',
      unit: '{message}',
    });
    this.#consumed = r.counter({
      name: 'messaging.client.consumed.messages',
      description: 'Messages consumed: job attempts and deliveries started.',
      unit: '{message}',
    });
    this.#duration = r.histogram(
      {
        name: 'messaging.process.duration',
        description: 'Duration of processing: a job attempt or a message handler, by outcome.',
        unit: 's',
      },
      DURATION_BOUNDS,
    );
    this.#retries = r.counter({
      name: 'hostwork.retries',
      description: 'Failed attempts that will be retried.',
      unit: '{message}',
    });
    this.#deadLetters = r.counter({
      name: 'hostwork.dead_letters',
      description: 'Jobs that ended dead and messages dead-lettered.',
      unit: '{message}',
    });
    this.#leaseRecoveries = r.counter({
      name: 'hostwork.lease_recoveries',
      description: 'Jobs returned to their queue (or dead) after their worker stopped renewing its lease.',
      unit: '{job}',
    });
    this.#jobs = r.gauge({
      name: 'hostwork.jobs',
      description: 'Jobs in the store, by queue and state.',
      unit: '{job}',
    });
    this.#lag = r.gauge({
      name: 'hostwork.queue.lag',
      description: 'Age of the oldest due pending job of each queue (0 when none is due).',
      unit: 's',
    });
    this.#consumerLag = r.gauge({
      name: 'messaging.consumer.lag',
      description:
        'Messages waiting in the broker for each consumer that it has not received yet (where its transport reports them).',
      unit: '{message}',
    });
    this.leaseRecoveries = this.metricsEnabled
      ? this.#leaseRecoveries.series({ [Attr.system]: JOBS_SYSTEM })
      : NOOP_COUNTER;
    if (this.metricsEnabled && meterProviderRegistered()) this.#bridgeToOpenTelemetry();
  }

  /** The metrics of a destination of a system, resolved once per destination (keep what it returns). */
  destination(system: string, name: string): DestinationMetrics {
    if (!this.metricsEnabled) return NOOP_DESTINATION;
    const key = `${system}\u0000${name}`;
    let d = this.#destinations.get(key);
    if (d === undefined) {
      const labels: Labels = { [Attr.system]: system, [Attr.destination]: name };
      const durations = new Map<Outcome, HistogramSeries>();
      const duration = this.#duration;
      d = {
        sent: this.#sent.series(labels),
        consumed: this.#consumed.series(labels),
        retries: this.#retries.series(labels),
        deadLetters: this.#deadLetters.series(labels),
        duration(outcome) {
          let s = durations.get(outcome);
          if (s === undefined) {
            s = duration.series({ ...labels, [Attr.outcome]: outcome });
            durations.set(outcome, s);
          }
          return s;
        },
      };
      this.#destinations.set(key, d);
    }
    return d;
  }

  /**
   * Reads jobs by state and the queue lag from `store` whenever metrics are collected (at most once per
   * `storeReadCacheMs`), never on a hot path. Idempotent.
   */
  watchStore(store: JobStore): void {
    if (!this.metricsEnabled || this.#watched.has(store)) return;
    this.#watched.add(store);
    let cached: { at: number; read: Promise<{ jobs: GaugeValue[]; lag: GaugeValue[] }> } | undefined;
    const read = () => {
      const now = Date.now();
      if (cached === undefined || now - cached.at > this.#cacheMs) {
        const reading = readStore(store, now);
        cached = { at: now, read: reading };
        // A failed read is not kept: the next collection tries again.
        reading.catch(() => {
          if (cached?.read === reading) cached = undefined;
        });
      }
      return cached.read;
    };
    this.#jobs.addSource(async () => (await read()).jobs);
    this.#lag.addSource(async () => (await read()).lag);
  }

  /**
   * Reads the consumers' lag (`read` asks their brokers) whenever metrics are collected, at most once per
   * `storeReadCacheMs`, never on a hot path. Returns the function that stops reading it (at the consumers' stop).
   */
  watchConsumerLag(read: () => Promise<readonly GaugeValue[]>): () => void {
    if (!this.metricsEnabled) return () => {};
    let cached: { at: number; read: Promise<readonly GaugeValue[]> } | undefined;
    return this.#consumerLag.addSource(() => {
      const now = Date.now();
      if (cached === undefined || now - cached.at > this.#cacheMs) {
        const reading = read();
        cached = { at: now, read: reading };
        reading.catch(() => {
          if (cached?.read === reading) cached = undefined;
        });
      }
      return cached.read;
    });
  }

  /** The metrics in the Prometheus text exposition format 0.0.4. */
  prometheus(): Promise<string> {
    return this.registry.renderPrometheus();
  }

  /**
   * Starts a PRODUCER span (`send <destination>`; `send` alone for a batch to several destinations) under the active
   * context, or returns undefined when tracing is off.
   */
  startSend(system: string, destination: string | undefined, attributes: Attributes): Span | undefined {
    if (!this.tracing) return undefined;
    return this.#tracer.startSpan(destination === undefined ? 'send' : `send ${destination}`, {
      kind: SpanKind.PRODUCER,
      attributes: {
        [Attr.system]: system,
        ...(destination === undefined ? {} : { [Attr.destination]: destination }),
        [Attr.operationType]: 'send',
        [Attr.operationName]: 'send',
        ...attributes,
      },
    });
  }

  /**
   * The carrier entries (`traceparent`, `tracestate`) of a span to store with a job or a message, or undefined when
   * the span is not recording (no SDK, or sampled out): nothing is written then.
   */
  carrierOf(span: Span | undefined): Record<string, string> | undefined {
    if (span === undefined || !span.isRecording()) return undefined;
    return traceContextEntries(span.spanContext());
  }

  /**
   * Starts a CONSUMER span `name` (`process <destination>`, built once per destination by the caller) whose parent is
   * the producer's context `parent` (read from the job or message; a new trace without one), linked to it too.
   * `attributes` are all of the span's attributes at its start, `messaging.system`, `messaging.destination.name`,
   * `messaging.operation.type` and `messaging.operation.name` (`process`) included: one object literal per attempt, which the SDK copies as it is (no merging
   * here, as this runs for every job). Returns the span and the context to run the handler in, or undefined when
   * tracing is off.
   */
  startProcess(
    name: string,
    parent: SpanContext | undefined,
    attributes: Attributes,
  ): ProcessTrace | undefined {
    if (!this.tracing) return undefined;
    // From the root, not the active context: a job handed over in the enqueuing request's turn must not become a
    // child of that request; its parent is the enqueue's span, read from the job.
    const span =
      parent === undefined
        ? this.#tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, ROOT_CONTEXT)
        : this.#tracer.startSpan(
            name,
            { kind: SpanKind.CONSUMER, attributes, links: [{ context: parent }] },
            trace.setSpanContext(ROOT_CONTEXT, parent),
          );
    // The handler's context holds the process span alone: its parent is in the span, not needed in the context.
    return { span, context: trace.setSpan(ROOT_CONTEXT, span) };
  }

  /**
   * Starts a settle span (`<operation> <destination>`: ack, retry, dead_letter, release, or settle for a mix),
   * ended once the store or broker has the outcome(s). Its parent is the first of `processes` (the attempts or
   * deliveries it settles), and it links to each of them when there are several.
   */
  startSettle(
    system: string,
    destination: string | undefined,
    operation: string,
    count: number,
    processes: readonly SpanContext[],
    id?: string,
  ): Span | undefined {
    if (!this.tracing) return undefined;
    const attributes: Attributes = {
      [Attr.system]: system,
      [Attr.operationType]: 'settle',
      [Attr.operationName]: operation,
    };
    if (destination !== undefined) attributes[Attr.destination] = destination;
    if (id !== undefined) attributes[Attr.messageId] = id;
    else attributes['messaging.batch.message_count'] = count;
    const parent = processes[0];
    return this.#tracer.startSpan(
      destination === undefined ? operation : `${operation} ${destination}`,
      {
        kind: SpanKind.CLIENT,
        attributes,
        ...(processes.length > 1 ? { links: processes.map((context) => ({ context })) } : {}),
      },
      parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT,
    );
  }

  /** Runs `fn` with `ctx` active (the handler's own spans become children of the process span). */
  static run<T>(ctx: Context, fn: () => T): T {
    return context.with(ctx, fn);
  }

  /** Records an error on a span: the exception event, the error status and `error.type`. */
  static recordError(span: Span, error: RecordedError): void {
    span.recordException({
      name: error.name ?? error.kind ?? 'Error',
      message: error.message,
      ...(error.stack ? { stack: error.stack } : {}),
    });
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    span.setAttribute(Attr.errorType, error.name ?? error.kind ?? '_OTHER');
  }

  /** Reports the counters and gauges as observable instruments and the durations as a histogram. */
  #bridgeToOpenTelemetry(): void {
    const meter = metrics.getMeter('hostwork');
    for (const metric of this.registry.metrics) {
      const info = { description: metric.description, unit: metric.unit };
      switch (metric.kind) {
        case 'counter':
          meter.createObservableCounter(metric.name, info).addCallback((result) => {
            for (const s of metric.collect()) result.observe(s.value, s.labels);
          });
          break;
        case 'gauge':
          meter.createObservableGauge(metric.name, info).addCallback(async (result) => {
            for (const v of await metric.collect()) result.observe(v.value, v.labels);
          });
          break;
        case 'histogram': {
          const histogram = meter.createHistogram(metric.name, {
            ...info,
            advice: { explicitBucketBoundaries: [...metric.bounds] },
          });
          metric.onObserve = (value, labels) => histogram.record(value, labels);
          break;
        }
      }
    }
  }
}

/** Jobs by queue and state, and the lag of each queue with jobs (0 when none is due). */
async function readStore(store: JobStore, now: number): Promise<{ jobs: GaugeValue[]; lag: GaugeValue[] }> {
  const [counts, backlog] = await Promise.all([
    store.counts(),
    store.dueBacklog?.(now) ?? Promise.resolve([]),
  ]);
  const jobs = counts.map((c) => ({
    labels: { [Attr.queue]: c.queue, [Attr.state]: c.state },
    value: c.count,
  }));
  const lagByQueue = new Map<string, number>();
  for (const c of counts) lagByQueue.set(c.queue, 0);
  for (const b of backlog) lagByQueue.set(b.queue, Math.max(0, now - b.oldestDueAt) / 1000);
  const lag = [...lagByQueue].map(([queue, value]) => ({ labels: { [Attr.queue]: queue }, value }));
  return { jobs, lag };
}
