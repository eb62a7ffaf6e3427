/**
 * The SQS transport's receiving against the fauxqs emulator: prefetch bounds what is handed over and unsettled
 * (backpressure), several long-polling loops hold more than one batch of 10, stop() ends a 20-s long poll at once
 * while handed-over deliveries stay settle-able, and close() flushes acks still being collected.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Delivery } from 'hostwork';
import { collect, message } from './support/collect.ts';
import {
  countingClient,
  describeWithEmulator,
  type Emulator,
  emulatorTransport,
  eventually,
  freshQueue,
  startEmulator,
} from './support/emulator.ts';
import { counts } from './support/queues.ts';

let emulator: Emulator;

await describeWithEmulator('sqs transport: prefetch, stop and close (fauxqs emulator)', () => {
  before(async () => {
    emulator = await startEmulator();
  });
  after(() => emulator.stop());

  it('hands over at most prefetch (25) unsettled, across 3 loops, and more as they are settled', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      await transport.publish(
        { name: queue },
        Array.from({ length: 60 }, (_, i) => message(`p-${i}`, `${i}`)),
      );
      let outstanding = 0;
      let most = 0;
      const got = await collect(transport, queue, 25, () => {
        outstanding++;
        most = Math.max(most, outstanding);
      });
      await eventually('25 deliveries', () => got.deliveries.length === 25);
      // The loops wait for room: another receive cycle brings nothing more while all 25 are unsettled.
      const c = await counts(transport.client, queue);
      assert.equal(c.inFlight, 25, 'received from SQS beyond the prefetch');
      assert.equal(got.deliveries.length, 25);
      const settle = async (d: Delivery) => {
        outstanding--;
        await d.ack();
      };
      let settled = 0;
      while (settled < 60) {
        await eventually(`delivery ${settled + 1}`, () => got.deliveries.length > settled);
        await settle(got.deliveries[settled]!);
        settled++;
      }
      assert.equal(most, 25, 'more than 10 in flight at once, never more than the prefetch');
      assert.equal(new Set(got.deliveries.map((d) => d.id)).size, 60);
      await got.subscription.stop();
    } finally {
      await transport.close();
    }
  });

  it('stop() ends a 20-s long poll at once; nothing is handed over after it; held deliveries stay settle-able', async () => {
    const { client, counts: calls } = countingClient(emulator);
    const transport = emulatorTransport(emulator, {
      client,
      region: undefined,
      endpoint: undefined,
      credentials: undefined,
      waitTimeSeconds: 20,
      visibilityTimeoutMs: 2_000,
    });
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [message('held', 'h')]);
      const got = await collect(transport, queue, 5);
      await eventually('the delivery', () => got.deliveries.length === 1);
      // The loop is now in a long poll on the empty queue.
      await eventually('a second receive', () => (calls.get('ReceiveMessageCommand') ?? 0) >= 2);
      const started = Date.now();
      await got.subscription.stop();
      const took = Date.now() - started;
      assert.ok(took < 10_000, `stop() took ${took} ms: it waited for the long poll`);
      await transport.publish({ name: queue }, [message('after-stop', 'a')]);
      await got.deliveries[0]!.extend!(10_000);
      await got.deliveries[0]!.ack();
      // Another subscription receives what was published after stop (an aborted long poll the emulator still
      // answered may hide it for the 2-s visibility timeout: delayed, never lost).
      const next = await collect(transport, queue, 5);
      await eventually('the message published after stop', () => next.deliveries.length === 1, 10_000);
      assert.equal(next.deliveries[0]!.id, 'after-stop');
      assert.equal(got.deliveries.length, 1, 'a delivery was handed over after stop() resolved');
      await next.deliveries[0]!.ack();
      await next.subscription.stop();
    } finally {
      await transport.close();
      client.destroy();
    }
  });

  it('close() sends the acks still being collected before it closes', async () => {
    const transport = emulatorTransport(emulator, { ackBatchMs: 1_000 });
    const observer = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [message('c-1', '1'), message('c-2', '2')]);
      const got = await collect(transport, queue);
      await eventually('2 deliveries', () => got.deliveries.length === 2);
      const acks = got.deliveries.map((d) => d.ack());
      await transport.close();
      await Promise.all(acks);
      assert.deepEqual(await counts(observer.client, queue), { visible: 0, inFlight: 0, delayed: 0 });
      await assert.rejects(transport.publish({ name: queue }, [message('late', 'x')]), /closed/);
    } finally {
      await transport.close();
      await observer.close();
    }
  });
});
