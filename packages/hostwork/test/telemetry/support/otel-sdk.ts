/**
 * The OpenTelemetry SDK as an application wires it, for the telemetry tests: a tracer provider exporting to memory
 * (or to nowhere), the AsyncLocalStorage context manager and the W3C propagator, registered globally. Register it
 * before building a host: Hostwork decides whether to trace when the host resolves its telemetry.
 */
import assert from 'node:assert/strict';
import { context, propagation, type SpanContext, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  type Sampler,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

/** Registers a tracer provider exporting every span to memory; returns the exporter. */
export function registerTracing(options: { readonly sampler?: Sampler } = {}): InMemorySpanExporter {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
    ...(options.sampler ? { sampler: options.sampler } : {}),
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return exporter;
}

/** A span as plain JSON: what the child process of the cross-process test writes, and what assertions read. */
export interface SpanRecord {
  readonly name: string;
  /** The tracer that made it: `hostwork` for Hostwork's spans. */
  readonly scope: string;
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly links: readonly { readonly traceId: string; readonly spanId: string }[];
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly status: number;
  readonly events: readonly string[];
}

function ids(c: SpanContext): { traceId: string; spanId: string } {
  return { traceId: c.traceId, spanId: c.spanId };
}

/** The JSON record of a finished span. */
export function toRecord(span: ReadableSpan): SpanRecord {
  const own = span.spanContext();
  return {
    name: span.name,
    scope: span.instrumentationScope.name,
    kind: span.kind,
    traceId: own.traceId,
    spanId: own.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    links: span.links.map((l) => ids(l.context)),
    attributes: { ...span.attributes },
    status: span.status.code,
    events: span.events.map((e) => e.name),
  };
}

/** The one span named `name` (failing when there is none or several). */
export function only(spans: readonly SpanRecord[], name: string): SpanRecord {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1)
    throw new Error(
      `expected one span '${name}', found ${found.length} in: ${spans.map((s) => s.name).join(', ')}`,
    );
  return found[0]!;
}

/** The settle operations Hostwork names its settle spans after (`<operation> <destination>`). */
const SETTLE_OPERATIONS = new Set(['ack', 'retry', 'dead_letter', 'cancel', 'release', 'settle']);

/**
 * Asserts that every span Hostwork made among `spans` carries both `messaging.operation.type` and
 * `messaging.operation.name`, consistent with each other and with the span's name; returns how many of each type.
 */
export function assertOperations(spans: readonly SpanRecord[]): Record<string, number> {
  const seen: Record<string, number> = {};
  for (const s of spans) {
    if (s.scope !== 'hostwork') continue;
    const type = s.attributes['messaging.operation.type'];
    const name = s.attributes['messaging.operation.name'];
    const what = `span '${s.name}'`;
    assert.equal(typeof type, 'string', `${what} has messaging.operation.type`);
    assert.equal(typeof name, 'string', `${what} has messaging.operation.name`);
    switch (type) {
      case 'send':
        assert.equal(name, 'send', what);
        break;
      case 'process':
        assert.equal(name, 'process', what);
        break;
      case 'settle':
        assert.ok(SETTLE_OPERATIONS.has(String(name)), `${what}: settle operation ${String(name)}`);
        assert.equal(s.name.split(' ')[0], name, `${what} is named after its operation`);
        break;
      default:
        assert.fail(`${what}: unexpected messaging.operation.type ${String(type)}`);
    }
    seen[String(type)] = (seen[String(type)] ?? 0) + 1;
  }
  return seen;
}
