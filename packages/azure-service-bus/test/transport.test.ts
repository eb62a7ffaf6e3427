/**
 * The adapter's own behaviour beyond the conformance suite, against the local AMQP stand-in (a STAND-IN, NOT THE
 * SERVICE: test/support/standin-broker.ts): what each settle does on the broker, topic subscriptions and where their
 * retries go, delayed publishing, missing entities, lock loss, stop(), and close() bounded when the peer hangs.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type AzureServiceBusDelivery, azureServiceBusTransport } from '@hostwork/azure-service-bus';
import { ErrorCodes } from 'hostwork';
import { freshQueue, readDeadLetters } from './support/conformance-target.ts';
import { collect, publish, sleep, standinTransport, waitFor } from './support/harness.ts';
import { StandinBroker } from './support/standin-broker.ts';

const broker = await StandinBroker.start();
after(() => broker.stop());
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;
const error = (attempt: number, message: string) => ({ attempt, message, at: Date.now() });

describe('azure service bus transport (local AMQP stand-in, not the service)', () => {
  it('acks by completing: the message leaves the queue', async () => {
    const queue = freshQueue();
    broker.createQueue(queue);
    const t = standinTransport(broker);
    try {
      const { deliveries } = await collect(t, { name: queue });
      await publish(t, { name: queue }, ['a', 'b']);
      await waitFor('two deliveries', () => deliveries.length === 2);
      assert.deepEqual(
        deliveries.map((d) => [d.id, d.attempt, d.headers['hostwork-type']]),
        [
          ['a', 1, 'item'],
          ['b', 1, 'item'],
        ],
      );
      assert.deepEqual(JSON.parse(new TextDecoder().decode(deliveries[0]!.body)), { id: 'a' });
      assert.equal(broker.count(queue).locked, 2);
      await Promise.all(deliveries.map((d) => d.ack()));
      assert.deepEqual(broker.count(queue), { available: 0, locked: 0, scheduled: 0 });
      await assert.rejects(deliveries[0]!.ack(), code(ErrorCodes.DELIVERY_SETTLED));
    } finally {
      await t.close();
    }
  });

  it('retries with a copy scheduled for the delay (schedule-message), the original completed', async () => {
    const queue = freshQueue();
    broker.createQueue(queue);
    const t = standinTransport(broker);
    try {
      const { deliveries } = await collect(t, { name: queue });
      await publish(t, { name: queue }, ['r']);
      await waitFor('the delivery', () => deliveries.length === 1);
      const scheduledBefore = broker.operations.get('com.microsoft:schedule-message') ?? 0;
      const at = Date.now();
      await deliveries[0]!.retry(600, error(1, 'boom'));
      assert.equal(broker.operations.get('com.microsoft:schedule-message'), scheduledBefore + 1);
      assert.deepEqual(broker.count(queue), { available: 0, locked: 0, scheduled: 1 });
      await waitFor('the retry', () => deliveries.length === 2);
      const again = deliveries[1]!;
      assert.ok(Date.now() - at >= 580, `came back after ${Date.now() - at} ms`);
      assert.equal(again.id, 'r', 'the Hostwork id is kept on the copy');
      assert.equal(again.attempt, 2);
      assert.equal(again.redeliveries, 0, 'a retry is a scheduled copy: counted afresh');
      assert.equal(
        (again as AzureServiceBusDelivery).message.messageId,
        'r~retry-1',
        'the copy has a messageId of its own (duplicate detection)',
      );
      assert.equal(JSON.parse(again.headers['hostwork-attempt-errors'] ?? '[]')[0].message, 'boom');
      await again.ack();
    } finally {
      await t.close();
    }
  });

  it('dead-letters to the native sub-queue with DeadLetterReason, DeadLetterErrorDescription and the headers', async () => {
    const queue = freshQueue();
    broker.createQueue(queue);
    const t = standinTransport(broker);
    try {
      const { deliveries } = await collect(t, { name: queue });
      await publish(t, { name: queue }, ['d']);
      await waitFor('the delivery', () => deliveries.length === 1);
      await deliveries[0]!.deadLetter('attempts-exhausted', [error(1, 'first'), error(2, 'last')]);
      const [dead] = await readDeadLetters(broker.connectionString, queue);
      assert.equal(dead?.id, 'd');
      assert.equal(dead?.headers.DeadLetterReason, 'attempts-exhausted');
      assert.equal(dead?.headers.DeadLetterErrorDescription, 'last');
      assert.equal(dead?.headers['hostwork-dead-reason'], 'attempts-exhausted');
      assert.equal(dead?.headers['hostwork-type'], 'item', 'the other properties are kept');
      assert.deepEqual(broker.count(queue), { available: 0, locked: 0, scheduled: 0 });
    } finally {
      await t.close();
    }
  });

  it('releases by abandoning: back at once, the attempt not counted', async () => {
    const queue = freshQueue();
    broker.createQueue(queue);
    const t = standinTransport(broker);
    try {
      const { deliveries } = await collect(t, { name: queue });
      await publish(t, { name: queue }, ['x']);
      await waitFor('the delivery', () => deliveries.length === 1);
      await deliveries[0]!.release();
      await waitFor('the delivery again', () => deliveries.length === 2);
      assert.equal(deliveries[1]!.attempt, 1);
      assert.equal((deliveries[1] as AzureServiceBusDelivery).message.deliveryCount, 1);
      assert.equal(deliveries[1]!.redeliveries, 1);
      await deliveries[1]!.ack();
    } finally {
      await t.close();
    }
  });

  it('renews the lock on extend(); a settle after the lock ran out fails naming the lost lock', async () => {
    const queue = freshQueue();
    broker.createQueue(queue, { lockDurationMs: 1_000 });
    const t = standinTransport(broker);
    try {
      const { deliveries } = await collect(t, { name: queue }, 1);
      await publish(t, { name: queue }, ['l']);
      await waitFor('the delivery', () => deliveries.length === 1);
      const first = deliveries[0]!;
      assert.ok(
        first.lockMs! > 500 && first.lockMs! <= 1_000,
        `lockMs ${first.lockMs} from the locked-until time`,
      );
      for (let i = 0; i < 3; i++) {
        await sleep(600);
        await first.extend!(1_000);
      }
      assert.equal(deliveries.length, 1, 'not redelivered while renewed');
      await sleep(1_300);
      await assert.rejects(
        first.ack(),
        (e: Error) => code(ErrorCodes.TRANSPORT_FAILED)(e) && /lock was lost/.test(e.message),
      );
      await waitFor('the redelivery after the lock ran out', () => deliveries.length === 2);
      // The lock that ran out is counted (deliveryCount): the redelivery a dead consumer leaves behind.
      assert.deepEqual(
        deliveries.map((d) => [d.attempt, d.redeliveries]),
        [
          [1, 0],
          [1, 1],
        ],
      );
      await deliveries[1]!.ack();
    } finally {
      await t.close();
    }
  });

  it('publishes with a delay through schedule-message', async () => {
    const queue = freshQueue();
    broker.createQueue(queue);
    const t = standinTransport(broker);
    try {
      const { deliveries } = await collect(t, { name: queue });
      const at = Date.now();
      await publish(t, { name: queue }, ['later'], { delayMs: 500 });
      assert.equal(broker.count(queue).scheduled, 1);
      await waitFor('the delayed message', () => deliveries.length === 1);
      assert.ok(Date.now() - at >= 480);
      await deliveries[0]!.ack();
    } finally {
      await t.close();
    }
  });

  it('receives from topic subscriptions; a retry goes back to its own subscription only', async () => {
    const topic = freshQueue('hw-topic');
    broker.createTopic(topic);
    broker.createSubscription(topic, 'a');
    broker.createSubscription(topic, 'b');
    const t = standinTransport(broker);
    try {
      const a = await collect(t, { name: topic, options: { subscription: 'a' } });
      const b = await collect(t, { name: topic, options: { subscription: 'b' } });
      await publish(t, { name: topic }, ['m']);
      await waitFor('one delivery on each', () => a.deliveries.length === 1 && b.deliveries.length === 1);
      await b.deliveries[0]!.ack();
      await a.deliveries[0]!.retry(0, error(1, 'a failed'));
      await waitFor('the retry on a', () => a.deliveries.length === 2);
      assert.equal(a.deliveries[1]!.attempt, 2);
      // b received the copy too (a topic fans out) and completed it without handing it over.
      await waitFor('b to drop the copy', () => broker.count(`${topic}/Subscriptions/b`).locked === 0);
      await sleep(200);
      assert.equal(b.deliveries.length, 1);
      assert.deepEqual(broker.count(`${topic}/Subscriptions/b`), { available: 0, locked: 0, scheduled: 0 });
      await a.deliveries[1]!.ack();
    } finally {
      await t.close();
    }
  });

  it('reports a missing queue or subscription with HW_MESSAGE_SOURCE_MISSING', async () => {
    const t = standinTransport(broker);
    try {
      await assert.rejects(
        t.subscribe({ name: 'no-such-queue' }, { prefetch: 1, onDelivery() {} }),
        (e: Error) => code(ErrorCodes.MESSAGE_SOURCE_MISSING)(e) && /queue 'no-such-queue'/.test(e.message),
      );
      const topic = freshQueue('hw-topic');
      broker.createTopic(topic);
      await assert.rejects(
        t.subscribe({ name: topic, options: { subscription: 'none' } }, { prefetch: 1, onDelivery() {} }),
        (e: Error) => code(ErrorCodes.MESSAGE_SOURCE_MISSING)(e) && /subscription 'none'/.test(e.message),
      );
    } finally {
      await t.close();
    }
  });

  it('reads the lag from the HTTP management API: active messages (ready and locked), not scheduled ones nor dead letters', async () => {
    const queue = freshQueue();
    broker.createQueue(queue);
    const topic = freshQueue('hw-topic');
    broker.createTopic(topic);
    broker.createSubscription(topic, 'a');
    const t = standinTransport(broker);
    try {
      const asked = () => broker.operations.get('management:get-entity') ?? 0;
      const before = asked();
      assert.deepEqual(await t.lag({ name: queue }), { messages: 0 });
      assert.equal(asked(), before + 1, 'one management request per read');
      await publish(t, { name: queue }, ['a', 'b', 'c', 'd']);
      await publish(t, { name: queue }, ['later'], { delayMs: 60_000 });
      assert.deepEqual(await t.lag({ name: queue }), { messages: 4 }, 'the scheduled one does not count');
      const { deliveries, subscription } = await collect(t, { name: queue }, 2);
      await waitFor('two locked', () => deliveries.length === 2);
      assert.deepEqual(
        await t.lag({ name: queue }),
        { messages: 4 },
        'locked, unsettled messages still count',
      );
      await deliveries[0]!.ack();
      await deliveries[1]!.deadLetter('poison', [error(1, 'bad')]);
      await subscription.stop();
      // The subscription may have locked the next two before it stopped: locked or not, they wait.
      const held = broker.count(queue);
      assert.equal(held.available + held.locked, 2);
      assert.deepEqual(
        await t.lag({ name: queue }),
        { messages: 2 },
        'neither the completed nor the dead letter',
      );

      await publish(t, { name: topic }, ['x', 'y']);
      assert.deepEqual(await t.lag({ name: topic, options: { subscription: 'a' } }), { messages: 2 });
      assert.equal(await t.lag({ name: 'no-such-queue' }), undefined, 'a missing queue: nothing to tell');
      assert.equal(await t.lag({ name: topic, options: { subscription: 'none' } }), undefined);
    } finally {
      await t.close();
    }
  });

  it('sends lag requests to the emulator’s management port by default, and reports a failed read', async () => {
    // No managementEndpoint: with UseDevelopmentEmulator=true, http://127.0.0.1:5300, where nothing listens here.
    const t = azureServiceBusTransport({ connectionString: broker.connectionString, maxRetries: 0 });
    try {
      await assert.rejects(
        t.lag({ name: 'anything' }),
        (e: Error) =>
          code(ErrorCodes.TRANSPORT_FAILED)(e) &&
          /reading the lag of 'anything'/.test(e.message) &&
          /127\.0\.0\.1:5300/.test(e.message),
      );
    } finally {
      await t.close();
    }
  });

  it('hands nothing over after stop(); what was handed over stays settle-able', async () => {
    const queue = freshQueue();
    broker.createQueue(queue);
    const t = standinTransport(broker);
    try {
      const { deliveries, subscription } = await collect(t, { name: queue }, 2);
      await publish(t, { name: queue }, ['1', '2', '3', '4']);
      await waitFor('two deliveries (the prefetch)', () => deliveries.length === 2);
      await subscription.stop();
      await Promise.all(deliveries.map((d) => d.ack()));
      await sleep(300);
      assert.equal(deliveries.length, 2);
      assert.deepEqual(
        broker.count(queue),
        { available: 2, locked: 0, scheduled: 0 },
        'the rest wait in the queue',
      );
    } finally {
      await t.close();
    }
  });

  it('receives a session-enabled queue session by session: in order within a session, sessions side by side', async () => {
    const queue = freshQueue();
    broker.createQueue(queue, { requiresSession: true, lockDurationMs: 2_000 });
    const t = standinTransport(broker);
    try {
      const source = { name: queue, options: { sessions: true, sessionIdleTimeoutMs: 300 } };
      const seen: string[] = [];
      let running = 0;
      let most = 0;
      await t.subscribe(source, {
        prefetch: 2,
        onDelivery: (d) => {
          running++;
          most = Math.max(most, running);
          seen.push(`${d.key}:${d.id}`);
          assert.equal(d.lockMs, undefined, 'in a session the SDK renews the session lock');
          setTimeout(() => {
            running--;
            void d.ack();
          }, 20);
        },
      });
      for (const session of ['a', 'b', 'c'])
        await publish(
          t,
          { name: queue },
          [1, 2, 3, 4].map((n) => `${session}${n}`),
          { key: session },
        );
      await waitFor('twelve deliveries', () => seen.length === 12, 20_000);
      for (const session of ['a', 'b', 'c'])
        assert.deepEqual(
          seen.filter((s) => s.startsWith(`${session}:`)),
          [1, 2, 3, 4].map((n) => `${session}:${session}${n}`),
          `session ${session} in order`,
        );
      assert.equal(most, 2, 'two sessions side by side (the prefetch), one message each at a time');
      await waitFor(
        'the queue empty',
        () => broker.count(queue).available + broker.count(queue).locked === 0,
      );
    } finally {
      await t.close();
    }
  });

  it('sends a retry in a session back to its session', async () => {
    const queue = freshQueue();
    broker.createQueue(queue, { requiresSession: true });
    const t = standinTransport(broker);
    try {
      const { deliveries } = await collect(t, { name: queue, options: { sessions: true } }, 1);
      await publish(t, { name: queue }, ['s1'], { key: 'order-7' });
      await waitFor('the delivery', () => deliveries.length === 1);
      await deliveries[0]!.retry(100, error(1, 'once'));
      await waitFor('the retry', () => deliveries.length === 2, 15_000);
      assert.deepEqual([deliveries[1]!.id, deliveries[1]!.key, deliveries[1]!.attempt], ['s1', 'order-7', 2]);
      await deliveries[1]!.ack();
    } finally {
      await t.close();
    }
  });

  it('gives up close() after closeTimeoutMs when the peer hangs, with a warning', async () => {
    const queue = freshQueue();
    broker.createQueue(queue);
    const warnings: string[] = [];
    const t = standinTransport(broker, warnings, { closeTimeoutMs: 1_000 });
    const { deliveries } = await collect(t, { name: queue });
    await publish(t, { name: queue }, ['h']);
    await waitFor('the delivery', () => deliveries.length === 1);
    broker.freeze();
    try {
      const at = Date.now();
      await t.close();
      const took = Date.now() - at;
      assert.ok(took >= 950 && took < 3_000, `close() took ${took} ms`);
      assert.ok(
        warnings.some((w) => w.startsWith('close-timeout:')),
        `a close-timeout warning (got ${warnings.join(' | ')})`,
      );
    } finally {
      broker.thaw();
    }
  });
});
