/**
 * FIFO queues through the SQS transport against the fauxqs emulator: message groups from keys, one message per group
 * handed over at a time with groups in parallel, order kept within a group across retries, dead letters to a FIFO
 * dead-letter queue, and the errors for what FIFO queues cannot take.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Delivery, DeliveryError } from 'hostwork';
import { collect, message, text } from './support/collect.ts';
import {
  describeWithEmulator,
  type Emulator,
  emulatorTransport,
  eventually,
  freshQueue,
  startEmulator,
} from './support/emulator.ts';
import { receiveRaw } from './support/queues.ts';

let emulator: Emulator;
const error = (attempt: number, msg: string): DeliveryError => ({ attempt, message: msg, at: Date.now() });

await describeWithEmulator('sqs transport: FIFO queues (fauxqs emulator)', () => {
  before(async () => {
    emulator = await startEmulator();
  });
  after(() => emulator.stop());

  it('keeps the order within a group, one message of a group at a time, two groups in parallel', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue('fifo', true);
    try {
      const messages = [];
      for (let i = 1; i <= 5; i++)
        for (const group of ['A', 'B'])
          messages.push(message(`${group}${i}`, `${group}${i}`, { key: group }));
      await transport.publish({ name: queue }, messages);
      const outstanding = new Map<string, number>();
      let violation = '';
      const got = await collect(transport, queue, 10, (d) => {
        const n = (outstanding.get(d.key!) ?? 0) + 1;
        outstanding.set(d.key!, n);
        if (n > 1) violation = `two messages of group ${d.key} handed over at once`;
      });
      // Both groups run at once.
      await eventually('one delivery of each group', () => got.deliveries.length === 2);
      assert.deepEqual(got.deliveries.map((d) => d.key).sort(), ['A', 'B']);
      let settled = 0;
      while (settled < 10) {
        await eventually(`delivery ${settled + 1}`, () => got.deliveries.length > settled);
        const d: Delivery = got.deliveries[settled]!;
        outstanding.set(d.key!, outstanding.get(d.key!)! - 1);
        await d.ack();
        settled++;
      }
      assert.equal(violation, '');
      const order = (group: string) => got.texts().filter((t) => t.startsWith(group));
      assert.deepEqual(order('A'), ['A1', 'A2', 'A3', 'A4', 'A5']);
      assert.deepEqual(order('B'), ['B1', 'B2', 'B3', 'B4', 'B5']);
      await got.subscription.stop();
    } finally {
      await transport.close();
    }
  });

  it('a retried message comes back after the delay before the rest of its group, its attempt counted', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue('fifo', true);
    try {
      await transport.publish({ name: queue }, [
        message('g1', 'first', { key: 'g' }),
        message('g2', 'second', { key: 'g' }),
      ]);
      const got = await collect(transport, queue);
      await eventually('the first delivery', () => got.deliveries.length === 1);
      assert.equal(got.deliveries[0]!.id, 'g1');
      const retriedAt = Date.now();
      await got.deliveries[0]!.retry(1_000, error(1, 'boom'));
      await eventually('the retried delivery', () => got.deliveries.length === 2, 10_000);
      assert.ok(Date.now() - retriedAt >= 900, 'redelivered before the delay');
      assert.equal(got.deliveries[1]!.id, 'g1', 'the group’s next message overtook the retried one');
      assert.equal(got.deliveries[1]!.attempt, 2);
      await got.deliveries[1]!.ack();
      await eventually('the second message', () => got.deliveries.length === 3);
      assert.equal(text(got.deliveries[2]!.body), 'second');
      await got.deliveries[2]!.ack();
      await got.subscription.stop();
    } finally {
      await transport.close();
    }
  });

  it('dead-letters to <name>-dead.fifo with the group kept', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue('fifo', true);
    try {
      await transport.publish({ name: queue }, [message('f-dead', 'bad', { key: 'k' })]);
      const got = await collect(transport, queue);
      await eventually('the delivery', () => got.deliveries.length === 1);
      await got.deliveries[0]!.deadLetter('poison', [error(1, 'unreadable')]);
      await got.subscription.stop();
      const [dead] = await receiveRaw(transport.client, queue.replace(/\.fifo$/, '-dead.fifo'));
      assert.equal(dead?.Attributes?.MessageGroupId, 'k');
      assert.equal(dead?.MessageAttributes?.['hostwork-dead-reason']?.StringValue, 'poison');
    } finally {
      await transport.close();
    }
  });

  it('refuses a message without a key, or with a delay, for a FIFO queue', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue('fifo', true);
    try {
      await assert.rejects(transport.publish({ name: queue }, [message('nokey', 'x')]), /has no key/);
      await assert.rejects(
        transport.publish({ name: queue }, [message('late', 'x', { key: 'k', delayMs: 5_000 })]),
        /no per-message delay/,
      );
    } finally {
      await transport.close();
    }
  });
});
