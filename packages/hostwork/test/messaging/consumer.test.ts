import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { createToken } from '../../src/di/token.ts';
import { defineConsumer, type MessageContext } from '../../src/messaging/consumer-definition.ts';
import { inMemoryTransport } from '../../src/messaging/in-memory-transport.ts';
import { defineMessage } from '../../src/messaging/message-definition.ts';
import {
  ATTEMPT_HEADER,
  DEAD_LETTER_HEADERS,
  type Transport,
  TYPE_HEADER,
} from '../../src/messaging/transport.ts';
import {
  bytes,
  deadLetters,
  messagingHost,
  recordMessageEvents,
  T,
  waitFor,
  withMessagingHost,
} from './helpers.ts';

// The consumer engine on the in-memory transport: typed handlers, scopes, retries, dead letters, poison, timeouts,
// lock extension, concurrency, shutdown and events.

const OrderPlaced = defineMessage({
  name: 'order-placed',
  schema: z.object({ orderId: z.string(), total: z.number(), note: z.string().default('none') }),
  destination: { name: 'orders' },
});
const OrderCancelled = defineMessage({
  name: 'order-cancelled',
  schema: z.object({ orderId: z.string() }),
  destination: { name: 'orders' },
});

const source = { name: 'orders' };

describe('handling', () => {
  it(
    'gives the handler the validated, typed message and a job-like context, then acknowledges it',
    T,
    async () => {
      const memory = inMemoryTransport();
      const seen: Array<{ message: { orderId: string; total: number; note: string }; ctx: MessageContext }> =
        [];
      const consumer = defineConsumer({
        name: 'ship',
        transport: 'memory',
        source,
        message: OrderPlaced,
        maxAttempts: 4,
        handle(message, ctx) {
          seen.push({ message, ctx });
          ctx.logger.info('shipping');
        },
      });
      await withMessagingHost(
        { transports: { memory }, consumers: [consumer] },
        async ({ publisher, events, logs }) => {
          const recorded = recordMessageEvents(events);
          const id = await publisher.send(
            OrderPlaced,
            { orderId: 'o-1', total: 42 },
            { key: 'c-7', headers: { trace: 't1' } },
          );
          await waitFor(() => recorded.some((e) => e.event === 'completed'), 'the completed event');
          assert.equal(seen.length, 1);
          const { message, ctx } = seen[0]!;
          assert.deepEqual(
            message,
            { orderId: 'o-1', total: 42, note: 'none' },
            'the schema output (default applied)',
          );
          assert.equal(ctx.id, id);
          assert.equal(ctx.type, 'order-placed');
          assert.equal(ctx.consumer, 'ship');
          assert.equal(ctx.attempt, 1);
          assert.equal(ctx.maxAttempts, 4);
          assert.equal(ctx.key, 'c-7');
          assert.equal(ctx.headers.trace, 't1');
          assert.equal(ctx.headers[TYPE_HEADER], 'order-placed');
          assert.equal(ctx.signal.aborted, false);
          const line = logs.find('shipping');
          assert.equal(line?.messageId, id);
          assert.equal(line?.message, 'order-placed');
          assert.equal(line?.consumer, 'ship');
          await waitFor(() => memory.broker.depth('orders').unacked === 0, 'the ack');
          assert.deepEqual(memory.broker.depth('orders'), { ready: 0, delayed: 0, unacked: 0 });
          assert.deepEqual(
            recorded.map((e) => e.event),
            ['received', 'completed'],
          );
          assert.deepEqual(memory.broker.deadLetters(), []);
        },
      );
    },
  );

  it('routes several message types on one source by the hostwork-type header', T, async () => {
    const memory = inMemoryTransport();
    const seen: string[] = [];
    const consumer = defineConsumer({
      name: 'orders',
      transport: 'memory',
      source,
      messages: [OrderPlaced, OrderCancelled],
      handle(message, ctx) {
        seen.push(`${ctx.type}:${message.orderId}`);
      },
    });
    await withMessagingHost({ transports: { memory }, consumers: [consumer] }, async ({ publisher }) => {
      await publisher.send(OrderPlaced, { orderId: 'a', total: 1 });
      await publisher.send(OrderCancelled, { orderId: 'b' });
      await waitFor(() => seen.length === 2, 'both messages');
      assert.deepEqual(seen.sort(), ['order-cancelled:b', 'order-placed:a']);
    });
  });

  it('gives each delivery a fresh DI scope and disposes it when the handler ends', T, async () => {
    const memory = inMemoryTransport();
    const Unit = createToken<{ n: number; disposed: boolean }>('Unit');
    const made: Array<{ n: number; disposed: boolean }> = [];
    const disposedDuringHandler: boolean[] = [];
    const consumer = defineConsumer({
      name: 'scoped',
      transport: 'memory',
      source,
      message: OrderPlaced,
      handle(_message, ctx) {
        const unit = ctx.services.get(Unit);
        assert.equal(ctx.services.get(Unit), unit, 'one instance per delivery');
        disposedDuringHandler.push(unit.disposed);
      },
    });
    await withMessagingHost(
      {
        transports: { memory },
        consumers: [consumer],
        configure: (b) =>
          b.services.addScoped(Unit, {
            factory: () => {
              const unit = {
                n: made.length,
                disposed: false,
                [Symbol.dispose]() {
                  unit.disposed = true;
                },
              };
              made.push(unit);
              return unit;
            },
          }),
      },
      async ({ publisher }) => {
        await publisher.send(OrderPlaced, { orderId: 'a', total: 1 });
        await publisher.send(OrderPlaced, { orderId: 'b', total: 2 });
        await waitFor(() => made.length === 2 && made.every((u) => u.disposed), 'two scopes disposed');
        assert.deepEqual(disposedDuringHandler, [false, false]);
        assert.notEqual(made[0], made[1]);
      },
    );
  });
});

describe('failures', () => {
  it(
    'retries after the backoff with the attempt counted, then dead-letters with the reason and every error',
    T,
    async () => {
      const memory = inMemoryTransport();
      const attempts: Array<{ attempt: number; at: number }> = [];
      const consumer = defineConsumer({
        name: 'flaky',
        transport: 'memory',
        source,
        message: OrderPlaced,
        maxAttempts: 3,
        backoff: { type: 'fixed', delay: 150 },
        handle(_m, ctx) {
          attempts.push({ attempt: ctx.attempt, at: Date.now() });
          throw Object.assign(new Error(`boom ${ctx.attempt}`), { code: 'E_BOOM' });
        },
      });
      await withMessagingHost(
        { transports: { memory }, consumers: [consumer] },
        async ({ publisher, events, logs }) => {
          const recorded = recordMessageEvents(events);
          const id = await publisher.send(OrderPlaced, { orderId: 'a', total: 1 });
          const [dead] = await waitFor(() => deadLetters(memory, 'orders'), 'the dead letter');
          assert.deepEqual(
            attempts.map((a) => a.attempt),
            [1, 2, 3],
          );
          for (let i = 1; i < attempts.length; i++) {
            const gap = attempts[i]!.at - attempts[i - 1]!.at;
            assert.ok(
              gap >= 140,
              `attempt ${i + 1} came ${gap} ms after the previous one; the backoff is 150 ms`,
            );
          }
          assert.equal(dead!.id, id);
          assert.equal(dead!.reason, 'attempts-exhausted');
          assert.deepEqual(
            dead!.errors.map((e) => [e.attempt, e.message, e.code]),
            [
              [1, 'boom 1 [E_BOOM]', 'E_BOOM'],
              [2, 'boom 2 [E_BOOM]', 'E_BOOM'],
              [3, 'boom 3 [E_BOOM]', 'E_BOOM'],
            ],
          );
          assert.equal(dead!.headers[DEAD_LETTER_HEADERS.reason], 'attempts-exhausted');
          assert.equal(dead!.headers[DEAD_LETTER_HEADERS.error], 'boom 3 [E_BOOM]');
          const history = JSON.parse(dead!.headers[DEAD_LETTER_HEADERS.history]!) as Array<{
            attempt: number;
          }>;
          assert.deepEqual(
            history.map((e) => e.attempt),
            [1, 2, 3],
          );
          assert.deepEqual(
            recorded.filter((e) => e.event !== 'received').map((e) => e.event),
            ['failed', 'failed', 'dead'],
          );
          const failed = recorded.find((e) => e.event === 'failed')!.data as {
            retryInMs: number;
            attempt: number;
          };
          assert.equal(failed.retryInMs, 150);
          assert.equal(failed.attempt, 1);
          assert.ok(logs.find('failed attempt 1/3: boom 1 [E_BOOM]'));
          assert.ok(logs.find('is dead-lettered after attempt 3/3'));
          assert.deepEqual(memory.broker.depth('orders'), { ready: 0, delayed: 0, unacked: 0 });
        },
      );
    },
  );

  it('acknowledges a message whose handler fails and then succeeds, with no dead letter', T, async () => {
    const memory = inMemoryTransport();
    const attempts: number[] = [];
    const consumer = defineConsumer({
      name: 'flaky-once',
      transport: 'memory',
      source,
      message: OrderPlaced,
      backoff: { type: 'fixed', delay: 10 },
      handle(_m, ctx) {
        attempts.push(ctx.attempt);
        if (ctx.attempt === 1) throw new Error('first time fails');
      },
    });
    await withMessagingHost(
      { transports: { memory }, consumers: [consumer] },
      async ({ publisher, events }) => {
        const recorded = recordMessageEvents(events);
        await publisher.send(OrderPlaced, { orderId: 'a', total: 1 });
        await waitFor(() => recorded.some((e) => e.event === 'completed'), 'completion');
        assert.deepEqual(attempts, [1, 2]);
        await waitFor(() => memory.broker.depth('orders').unacked === 0, 'the ack');
        assert.deepEqual(memory.broker.depth('orders'), { ready: 0, delayed: 0, unacked: 0 });
        assert.deepEqual(memory.broker.deadLetters(), []);
      },
    );
  });

  it(
    'dead-letters poison at once, never calling the handler: not JSON, failing the schema, an unknown type',
    T,
    async () => {
      const memory = inMemoryTransport();
      let calls = 0;
      const consumer = defineConsumer({
        name: 'strict',
        transport: 'memory',
        source,
        message: OrderPlaced,
        maxAttempts: 5,
        handle() {
          calls++;
        },
      });
      await withMessagingHost({ transports: { memory }, consumers: [consumer] }, async ({ events }) => {
        const recorded = recordMessageEvents(events);
        await memory.publish(source, [
          { id: 'not-json', body: bytes('{nope'), headers: { [TYPE_HEADER]: 'order-placed' } },
          { id: 'bad-schema', body: bytes('{"orderId":7}'), headers: { [TYPE_HEADER]: 'order-placed' } },
          {
            id: 'unknown-type',
            body: bytes('{"orderId":"a","total":1}'),
            headers: { [TYPE_HEADER]: 'refund' },
          },
          { id: 'not-utf8', body: new Uint8Array([0xff, 0xfe]), headers: {} },
        ]);
        await waitFor(() => memory.broker.deadLetters('orders').length === 4, 'four dead letters');
        const dead = new Map(memory.broker.deadLetters('orders').map((d) => [d.id, d]));
        for (const d of dead.values()) {
          assert.equal(d.reason, 'poison');
          assert.equal(d.errors.length, 1);
          assert.equal(d.errors[0]!.attempt, 1);
          assert.equal(d.headers[DEAD_LETTER_HEADERS.reason], 'poison');
        }
        assert.match(dead.get('not-json')!.errors[0]!.message, /not JSON/);
        assert.match(dead.get('bad-schema')!.errors[0]!.message, /does not match the schema[\s\S]*orderId/);
        assert.match(dead.get('unknown-type')!.errors[0]!.message, /Unknown message type 'refund'/);
        assert.match(dead.get('not-utf8')!.errors[0]!.message, /not JSON/);
        assert.equal(calls, 0);
        assert.equal(recorded.filter((e) => e.event === 'dead').length, 4);
        assert.equal(recorded.filter((e) => e.event === 'failed').length, 0);
      });
    },
  );

  it(
    'dead-letters a delivery past maxAttempts without running it (a transport counted an attempt its consumer died in)',
    T,
    async () => {
      const memory = inMemoryTransport();
      let calls = 0;
      const consumer = defineConsumer({
        name: 'bounded',
        transport: 'memory',
        source,
        message: OrderPlaced,
        maxAttempts: 2,
        handle() {
          calls++;
        },
      });
      await withMessagingHost({ transports: { memory }, consumers: [consumer] }, async ({ events, logs }) => {
        const recorded = recordMessageEvents(events);
        const died = (attempt: number) => ({
          attempt,
          name: 'ConsumerLost',
          message: `The consumer died while handling attempt ${attempt}`,
          at: 1_000 + attempt,
        });
        const body = bytes('{"orderId":"a","total":1}');
        await memory.publish(source, [
          // Attempt 3 of 2: both attempts died with their consumer.
          {
            id: 'exhausted',
            body,
            headers: {
              [TYPE_HEADER]: 'order-placed',
              [ATTEMPT_HEADER]: '2',
              [DEAD_LETTER_HEADERS.history]: JSON.stringify([died(1), died(2)]),
            },
          },
          // Attempt 2 of 2: one left, run.
          {
            id: 'last-one',
            body,
            headers: {
              [TYPE_HEADER]: 'order-placed',
              [ATTEMPT_HEADER]: '1',
              [DEAD_LETTER_HEADERS.history]: JSON.stringify([died(1)]),
            },
          },
          // Past maxAttempts without a history: dead-lettered with an error saying so.
          { id: 'bare', body, headers: { [TYPE_HEADER]: 'order-placed', [ATTEMPT_HEADER]: '5' } },
        ]);
        await waitFor(() => memory.broker.deadLetters('orders').length === 2, 'two dead letters');
        await waitFor(() => recorded.some((e) => e.event === 'completed'), 'the last attempt handled');
        assert.equal(calls, 1, 'only the delivery with an attempt left ran');
        const dead = new Map(memory.broker.deadLetters('orders').map((d) => [d.id, d]));
        const exhausted = dead.get('exhausted')!;
        assert.equal(exhausted.reason, 'attempts-exhausted');
        assert.deepEqual(exhausted.errors, [died(1), died(2)], 'the history as it was, nothing added');
        assert.equal(
          exhausted.headers[DEAD_LETTER_HEADERS.error],
          'The consumer died while handling attempt 2',
        );
        const bare = dead.get('bare')!;
        assert.equal(bare.reason, 'attempts-exhausted');
        assert.deepEqual(
          bare.errors.map((e) => [e.attempt, e.message]),
          [[6, 'Attempt 6 is past maxAttempts (2); not run']],
        );
        assert.deepEqual(
          recorded
            .filter((e) => e.event === 'dead')
            .map((e) => [(e.data as { id: string }).id, (e.data as { reason: string }).reason])
            .sort(),
          [
            ['bare', 'attempts-exhausted'],
            ['exhausted', 'attempts-exhausted'],
          ],
        );
        assert.ok(
          logs.find('is dead-lettered after attempt 2/2: The consumer died while handling attempt 2'),
        );
      });
    },
  );

  it(
    'dead-letters a message redelivered past maxRedeliveries without a settle, without running it',
    T,
    async () => {
      const memory = inMemoryTransport();
      const seen: number[] = [];
      const consumer = defineConsumer({
        name: 'crashing',
        transport: 'memory',
        source,
        message: OrderPlaced,
        concurrency: 10,
        maxRedeliveries: 3,
        // Never settles: each delivery is lost as if the process died handling it (the broker takes it back).
        handle(_m, ctx) {
          seen.push(ctx.attempt);
          memory.broker.restart();
          return new Promise(() => {});
        },
      });
      await withMessagingHost({ transports: { memory }, consumers: [consumer] }, async ({ events, logs }) => {
        const recorded = recordMessageEvents(events);
        await publishCrashing(memory);
        await waitFor(() => memory.broker.deadLetters('orders').length === 1, 'the dead letter');
        // The first delivery and 3 redeliveries ran; the 4th redelivery is over the limit.
        assert.deepEqual(seen, [1, 1, 1, 1], 'attempts are not counted by a lost delivery');
        const [dead] = memory.broker.deadLetters('orders');
        assert.equal(dead!.reason, 'redeliveries-exhausted');
        assert.equal(dead!.headers[DEAD_LETTER_HEADERS.reason], 'redeliveries-exhausted');
        assert.deepEqual(
          dead!.errors.map((e) => [e.attempt, e.name, e.message]),
          [
            [
              1,
              'RedeliveriesExhausted',
              'Delivered 5 times without being settled (more than maxRedeliveries 3 redeliveries): the consumer process likely died while handling it; not run again',
            ],
          ],
        );
        assert.deepEqual(
          recorded.filter((e) => e.event === 'dead').map((e) => (e.data as { reason: string }).reason),
          ['redeliveries-exhausted'],
        );
        assert.ok(logs.find('Delivered 5 times without being settled'));
      });
    },
  );

  it('counts releases at shutdown as redeliveries on the in-memory broker, not attempts', T, async () => {
    const memory = inMemoryTransport();
    await memory.connect();
    const got: Array<[number, number | undefined]> = [];
    let release: (() => Promise<void>) | undefined;
    const sub = await memory.subscribe(source, {
      prefetch: 1,
      onDelivery(d) {
        got.push([d.attempt, d.redeliveries]);
        release = got.length < 3 ? () => d.release() : () => d.ack();
      },
    });
    await publishCrashing(memory);
    for (let i = 1; i <= 3; i++) {
      await waitFor(() => got.length === i, `delivery ${i}`);
      await release!();
    }
    assert.deepEqual(got, [
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    await sub.stop();
    await memory.close();
  });

  it('dead-letters a message without a type header on a consumer of several types', T, async () => {
    const memory = inMemoryTransport();
    const consumer = defineConsumer({
      name: 'two-types',
      transport: 'memory',
      source,
      messages: [OrderPlaced, OrderCancelled],
      handle() {},
    });
    await withMessagingHost({ transports: { memory }, consumers: [consumer] }, async () => {
      await memory.publish(source, [{ id: 'untyped', body: bytes('{"orderId":"a"}'), headers: {} }]);
      const [dead] = await waitFor(() => deadLetters(memory, 'orders'), 'the dead letter');
      assert.equal(dead!.reason, 'poison');
      assert.match(dead!.errors[0]!.message, /no hostwork-type header/);
    });
  });

  it('aborts the signal on timeout and counts it as a failed attempt', T, async () => {
    const memory = inMemoryTransport();
    const reasons: unknown[] = [];
    const consumer = defineConsumer({
      name: 'slow',
      transport: 'memory',
      source,
      message: OrderPlaced,
      timeout: 100,
      maxAttempts: 2,
      backoff: { type: 'fixed', delay: 0 },
      async handle(_m, ctx) {
        await new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            reasons.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          }),
        );
      },
    });
    await withMessagingHost({ transports: { memory }, consumers: [consumer] }, async () => {
      await memory.publish(source, [{ id: 'm', body: bytes('{"orderId":"a","total":1}'), headers: {} }]);
      const [dead] = await waitFor(() => deadLetters(memory, 'orders'), 'the dead letter');
      assert.equal(reasons.length, 2);
      assert.equal((reasons[0] as { abortCause: string }).abortCause, 'timeout');
      assert.equal(dead!.reason, 'attempts-exhausted');
      assert.deepEqual(
        dead!.errors.map((e) => e.message),
        ['Timed out after 100 ms', 'Timed out after 100 ms'],
      );
    });
  });

  it(
    'settles a timed-out handler that ignores its signal after the abort grace, freeing its slot',
    T,
    async () => {
      const memory = inMemoryTransport();
      const started: string[] = [];
      const consumer = defineConsumer({
        name: 'stuck',
        transport: 'memory',
        source,
        message: OrderPlaced,
        timeout: 50,
        maxAttempts: 1,
        handle(m) {
          started.push(m.orderId);
          if (m.orderId === 'stuck') return new Promise(() => {});
        },
      });
      await withMessagingHost(
        { transports: { memory }, consumers: [consumer], abortGraceMs: 100, shutdownTimeout: 500 },
        async ({ publisher, logs }) => {
          await publisher.send(OrderPlaced, { orderId: 'stuck', total: 1 });
          await publisher.send(OrderPlaced, { orderId: 'next', total: 1 });
          await waitFor(() => started.includes('next'), 'the next message to start in the freed slot');
          const [dead] = memory.broker.deadLetters('orders');
          assert.equal(dead?.errors[0]?.message, 'Timed out after 50 ms');
          assert.ok(logs.find('ignored its abort signal for 100 ms'));
        },
      );
    },
  );
});

describe('concurrency, locks and shutdown', () => {
  it('runs at most `concurrency` handlers at once', T, async () => {
    const memory = inMemoryTransport();
    let running = 0;
    let most = 0;
    let done = 0;
    const consumer = defineConsumer({
      name: 'bounded',
      transport: 'memory',
      source,
      message: OrderPlaced,
      concurrency: 3,
      async handle() {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        done++;
      },
    });
    await withMessagingHost({ transports: { memory }, consumers: [consumer] }, async ({ publisher }) => {
      await publisher.sendMany(
        OrderPlaced,
        Array.from({ length: 12 }, (_, i) => ({ payload: { orderId: `o${i}`, total: i } })),
      );
      await waitFor(() => done === 12, 'all twelve');
      assert.equal(most, 3);
    });
  });

  it('extends the lock while a handler outlives it, so the message is not delivered twice', T, async () => {
    const memory = inMemoryTransport({ lockMs: 150 });
    const deliveries: number[] = [];
    const consumer = defineConsumer({
      name: 'long',
      transport: 'memory',
      source,
      message: OrderPlaced,
      concurrency: 2,
      async handle(_m, ctx) {
        deliveries.push(ctx.attempt);
        await new Promise((r) => setTimeout(r, 600));
      },
    });
    await withMessagingHost({ transports: { memory }, consumers: [consumer] }, async ({ events }) => {
      const recorded = recordMessageEvents(events);
      await memory.publish(source, [{ id: 'long', body: bytes('{"orderId":"a","total":1}'), headers: {} }]);
      await waitFor(() => recorded.some((e) => e.event === 'completed'), 'completion');
      assert.deepEqual(deliveries, [1], 'delivered once: the lock never ran out');
      await waitFor(() => memory.broker.depth('orders').unacked === 0, 'the ack');
      assert.deepEqual(memory.broker.depth('orders'), { ready: 0, delayed: 0, unacked: 0 });
    });
  });

  it('at shutdown waits for running handlers within the budget and acknowledges them', T, async () => {
    const memory = inMemoryTransport();
    let finished = 0;
    const consumer = defineConsumer({
      name: 'finishing',
      transport: 'memory',
      source,
      message: OrderPlaced,
      concurrency: 2,
      async handle() {
        await new Promise((r) => setTimeout(r, 200));
        finished++;
      },
    });
    const h = messagingHost({ transports: { memory }, consumers: [consumer] });
    await h.host.start();
    await h.publisher.send(OrderPlaced, { orderId: 'a', total: 1 });
    await h.publisher.send(OrderPlaced, { orderId: 'b', total: 1 });
    await waitFor(() => memory.broker.depth('orders').unacked === 2, 'both running');
    await h.host.stop();
    assert.equal(finished, 2);
    assert.deepEqual(memory.broker.depth('orders'), { ready: 0, delayed: 0, unacked: 0 });
  });

  it('at the end of the grace aborts the signal and hands the message back uncounted', T, async () => {
    const memory = inMemoryTransport();
    const reasons: unknown[] = [];
    const attempts: number[] = [];
    const stubborn = defineConsumer({
      name: 'stubborn',
      transport: 'memory',
      source,
      message: OrderPlaced,
      handle(_m, ctx) {
        attempts.push(ctx.attempt);
        ctx.signal.addEventListener('abort', () => reasons.push(ctx.signal.reason));
        return new Promise(() => {});
      },
    });
    const h = messagingHost({ transports: { memory }, consumers: [stubborn], shutdownTimeout: 500 });
    const recorded = recordMessageEvents(h.events);
    await h.host.start();
    await h.publisher.send(OrderPlaced, { orderId: 'a', total: 1 });
    await waitFor(() => attempts.length === 1, 'the handler to start');
    await h.host.stop();
    assert.equal((reasons[0] as { abortCause: string }).abortCause, 'shutdown');
    assert.deepEqual(memory.broker.depth('orders'), { ready: 1, delayed: 0, unacked: 0 });
    assert.ok(recorded.some((e) => e.event === 'released'));
    assert.ok(h.logs.find('handed 1 unfinished message(s) back'));
    // A new consumer on the same broker gets it again as attempt 1: the release did not count.
    const again: number[] = [];
    const next = defineConsumer({
      name: 'next',
      transport: 'memory',
      source,
      message: OrderPlaced,
      handle(_m, ctx) {
        again.push(ctx.attempt);
      },
    });
    await withMessagingHost(
      { transports: { memory: inMemoryTransport({ broker: memory.broker }) }, consumers: [next] },
      async () => {
        await waitFor(() => again.length === 1, 'redelivery');
        assert.deepEqual(again, [1]);
      },
    );
  });

  it(
    'survives a broker restart mid-handler: the settle fails, is logged, and the message comes again',
    T,
    async () => {
      const memory = inMemoryTransport();
      const attempts: string[] = [];
      let restarted = false;
      const consumer = defineConsumer({
        name: 'restart',
        transport: 'memory',
        source,
        message: OrderPlaced,
        async handle(m, ctx) {
          attempts.push(`${m.orderId}#${ctx.attempt}`);
          if (!restarted) {
            restarted = true;
            memory.broker.restart();
          }
        },
      });
      await withMessagingHost(
        { transports: { memory }, consumers: [consumer] },
        async ({ publisher, logs }) => {
          await publisher.send(OrderPlaced, { orderId: 'a', total: 1 });
          await waitFor(() => attempts.length === 2, 'the redelivery');
          assert.deepEqual(attempts, ['a#1', 'a#1']);
          await waitFor(() => logs.find('the broker delivers it again'), 'the failed settle logged');
          assert.ok(logs.find('lost its connection to memory'));
          assert.ok(logs.find('is receiving again'));
          await waitFor(() => memory.broker.depth('orders').unacked === 0, 'the ack');
          assert.deepEqual(memory.broker.depth('orders'), { ready: 0, delayed: 0, unacked: 0 });
        },
      );
    },
  );
});

/** Publishes one order straight to the transport. */
async function publishCrashing(memory: Transport): Promise<void> {
  await memory.publish(source, [
    { id: 'crash', body: bytes('{"orderId":"a","total":1}'), headers: { [TYPE_HEADER]: 'order-placed' } },
  ]);
}

describe('settlements and transports', () => {
  /** Wraps a transport: `ack` resolves only after `ackDelayMs`; `order` records acks resolving and the close. */
  function slowAcks(inner: Transport, ackDelayMs: number, order: string[], prefetchFactor = 1): Transport {
    return {
      kind: 'slow',
      connect: () => inner.connect(),
      publish: (d, m) => inner.publish(d, m),
      close: async () => {
        order.push('close');
        await inner.close();
      },
      [Symbol.asyncDispose]: () => inner.close(),
      subscribe: (s, o) =>
        inner.subscribe(s, {
          ...o,
          // A greedy adapter handing over more than the prefetch asked for.
          prefetch: o.prefetch * prefetchFactor,
          onDelivery: (d) =>
            o.onDelivery({
              ...d,
              id: d.id,
              body: d.body,
              headers: d.headers,
              attempt: d.attempt,
              ack: async () => {
                await new Promise((r) => setTimeout(r, ackDelayMs));
                await d.ack();
                order.push(`acked:${d.id}`);
              },
              retry: (ms, e) => d.retry(ms, e),
              deadLetter: (r, e) => d.deadLetter(r, e),
              release: async () => {
                await d.release();
                order.push(`released:${d.id}`);
              },
            }),
        }),
    };
  }

  it('waits for every settlement before the transport closes', T, async () => {
    const memory = inMemoryTransport();
    const order: string[] = [];
    let handled = 0;
    const consumer = defineConsumer({
      name: 'acks',
      transport: 'slow',
      source,
      message: OrderPlaced,
      handle() {
        handled++;
      },
    });
    const h = messagingHost({ transports: { slow: slowAcks(memory, 300, order) }, consumers: [consumer] });
    await h.host.start();
    await h.publisher.send(OrderPlaced, { orderId: 'a', total: 1 }, { id: 'a' });
    await waitFor(() => handled === 1, 'the handler');
    await h.host.stop();
    assert.deepEqual(order, ['acked:a', 'close']);
    assert.deepEqual(memory.broker.depth('orders'), { ready: 0, delayed: 0, unacked: 0 });
  });

  it('hands back deliveries received but not started at shutdown, uncounted', T, async () => {
    const memory = inMemoryTransport();
    const order: string[] = [];
    const started: string[] = [];
    const consumer = defineConsumer({
      name: 'greedy',
      transport: 'slow',
      source,
      message: OrderPlaced,
      concurrency: 1,
      async handle(_m, ctx) {
        started.push(ctx.id);
        await new Promise((r) => setTimeout(r, 200));
      },
    });
    const h = messagingHost({ transports: { slow: slowAcks(memory, 0, order, 3) }, consumers: [consumer] });
    await h.host.start();
    await h.publisher.sendMany(OrderPlaced, [
      { payload: { orderId: 'a', total: 1 }, id: 'a' },
      { payload: { orderId: 'b', total: 1 }, id: 'b' },
      { payload: { orderId: 'c', total: 1 }, id: 'c' },
    ]);
    await waitFor(
      () => started.length === 1 && memory.broker.depth('orders').unacked === 3,
      'one running, three held',
    );
    await h.host.stop();
    assert.deepEqual(started, ['a'], 'one handler at a time: b and c waited');
    assert.deepEqual(order.sort(), ['acked:a', 'close', 'released:b', 'released:c']);
    assert.deepEqual(memory.broker.depth('orders'), { ready: 2, delayed: 0, unacked: 0 });
  });

  it('logs a failed settlement and a throwing event listener, and carries on', T, async () => {
    const memory = inMemoryTransport();
    const failing: Transport = {
      ...memory,
      kind: 'failing',
      connect: () => memory.connect(),
      publish: (d, m) => memory.publish(d, m),
      close: () => memory.close(),
      [Symbol.asyncDispose]: () => memory.close(),
      subscribe: (s, o) =>
        memory.subscribe(s, {
          ...o,
          onDelivery: (d) =>
            o.onDelivery({
              id: d.id,
              body: d.body,
              headers: d.headers,
              attempt: d.attempt,
              ack: () => {
                // Not even a rejection: a synchronous throw.
                throw new Error('channel closed');
              },
              retry: (ms, e) => d.retry(ms, e),
              deadLetter: (r, e) => d.deadLetter(r, e),
              release: () => d.release(),
            }),
        }),
    };
    let handled = 0;
    const consumer = defineConsumer({
      name: 'unlucky',
      transport: 'failing',
      source,
      message: OrderPlaced,
      concurrency: 2,
      handle() {
        handled++;
      },
    });
    await withMessagingHost(
      { transports: { failing }, consumers: [consumer] },
      async ({ publisher, events, logs }) => {
        events.on('completed', () => {
          throw new Error('listener bug');
        });
        await publisher.send(OrderPlaced, { orderId: 'a', total: 1 }, { id: 'a' });
        await waitFor(
          () => logs.find('Settling message a (ack) with failing failed: channel closed'),
          'the log',
        );
        await waitFor(() => logs.find("A 'completed' event listener threw"), 'the listener error logged');
        await publisher.send(OrderPlaced, { orderId: 'b', total: 1 }, { id: 'b' });
        await waitFor(() => handled >= 2, 'the next message handled');
      },
    );
  });
});
