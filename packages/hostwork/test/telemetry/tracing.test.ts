/**
 * Traces and OpenTelemetry metrics with the SDK registered as an application registers it (in-memory exporters):
 * enqueue → attempts → settlements for jobs, publish → deliveries → settlements for messages, and the metrics the
 * SDK collects. The SDK is registered once for the whole file, before any host is built.
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { context, metrics, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { type CollectionResult, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { z } from 'zod';
import { defineJob } from '../../src/jobs/job-definition.ts';
import { addMessaging } from '../../src/messaging/add-messaging.ts';
import { defineConsumer } from '../../src/messaging/consumer-definition.ts';
import { inMemoryTransport } from '../../src/messaging/in-memory-transport.ts';
import { defineMessage } from '../../src/messaging/message-definition.ts';
import { MessagePublisher } from '../../src/messaging/message-publisher.ts';
import { addTelemetry } from '../../src/telemetry/add-telemetry.ts';
import { Telemetry } from '../../src/telemetry/telemetry.ts';
import { jobHost, T, waitFor } from '../jobs/helpers.ts';
import { withMessagingHost } from '../messaging/helpers.ts';
import { assertOperations, only, registerTracing, type SpanRecord, toRecord } from './support/otel-sdk.ts';

const exporter = registerTracing();

/** A metric reader the test collects from on demand. */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
const reader = new TestReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

const app = trace.getTracer('test-app');

function finished(): SpanRecord[] {
  return exporter.getFinishedSpans().map(toRecord);
}

/** Runs `fn` inside a SERVER span standing for an HTTP request; returns its record once ended. */
async function inRequest<R>(fn: () => Promise<R>): Promise<{ result: R; request: string }> {
  return app.startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
    try {
      return { result: await fn(), request: span.spanContext().spanId };
    } finally {
      span.end();
    }
  });
}

const Flaky = defineJob({
  name: 'flaky',
  schema: z.object({ n: z.number() }),
  maxAttempts: 3,
  backoff: { type: 'fixed', delay: 20 },
  handle(_input, ctx) {
    app.startActiveSpan('handler work', (s) => s.end());
    if (ctx.attempt === 1) throw new TypeError('first attempt fails');
  },
});

describe('job traces', () => {
  it(
    'one trace: the request, its enqueue (PRODUCER), each attempt (CONSUMER, child of and linked to the enqueue), the handler’s spans, the settlements',
    T,
    async () => {
      exporter.reset();
      const h = jobHost({ jobs: [Flaky], worker: { queues: { default: { concurrency: 2 } } } });
      await h.host.start();
      const done = Promise.withResolvers<void>();
      h.events.on('completed', () => done.resolve());
      const { result, request } = await inRequest(() => h.client.enqueue(Flaky, { n: 1 }));
      await done.promise;
      await h.host.stop();

      const spans = finished();
      const send = only(spans, 'send default');
      const processes = spans.filter((s) => s.name === 'process default');
      assert.equal(processes.length, 2, 'one process span per attempt');
      const [first, second] = processes.sort(
        (a, b) => Number(a.attributes['hostwork.job.attempt']) - Number(b.attributes['hostwork.job.attempt']),
      );
      const traceId = send.traceId;
      for (const s of spans) assert.equal(s.traceId, traceId, `${s.name} is in the request's trace`);

      assert.equal(send.kind, SpanKind.PRODUCER);
      assert.equal(send.parentSpanId, request, 'the enqueue is a child of the request');
      assert.deepEqual(
        {
          system: send.attributes['messaging.system'],
          destination: send.attributes['messaging.destination.name'],
          operation: send.attributes['messaging.operation.type'],
          operationName: send.attributes['messaging.operation.name'],
          id: send.attributes['messaging.message.id'],
        },
        {
          system: 'hostwork',
          destination: 'default',
          operation: 'send',
          operationName: 'send',
          id: result.id,
        },
      );

      for (const [p, attempt] of [
        [first!, 1],
        [second!, 2],
      ] as const) {
        assert.equal(p.kind, SpanKind.CONSUMER);
        assert.equal(p.parentSpanId, send.spanId, 'each attempt is a child of the enqueue');
        assert.deepEqual(p.links, [{ traceId, spanId: send.spanId }], 'and linked to it');
        assert.equal(p.attributes['hostwork.job.attempt'], attempt);
        assert.equal(p.attributes['messaging.message.id'], result.id);
        assert.equal(p.attributes['messaging.operation.type'], 'process');
        assert.equal(p.attributes['messaging.operation.name'], 'process');
        const work = spans.filter((s) => s.name === 'handler work' && s.parentSpanId === p.spanId);
        assert.equal(
          work.length,
          1,
          `the handler's span of attempt ${attempt} is a child of its process span`,
        );
      }
      assert.equal(first!.status, SpanStatusCode.ERROR);
      assert.ok(first!.events.includes('exception'), 'the failure is recorded');
      assert.equal(first!.attributes['error.type'], 'error');
      assert.equal(first!.attributes['hostwork.outcome'], 'retry');
      assert.notEqual(second!.status, SpanStatusCode.ERROR);
      assert.equal(
        second!.attributes['hostwork.outcome'],
        undefined,
        'a completion needs no outcome attribute',
      );

      // One settle span per batch write of outcomes, a child of (the first of) the attempts it writes.
      const retry = only(spans, 'retry default');
      const ack = only(spans, 'ack default');
      assert.equal(retry.parentSpanId, first!.spanId);
      assert.equal(ack.parentSpanId, second!.spanId);
      for (const s of [retry, ack]) {
        assert.equal(s.attributes['messaging.operation.type'], 'settle');
        assert.equal(s.attributes['messaging.batch.message_count'], 1);
      }
      assert.equal(retry.attributes['messaging.operation.name'], 'retry');
      assert.equal(ack.attributes['messaging.operation.name'], 'ack');
      assert.deepEqual(assertOperations(spans), { send: 1, process: 2, settle: 2 });

      // The enqueue's context is what the job row carries.
      const db = new DatabaseSync(h.path, { readOnly: true });
      const row = db.prepare('SELECT metadata FROM hw_jobs WHERE id = ?').get(Number(result.id));
      db.close();
      assert.deepEqual(JSON.parse(String(row?.metadata)), { traceparent: `00-${traceId}-${send.spanId}-01` });
    },
  );

  it('enqueueMany: one send span for the batch, every job’s attempt a child of it', T, async () => {
    exporter.reset();
    const h = jobHost({ jobs: [Flaky], worker: { queues: { default: { concurrency: 4 } } } });
    await h.host.start();
    let completed = 0;
    const all = Promise.withResolvers<void>();
    h.events.on('completed', () => {
      if (++completed === 3) all.resolve();
    });
    await h.client.enqueueMany(Flaky, [{ payload: { n: 1 } }, { payload: { n: 2 } }, { payload: { n: 3 } }]);
    await all.promise;
    await h.host.stop();
    const spans = finished();
    const send = only(spans, 'send default');
    assert.equal(send.attributes['messaging.batch.message_count'], 3);
    assert.equal(send.parentSpanId, undefined, 'no active span: a new trace');
    const processes = spans.filter((s) => s.name === 'process default');
    assert.equal(processes.length, 6, 'two attempts of each of three jobs');
    for (const p of processes) assert.equal(p.parentSpanId, send.spanId);
    // Every attempt's outcome is written under a settle span that is its child or links to it.
    const settles = spans.filter((s) => s.attributes['messaging.operation.type'] === 'settle');
    for (const p of processes) {
      assert.ok(
        settles.some((s) => s.parentSpanId === p.spanId || s.links.some((l) => l.spanId === p.spanId)),
        `the write of attempt ${p.spanId} is traced`,
      );
    }
    const counted = settles.reduce((n, s) => n + Number(s.attributes['messaging.batch.message_count']), 0);
    assert.equal(counted, 6, 'each outcome written once');
    assert.equal(send.attributes['messaging.operation.name'], 'send');
    assert.deepEqual(assertOperations(spans), { send: 1, process: 6, settle: settles.length });
  });

  it('enqueueMany to several queues: one send span without a destination', T, async () => {
    exporter.reset();
    const h = jobHost({ jobs: [Flaky], worker: false });
    await h.host.start();
    await h.client.enqueueMany(Flaky, [
      { payload: { n: 1 }, options: { queue: 'a' } },
      { payload: { n: 2 }, options: { queue: 'b' } },
    ]);
    await h.host.stop();
    const send = only(finished(), 'send');
    assert.equal(send.attributes['messaging.destination.name'], undefined);
    assert.equal(send.attributes['messaging.operation.name'], 'send');
    assert.equal(send.attributes['messaging.batch.message_count'], 2);
  });

  it('a job that fails its last attempt: its write is a dead_letter settle span', T, async () => {
    exporter.reset();
    const Doomed = defineJob({
      name: 'doomed',
      schema: z.object({}),
      maxAttempts: 1,
      handle() {
        throw new Error('never works');
      },
    });
    const h = jobHost({ jobs: [Doomed], worker: { queues: { default: { concurrency: 1 } } } });
    await h.host.start();
    const dead = Promise.withResolvers<void>();
    h.events.on('dead', () => dead.resolve());
    await h.client.enqueue(Doomed, {});
    await dead.promise;
    await h.host.stop();
    const spans = finished();
    const settle = only(spans, 'dead_letter default');
    assert.equal(settle.attributes['messaging.operation.type'], 'settle');
    assert.equal(settle.attributes['messaging.operation.name'], 'dead_letter');
    assert.deepEqual(assertOperations(spans), { send: 1, process: 1, settle: 1 });
  });

  it('tracing: false makes no span and stores no trace context, even with an SDK registered', T, async () => {
    exporter.reset();
    const h = jobHost({
      jobs: [Flaky],
      worker: { queues: { default: { concurrency: 2 } } },
      configure: (b) => addTelemetry(b, { tracing: false }),
    });
    assert.equal(h.host.services.get(Telemetry).tracing, false);
    await h.host.start();
    const done = Promise.withResolvers<void>();
    h.events.on('completed', () => done.resolve());
    const { result } = await inRequest(() => h.client.enqueue(Flaky, { n: 1 }));
    await done.promise;
    await h.host.stop();
    const names = finished().map((s) => s.name);
    assert.deepEqual(names.sort(), ['POST /orders', 'handler work', 'handler work']);
    const db = new DatabaseSync(h.path, { readOnly: true });
    const row = db.prepare('SELECT metadata FROM hw_jobs WHERE id = ?').get(Number(result.id));
    db.close();
    assert.equal(row?.metadata, null);
  });
});

const OrderPlaced = defineMessage({
  name: 'order-placed',
  schema: z.object({ orderId: z.string() }),
  destination: { name: 'orders' },
});

describe('message traces', () => {
  it(
    'publish (PRODUCER, traceparent header) → each delivery (CONSUMER, child of and linked to it) → settlements',
    T,
    async () => {
      exporter.reset();
      const memory = inMemoryTransport();
      const seenHeaders: Record<string, string>[] = [];
      const consumer = defineConsumer({
        name: 'ship',
        transport: 'memory',
        source: { name: 'orders' },
        message: OrderPlaced,
        maxAttempts: 3,
        backoff: { type: 'fixed', delay: 10 },
        handle(_message, ctx) {
          seenHeaders.push({ ...ctx.headers });
          app.startActiveSpan('ship it', (s) => s.end());
          if (ctx.attempt === 1) throw new Error('warehouse busy');
        },
      });
      await withMessagingHost(
        { transports: { memory }, consumers: [consumer] },
        async ({ publisher, events }) => {
          let completed = false;
          events.on('completed', () => {
            completed = true;
          });
          const { result: id } = await inRequest(() => publisher.send(OrderPlaced, { orderId: 'o-1' }));
          await waitFor(
            () => completed && finished().some((s) => s.name === 'ack orders'),
            'the acknowledged delivery',
          );
          const spans = finished();
          const request = only(spans, 'POST /orders');
          const send = only(spans, 'send orders');
          assert.equal(send.kind, SpanKind.PRODUCER);
          assert.equal(send.parentSpanId, request.spanId);
          assert.equal(send.attributes['messaging.message.id'], id);
          assert.equal(send.attributes['messaging.system'], 'memory');
          assert.equal(send.attributes['messaging.operation.type'], 'send');
          assert.equal(send.attributes['messaging.operation.name'], 'send');
          assert.equal(seenHeaders[0]?.traceparent, `00-${send.traceId}-${send.spanId}-01`);
          const processes = spans.filter((s) => s.name === 'process orders');
          assert.equal(processes.length, 2);
          for (const p of processes) {
            assert.equal(p.traceId, send.traceId);
            assert.equal(p.kind, SpanKind.CONSUMER);
            assert.equal(p.parentSpanId, send.spanId, 'the retried copy keeps the publisher as parent');
            assert.deepEqual(p.links, [{ traceId: send.traceId, spanId: send.spanId }]);
            assert.equal(p.attributes['messaging.consumer.group.name'], 'ship');
            assert.equal(p.attributes['messaging.operation.type'], 'process');
            assert.equal(p.attributes['messaging.operation.name'], 'process');
            assert.ok(spans.some((s) => s.name === 'ship it' && s.parentSpanId === p.spanId));
          }
          const failed = processes.find((p) => p.attributes['hostwork.message.attempt'] === 1)!;
          assert.equal(failed.status, SpanStatusCode.ERROR);
          assert.ok(failed.events.includes('exception'));
          const retry = only(spans, 'retry orders');
          assert.equal(retry.parentSpanId, failed.spanId);
          const ack = only(spans, 'ack orders');
          for (const [s, name] of [
            [retry, 'retry'],
            [ack, 'ack'],
          ] as const) {
            assert.equal(s.attributes['messaging.operation.type'], 'settle');
            assert.equal(s.attributes['messaging.operation.name'], name);
          }
          assert.deepEqual(assertOperations(spans), { send: 1, process: 2, settle: 2 });
        },
      );
    },
  );

  it(
    'through the outbox: the message written with the transaction keeps the send span’s context until the relay publishes it',
    T,
    async () => {
      exporter.reset();
      const memory = inMemoryTransport();
      let handled = 0;
      const consumer = defineConsumer({
        name: 'ship',
        transport: 'memory',
        source: { name: 'orders' },
        message: OrderPlaced,
        handle() {
          handled++;
        },
      });
      const h = jobHost({
        jobs: [Flaky],
        worker: false,
        configure: (b) =>
          addMessaging(b, {
            transports: { memory },
            consumers: [consumer],
            outbox: { pollIntervalMs: 50 },
          }),
      });
      await h.host.start();
      try {
        const publisher = h.host.services.get(MessagePublisher);
        await inRequest(async () => {
          const db = new DatabaseSync(h.path, { timeout: 5_000 });
          db.exec('BEGIN IMMEDIATE');
          await publisher.send(OrderPlaced, { orderId: 'o-3' }, { tx: db });
          db.exec('COMMIT');
          db.close();
        });
        await waitFor(
          () => handled === 1 && finished().some((s) => s.name === 'ack orders'),
          'the relayed delivery',
        );
      } finally {
        await h.host.stop();
      }
      const spans = finished();
      const request = only(spans, 'POST /orders');
      const send = only(spans, 'send orders');
      const process_ = only(spans, 'process orders');
      assert.equal(send.parentSpanId, request.spanId);
      assert.equal(process_.traceId, request.traceId);
      assert.equal(process_.parentSpanId, send.spanId, 'the consumer continues the send, across the outbox');
      assert.deepEqual(assertOperations(spans), { send: 1, process: 1, settle: 1 });
    },
  );

  it('a delivery dead-lettered: its settle span is dead_letter', T, async () => {
    exporter.reset();
    const memory = inMemoryTransport();
    let dead = false;
    const consumer = defineConsumer({
      name: 'ship',
      transport: 'memory',
      source: { name: 'orders' },
      message: OrderPlaced,
      maxAttempts: 1,
      handle() {
        throw new Error('no warehouse');
      },
    });
    await withMessagingHost(
      { transports: { memory }, consumers: [consumer] },
      async ({ publisher, events }) => {
        events.on('dead', () => {
          dead = true;
        });
        await publisher.send(OrderPlaced, { orderId: 'o-4' });
        await waitFor(
          () => dead && finished().some((s) => s.name === 'dead_letter orders'),
          'the dead-lettered delivery',
        );
      },
    );
    const spans = finished();
    const settle = only(spans, 'dead_letter orders');
    assert.equal(settle.attributes['messaging.operation.type'], 'settle');
    assert.equal(settle.attributes['messaging.operation.name'], 'dead_letter');
    assert.deepEqual(assertOperations(spans), { send: 1, process: 1, settle: 1 });
  });

  it('a traceparent the caller set is kept', T, async () => {
    exporter.reset();
    const memory = inMemoryTransport();
    const seen: string[] = [];
    const consumer = defineConsumer({
      name: 'ship',
      transport: 'memory',
      source: { name: 'orders' },
      message: OrderPlaced,
      handle(_message, ctx) {
        seen.push(ctx.headers.traceparent ?? '');
      },
    });
    const theirs = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await withMessagingHost({ transports: { memory }, consumers: [consumer] }, async ({ publisher }) => {
      await publisher.send(OrderPlaced, { orderId: 'o-2' }, { headers: { traceparent: theirs } });
      await waitFor(() => seen.length === 1, 'the delivery');
    });
    assert.deepEqual(seen, [theirs]);
    const process = only(finished(), 'process orders');
    assert.equal(process.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(process.parentSpanId, 'b7ad6b7169203331');
  });
});

describe('OpenTelemetry metrics', () => {
  it('the SDK collects sent, consumed, durations, retries, jobs by state and the queue lag', T, async () => {
    const h = jobHost({ jobs: [Flaky], worker: { queues: { metered: { concurrency: 2 } } } });
    await h.host.start();
    let completed = 0;
    const all = Promise.withResolvers<void>();
    h.events.on('completed', () => {
      if (++completed === 2) all.resolve();
    });
    await context.with(context.active(), () =>
      h.client.enqueueMany(Flaky, [
        { payload: { n: 1 }, options: { queue: 'metered' } },
        { payload: { n: 2 }, options: { queue: 'metered' } },
      ]),
    );
    await all.promise;
    const { resourceMetrics, errors }: CollectionResult = await reader.collect();
    assert.deepEqual(errors, []);
    const byName = new Map(
      resourceMetrics.scopeMetrics
        .filter((s) => s.scope.name === 'hostwork')
        .flatMap((s) => s.metrics.map((m) => [m.descriptor.name, m])),
    );
    const value = (name: string, match: Record<string, string>) => {
      const metric = byName.get(name);
      assert.ok(metric, `metric ${name} is reported`);
      const point = (metric.dataPoints as { attributes: Record<string, unknown>; value: unknown }[]).find(
        (p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v),
      );
      return point?.value;
    };
    const queue = { 'messaging.system': 'hostwork', 'messaging.destination.name': 'metered' };
    assert.equal(value('messaging.client.sent.messages', queue), 2);
    assert.equal(value('messaging.client.consumed.messages', queue), 4, 'two attempts each');
    assert.equal(value('hostwork.retries', queue), 2);
    const completedDurations = value('messaging.process.duration', {
      ...queue,
      'hostwork.outcome': 'completed',
    }) as {
      count: number;
    };
    assert.equal(completedDurations.count, 2);
    assert.equal(
      value('hostwork.jobs', { 'hostwork.queue': 'metered', 'hostwork.job.state': 'completed' }),
      2,
    );
    assert.equal(value('hostwork.queue.lag', { 'hostwork.queue': 'metered' }), 0, 'nothing is due any more');
    await h.host.stop();
  });
});
