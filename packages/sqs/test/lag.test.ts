/**
 * The SQS transport's `lag` against the fauxqs emulator: the source queue's visible messages (ApproximateNumberOfMessages),
 * not those received and not yet deleted, nor delayed ones; nothing for a queue that does not exist.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { collect, message } from './support/collect.ts';
import {
  describeWithEmulator,
  type Emulator,
  emulatorTransport,
  eventually,
  freshQueue,
  startEmulator,
} from './support/emulator.ts';

let emulator: Emulator;

await describeWithEmulator('sqs transport: lag (fauxqs emulator)', () => {
  before(async () => {
    emulator = await startEmulator();
  });
  after(() => emulator.stop());

  it('counts the visible messages of the source queue: not in flight, not delayed', async () => {
    const transport = emulatorTransport(emulator);
    const queue = freshQueue();
    try {
      await transport.publish({ name: queue }, [
        ...Array.from({ length: 12 }, (_, i) => message(`m-${i}`, `${i}`)),
        message('later', 'later', { delayMs: 60_000 }),
      ]);
      assert.deepEqual(
        await transport.lag({ name: queue }),
        { messages: 12 },
        'the delayed one is not counted',
      );
      const got = await collect(transport, queue, 5);
      await eventually('5 deliveries', () => got.deliveries.length === 5);
      assert.deepEqual(await transport.lag({ name: queue }), { messages: 7 }, 'five are in flight');
      let settled = 0;
      while (settled < 12) {
        await eventually(`delivery ${settled + 1}`, () => got.deliveries.length > settled);
        await got.deliveries[settled]!.ack();
        settled++;
      }
      await eventually('no lag', async () => (await transport.lag({ name: queue }))?.messages === 0);
      await got.subscription.stop();
      assert.equal(await transport.lag({ name: freshQueue('missing') }), undefined);
    } finally {
      await transport.close();
    }
  });
});
