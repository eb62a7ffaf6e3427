/**
 * The RabbitMQ transport against the real broker: publish and receive, each way of settling, the delay queues,
 * dead letters, prefetch, stop and close, both queue types, and the errors for a missing queue.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { rabbitmqTransport } from '@hostwork/rabbitmq';
import {
  ATTEMPT_HEADER,
  DEAD_LETTER_HEADERS,
  type Delivery,
  type DeliveryError,
  readAttemptErrors,
} from 'hostwork';
import {
  createQueue,
  deleteQueues,
  describeWithBroker,
  drain,
  freshQueueName,
  queueType,
  RABBITMQ_URL,
  readyCount,
  waitFor,
} from './support/broker.ts';
import { type Harness, harness, message, text } from './support/harness.ts';

const made: Harness[] = [];
function fresh(...args: Parameters<typeof harness>): Harness {
  const h = harness(...args);
  made.push(h);
  return h;
}
afterEach(async () => {
  for (const h of made.splice(0)) await h.cleanup();
});

const failure = (attempt: number, message = `failed attempt ${attempt}`): DeliveryError => ({
  attempt,
  message,
  name: 'Error',
  at: Date.now(),
});

/** Waits a little to see that something does NOT happen (a delivery that must not come). */
const settle = (ms = 300) => new Promise((resolve) => setTimeout(resolve, ms));

await describeWithBroker('the RabbitMQ transport', () => {
  for (const type of ['classic', 'quorum'] as const) {
    it(`publishes and receives with id, headers and body, and ack removes for good (${type} queue)`, async () => {
      const h = fresh({ queueType: type });
      await h.subscribe(10);
      assert.equal(await queueType(h.queue), type);
      await h.send('one', 'two');
      await h.received(2);
      assert.deepEqual(
        h.deliveries.map((d) => [d.id, text(d), d.headers.n, d.attempt, d.lockMs]),
        [
          ['one-id', 'one', 'one', 1, undefined],
          ['two-id', 'two', 'two', 1, undefined],
        ],
      );
      await Promise.all(h.deliveries.map((d) => d.ack()));
      await h.transport.close();
      assert.equal(await readyCount(h.queue), 0);
    });

    it(`retries after the delay (not before) with the attempt header and the error history (${type} queue)`, async () => {
      const h = fresh({ queueType: type });
      await h.subscribe(10);
      await h.send('r');
      await h.received(1);
      const started = Date.now();
      await h.deliveries[0]!.retry(600, failure(1, 'boom'));
      await h.received(2);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 600, `came back after ${elapsed} ms, before the 600 ms asked`);
      const again = h.deliveries[1]!;
      assert.equal(again.id, 'r-id');
      assert.equal(text(again), 'r');
      assert.equal(again.attempt, 2);
      assert.equal(again.headers[ATTEMPT_HEADER], '1');
      assert.equal(again.headers.n, 'r');
      assert.deepEqual(
        JSON.parse(again.headers[DEAD_LETTER_HEADERS.history]!).map((e: DeliveryError) => [
          e.attempt,
          e.message,
        ]),
        [[1, 'boom']],
      );
      await again.ack();
      await h.transport.close();
      assert.equal(await readyCount(h.queue), 0);
    });
  }

  it('retries with two different delays without the longer blocking the shorter', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('long', 'short');
    await h.received(2);
    const started = Date.now();
    // The long one first: in a single queue with per-message TTLs, it would hold the short one back.
    await h.deliveries[0]!.retry(3_000, failure(1));
    await h.deliveries[1]!.retry(200, failure(1));
    await h.received(3);
    assert.equal(text(h.deliveries[2]!), 'short');
    await h.received(4);
    assert.equal(text(h.deliveries[3]!), 'long');
    assert.ok(Date.now() - started >= 3_000);
    await Promise.all(h.deliveries.slice(2).map((d) => d.ack()));
  });

  it('retries with no delay straight back to the queue', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('now');
    await h.received(1);
    await h.deliveries[0]!.retry(0, failure(1));
    await h.received(2);
    assert.equal(h.deliveries[1]!.attempt, 2);
    await h.deliveries[1]!.ack();
  });

  it('dead-letters to <queue>.dead with the reason, the last error and every attempt’s error; the original is gone', async () => {
    const h = fresh();
    await h.subscribe(10);
    await h.send('bad');
    await h.received(1);
    await h.deliveries[0]!.retry(100, failure(1, 'first'));
    await h.received(2);
    // The engine may give only the last attempt's error: the earlier ones come from the history header.
    // As the engine does: the whole history, the earlier attempts read from the header the retry wrote.
    await h.deliveries[1]!.deadLetter('attempts-exhausted', [
      ...readAttemptErrors(h.deliveries[1]!.headers),
      failure(2, 'second'),
    ]);
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0);
    const dead = await drain(`${h.queue}.dead`);
    assert.equal(dead.length, 1);
    const [letter] = dead;
    assert.equal(letter!.body, 'bad');
    assert.equal(letter!.id, 'bad-id');
    assert.equal(String(letter!.headers[DEAD_LETTER_HEADERS.reason]), 'attempts-exhausted');
    assert.equal(String(letter!.headers[DEAD_LETTER_HEADERS.error]), 'second');
    assert.equal(String(letter!.headers.n), 'bad');
    assert.deepEqual(
      JSON.parse(String(letter!.headers[DEAD_LETTER_HEADERS.history])).map((e: DeliveryError) => [
        e.attempt,
        e.message,
      ]),
      [
        [1, 'first'],
        [2, 'second'],
      ],
    );
  });

  it('dead-letters a poison message at once to a dead-letter queue of the source’s choosing', async () => {
    const h = fresh();
    const deadQueue = freshQueueName('hw-test-dead');
    try {
      await h.transport.subscribe(
        { name: h.queue, options: { deadLetterQueue: deadQueue } },
        { prefetch: 1, onDelivery: (d) => h.deliveries.push(d) },
      );
      await h.send('not json');
      await h.received(1);
      await h.deliveries[0]!.deadLetter('poison', [failure(1, 'Unexpected token')]);
      const [letter] = await drain(deadQueue);
      assert.equal(String(letter!.headers[DEAD_LETTER_HEADERS.reason]), 'poison');
      assert.equal(await readyCount(`${h.queue}.dead`), undefined, 'no <queue>.dead declared');
    } finally {
      await deleteQueues(deadQueue);
    }
  });

  it('release puts the message back at once, the attempt not counted', async () => {
    const h = fresh();
    await h.subscribe(1);
    await h.send('back');
    await h.received(1);
    await h.deliveries[0]!.release();
    await h.received(2);
    assert.equal(h.deliveries[1]!.id, 'back-id');
    assert.equal(h.deliveries[1]!.attempt, 1);
    await h.deliveries[1]!.ack();
  });

  for (const type of ['quorum', 'classic'] as const) {
    it(`counts redeliveries: a lost connection, a release; a retry copy starts at 0 (${type} queue)`, async () => {
      const h = fresh({ queueType: type });
      await h.subscribe(1);
      await h.send('lost');
      await h.received(1);
      // The consumer's connection goes away with the delivery unsettled, as when its process dies.
      await h.transport.close();
      const next = rabbitmqTransport({ url: RABBITMQ_URL, queueType: type });
      try {
        const got: Delivery[] = [];
        await next.subscribe({ name: h.queue }, { prefetch: 1, onDelivery: (d) => got.push(d) });
        await waitFor('the redelivery', () => got.length === 1);
        await got[0]!.release();
        await waitFor('the release back', () => got.length === 2);
        await got[1]!.retry(0, failure(1));
        await waitFor('the retry copy', () => got.length === 3);
        const seen = [h.deliveries[0]!, ...got].map((d) => [d.attempt, d.redeliveries]);
        // A quorum queue counts in x-delivery-count; on a classic queue each redelivery is replaced by a copy counting
        // them in hostwork-redeliveries: the same figures.
        assert.deepEqual(seen, [
          [1, 0],
          [1, 1],
          [1, 2],
          [2, 0],
        ]);
        assert.equal(got[2]!.headers['x-delivery-count'], undefined, 'the count is not copied');
        assert.equal(got[1]!.headers['hostwork-redeliveries'], undefined, 'the count is not a header');
        assert.equal(got[1]!.id, h.deliveries[0]!.id, 'the copy keeps the message id');
        await got[2]!.ack();
      } finally {
        await next.close();
      }
    });
  }

  it('replaces a classic-queue redelivery by one copy counting it, with the id and headers; a sent count only adds', async () => {
    const h = fresh({ queueType: 'classic' });
    await h.subscribe(1);
    // A count the sender writes is taken as it is: it can only bring the dead letter sooner.
    await h.transport.publish({ name: h.queue }, [
      message('counted', { headers: { tenant: 't1', 'hostwork-redeliveries': '4' } }),
    ]);
    await h.received(1);
    await h.deliveries[0]!.release();
    await h.received(2);
    const seen = h.deliveries.map((d) => [
      d.id,
      d.redeliveries,
      d.headers.tenant,
      d.headers['hostwork-redeliveries'],
    ]);
    assert.deepEqual(seen, [
      ['counted-id', 4, 't1', undefined],
      ['counted-id', 5, 't1', undefined],
    ]);
    await h.deliveries[1]!.ack();
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0, 'the redelivered original was acked: no duplicate');
  });

  it('hands a classic-queue redelivery over uncounted, with a warning, when the broker refuses its copy', async () => {
    const h = fresh({ declare: false, queueType: 'classic' });
    // One ready message at most, further publishes refused: the copy of a redelivery is refused while another waits.
    await createQueue(h.queue, 'classic', { 'x-max-length': 1, 'x-overflow': 'reject-publish' });
    await h.subscribe(1);
    await h.send('first');
    await h.received(1);
    await h.send('second');
    await h.deliveries[0]!.release();
    await h.received(2);
    assert.deepEqual(
      h.deliveries.map((d) => [d.id, d.redeliveries]),
      [
        ['first-id', 0],
        ['first-id', undefined],
      ],
    );
    assert.deepEqual(
      h.warnings.map((w) => w.kind),
      ['redelivery-uncounted'],
    );
    await h.deliveries[1]!.ack();
    await h.received(3);
    assert.equal(h.deliveries[2]!.id, 'second-id');
    await h.deliveries[2]!.ack();
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0, 'nothing left, nothing duplicated');
  });

  it('never settles a delivery twice: a second call rejects naming the first', async () => {
    const h = fresh();
    await h.subscribe(5);
    await h.send('once', 'race');
    await h.received(2);
    await h.deliveries[0]!.ack();
    await assert.rejects(
      h.deliveries[0]!.release(),
      (error: Error & { code?: string }) =>
        error.code === 'HW_DELIVERY_SETTLED' &&
        /once-id/.test(error.message) &&
        /ack\(\)/.test(error.message),
    );
    // Two calls at once: the second is refused while the first runs.
    const [first, second] = await Promise.allSettled([
      h.deliveries[1]!.retry(100, failure(1)),
      h.deliveries[1]!.deadLetter('attempts-exhausted', [failure(1)]),
    ]);
    assert.equal(first.status, 'fulfilled');
    assert.equal(second.status, 'rejected');
    await h.received(3);
    await h.deliveries[2]!.ack();
    await h.transport.close();
    assert.equal(await readyCount(`${h.queue}.dead`), 0);
    assert.equal(await readyCount(h.queue), 0);
  });

  it('hands over at most prefetch deliveries not yet settled', async () => {
    const h = fresh();
    await h.subscribe(3);
    await h.send(...Array.from({ length: 10 }, (_, i) => `p${i}`));
    await h.received(3);
    await settle();
    assert.equal(h.deliveries.length, 3);
    await h.deliveries[0]!.ack();
    await h.received(4);
    await settle();
    assert.equal(h.deliveries.length, 4);
    for (let i = 1; i < 10; i++) {
      // i settled so far: never more than i + 3 handed over.
      await h.received(Math.min(i + 3, 10));
      assert.ok(h.deliveries.length <= i + 3);
      await h.deliveries[i]!.ack();
    }
    assert.deepEqual(
      h.deliveries.map((d) => text(d)),
      Array.from({ length: 10 }, (_, i) => `p${i}`),
    );
  });

  it('stop() hands over nothing more; deliveries already handed over can still be settled', async () => {
    const h = fresh();
    const subscription = await h.subscribe(10);
    await h.send('before');
    await h.received(1);
    await subscription.stop();
    await h.send('after1', 'after2');
    await settle();
    assert.equal(h.deliveries.length, 1);
    await h.deliveries[0]!.ack();
    await h.transport.close();
    assert.deepEqual(
      (await drain(h.queue)).map((m) => m.body),
      ['after1', 'after2'],
    );
  });

  it('close() waits for settle calls made before it: none lost, the unsettled back in the queue', async () => {
    const h = fresh();
    await h.subscribe(20);
    await h.send(...Array.from({ length: 20 }, (_, i) => `c${i}`));
    await h.received(20);
    // Not awaited: close() must wait for them.
    for (const d of h.deliveries.slice(0, 5)) void d.ack();
    for (const d of h.deliveries.slice(5, 10)) void d.retry(100, failure(1));
    for (const d of h.deliveries.slice(10, 15)) void d.deadLetter('attempts-exhausted', [failure(1)]);
    await h.transport.close();
    await waitFor('the retried messages back', async () => (await readyCount(h.queue)) === 10);
    const left = (await drain(h.queue)).map((m) => m.body).sort();
    assert.deepEqual(
      left,
      [
        ...Array.from({ length: 5 }, (_, i) => `c${i + 5}`),
        ...Array.from({ length: 5 }, (_, i) => `c${i + 15}`),
      ].sort(),
    );
    assert.equal((await drain(`${h.queue}.dead`)).length, 5);
  });

  it('subscribes to an existing queue without declaring it', async () => {
    const h = fresh({ declare: false });
    await createQueue(h.queue, 'quorum');
    await h.subscribe(1);
    await h.send('exists');
    await h.received(1);
    await h.deliveries[0]!.ack();
    assert.equal(await queueType(h.queue), 'quorum');
  });

  it('refuses a missing queue without declare, naming it', async () => {
    const h = fresh({ declare: false });
    await assert.rejects(
      h.subscribe(1),
      (error: Error & { code?: string }) =>
        error.code === 'HW_MESSAGE_SOURCE_MISSING' &&
        error.message.includes(`'${h.queue}'`) &&
        /declare: true/.test(error.message),
    );
    // The transport is still usable after the failed check.
    await h.transport.publish({ name: h.queue }, []).catch(() => {});
    assert.equal(await readyCount(h.queue), undefined);
  });

  it('declares a queue Hostwork owns before the first publish to it, with the same options as for consuming', async () => {
    const h = fresh({ declare: false });
    const source = { name: h.queue, options: { declare: true, queueType: 'quorum' } };
    // Published before any consumer exists: kept, not dropped as unroutable.
    await h.transport.publish(source, [message('early')]);
    assert.equal(await queueType(h.queue), 'quorum');
    await h.transport.subscribe(source, { prefetch: 1, onDelivery: (d) => h.deliveries.push(d) });
    await h.received(1);
    assert.equal(text(h.deliveries[0]!), 'early');
    await h.deliveries[0]!.ack();
    // A publisher that does not repeat the queue type (the transport's default is another) uses the queue as it is.
    const other = rabbitmqTransport({ url: RABBITMQ_URL, declare: true, queueType: 'classic' });
    try {
      await other.publish({ name: h.queue }, [message('late')]);
    } finally {
      await other.close();
    }
    await h.received(2);
    await h.deliveries[1]!.ack();
    await assert.rejects(
      h.transport.publish({ name: 'rk', options: { exchange: 'amq.direct', declare: true } }, [message('x')]),
      /'declare' is for queues, not with 'exchange'/,
    );
  });

  it('refuses a publish the broker cannot route, naming the queue', async () => {
    const transport = rabbitmqTransport({ url: RABBITMQ_URL });
    const queue = freshQueueName('hw-test-missing');
    try {
      await assert.rejects(
        transport.publish({ name: queue }, [message('lost')]),
        (error: Error & { code?: string }) =>
          error.code === 'HW_TRANSPORT_FAILED' && error.message.includes(`no queue named '${queue}'`),
      );
      await assert.rejects(
        transport.publish({ name: 'x', options: { exchange: `${queue}-exchange` } }, [message('lost')]),
        (error: Error & { code?: string }) =>
          error.code === 'HW_TRANSPORT_FAILED' && /NOT_FOUND/.test(error.message),
      );
    } finally {
      await transport.close();
    }
  });

  it('publishes to an exchange with a routing key, and to a queue with a delay', async () => {
    const h = fresh();
    await h.subscribe(10);
    // amq.direct exists on every broker; bind the test queue under its own name.
    const { default: amqp } = await import('amqplib');
    const admin = await amqp.connect(RABBITMQ_URL);
    try {
      const channel = await admin.createChannel();
      await channel.bindQueue(h.queue, 'amq.direct', h.queue);
    } finally {
      await admin.close();
    }
    await h.transport.publish({ name: h.queue, options: { exchange: 'amq.direct' } }, [message('routed')]);
    await h.received(1);
    assert.equal(text(h.deliveries[0]!), 'routed');
    const started = Date.now();
    await h.transport.publish({ name: h.queue }, [message('later', { delayMs: 300 })]);
    await h.received(2);
    assert.ok(Date.now() - started >= 300);
    assert.equal(text(h.deliveries[1]!), 'later');
    await assert.rejects(
      h.transport.publish({ name: h.queue, options: { exchange: 'amq.direct' } }, [
        message('x', { delayMs: 300 }),
      ]),
      /queue destinations only/,
    );
    await Promise.all(h.deliveries.map((d) => d.ack()));
  });
});
