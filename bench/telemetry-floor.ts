/**
 * The per-job cost of Hostwork's telemetry hooks against the OpenTelemetry SDK's own floor, with no store and no
 * worker around them: `node bench/telemetry-floor.ts [iterations]`, after `npm run build`. The SDK is set up as in
 * bench/telemetry-cpu.ts `meter-sdk` (every span recorded, batch span processor and periodic metric reader, both
 * exporting to exporters that drop everything). Each case runs in turn, several rounds; the CPU time per iteration
 * (user + system, this process, GC included) is printed as the median of the rounds. See docs/telemetry.md#cost.
 */
import { context, metrics, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { TelemetryAttributes as Attr, JOBS_SYSTEM, Telemetry } from 'hostwork';

const n = Number(process.argv[2] ?? 200_000);
const ok = { code: 0 };
metrics.setGlobalMeterProvider(
  new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: {
          export: (_: unknown, done: (result: { code: number }) => void) => done(ok),
          forceFlush: async () => {},
          shutdown: async () => {},
          selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
        },
        exportIntervalMillis: 60_000,
      }),
    ],
  }),
);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(
  new TracerProvider({
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: {
          export: (_: unknown, done: (result: { code: number }) => void) => done(ok),
          shutdown: async () => {},
        },
      }),
    ],
  }),
);

const telemetry = new Telemetry();
const tracer = trace.getTracer('floor');
const sampledTracer = new TracerProvider({
  sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) }),
  spanProcessors: [
    new BatchSpanProcessor({
      exporter: {
        export: (_: unknown, done: (result: { code: number }) => void) => done(ok),
        shutdown: async () => {},
      },
    }),
  ],
}).getTracer('floor');
const histogram = metrics.getMeter('floor').createHistogram('floor.duration', { unit: 's' });
const durationAttributes = {
  [Attr.system]: JOBS_SYSTEM,
  [Attr.destination]: 'default',
  [Attr.outcome]: 'completed',
};
const metricsOfQueue = telemetry.destination(JOBS_SYSTEM, 'default');
const handler = (i: number) => i;

const cases: Record<string, (i: number) => void> = {
  // The SDK alone: a CONSUMER span with the attributes of an attempt, as Hostwork passes them (four at the start,
  // two set on the recorded span), started from the root and ended.
  'sdk span start+end': (i) => {
    const span = tracer.startSpan(
      'process default',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          [Attr.system]: JOBS_SYSTEM,
          [Attr.destination]: 'default',
          [Attr.operationType]: 'process',
          [Attr.jobName]: 'noop',
        },
      },
      ROOT_CONTEXT,
    );
    span.setAttribute(Attr.messageId, String(i));
    span.setAttribute(Attr.jobAttempt, 1);
    span.end();
  },
  // The SDK and the API alone, with the handler run in the span's context (which the handler's own spans need).
  'sdk span + its context': (i) => {
    const span = tracer.startSpan(
      'process default',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          [Attr.system]: JOBS_SYSTEM,
          [Attr.destination]: 'default',
          [Attr.operationType]: 'process',
          [Attr.jobName]: 'noop',
        },
      },
      ROOT_CONTEXT,
    );
    span.setAttribute(Attr.messageId, String(i));
    span.setAttribute(Attr.jobAttempt, 1);
    context.with(trace.setSpan(ROOT_CONTEXT, span), () => handler(i));
    span.end();
  },
  // The SDK alone: one histogram recording with the duration's three attributes.
  'sdk histogram.record': (i) => histogram.record(i / 1e6, durationAttributes),
  // Hostwork: the process span, the handler run in its context, the span ended (what the worker does per attempt:
  // JobWorker #startTrace, #execute and #endTrace).
  'hostwork process span': (i) => {
    const t = telemetry.startProcess('process default', undefined, {
      [Attr.system]: JOBS_SYSTEM,
      [Attr.destination]: 'default',
      [Attr.operationType]: 'process',
      [Attr.jobName]: 'noop',
    })!;
    if (t.span.isRecording()) {
      t.span.setAttribute(Attr.messageId, String(i));
      t.span.setAttribute(Attr.jobAttempt, 1);
    }
    Telemetry.run(t.context, () => handler(i));
    t.span.end();
  },
  // The SDK alone, sampling 10 % of root spans (ParentBased(TraceIdRatioBased(0.1))): most spans are sampled out,
  // but the SDK still generates their ids and checks their attributes.
  'sdk span, 10 % sampled': () => {
    sampledTracer
      .startSpan(
        'process default',
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            [Attr.system]: JOBS_SYSTEM,
            [Attr.destination]: 'default',
            [Attr.operationType]: 'process',
            [Attr.jobName]: 'noop',
          },
        },
        ROOT_CONTEXT,
      )
      .end();
  },
  // Hostwork: the duration observed (its own histogram, and the SDK's through the bridge).
  'hostwork duration': (i) => metricsOfQueue.duration('completed').observe(i / 1e6),
};

/** Runs in chunks of 50 with a turn of the event loop between them, as a worker does: the batch span processor
 * exports as it would there, instead of dropping the spans a full queue cannot take. */
async function cpuPerIteration(run: (i: number) => void): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; ) {
    for (const end = Math.min(n, i + 50); i < end; i++) run(i);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

const results = new Map<string, number[]>();
for (let round = 0; round < 7; round++) {
  for (const [name, run] of Object.entries(cases)) {
    const perIteration = await cpuPerIteration(run);
    if (round > 1) results.set(name, [...(results.get(name) ?? []), perIteration]); // two warm-up rounds
  }
}
for (const [name, values] of results) {
  const sorted = values.toSorted((a, b) => a - b);
  console.log(`${name.padEnd(24)} ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} µs CPU`);
}
