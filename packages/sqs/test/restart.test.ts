/**
 * The SQS emulator stopped and started again under a running subscription: receiving fails, is logged once and
 * reported as disconnected, is tried again with backoff without crashing, and resumes (reconnected) when the emulator
 * is back; every message published before, during the run and after is handled and deleted: nothing lost.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Delivery } from 'hostwork';
import { message } from './support/collect.ts';
import {
  describeWithEmulator,
  type Emulator,
  emulatorTransport,
  eventually,
  freshQueue,
  startEmulator,
} from './support/emulator.ts';
import { counts } from './support/queues.ts';

let emulator: Emulator;

await describeWithEmulator('sqs transport: emulator restart mid-stream (fauxqs emulator)', () => {
  before(async () => {
    emulator = await startEmulator();
  });
  after(() => emulator.stop());

  it('keeps retrying receives with backoff while the emulator is down, resumes when it is back, loses nothing', async () => {
    const warnings: string[] = [];
    const infos: string[] = [];
    const logger = {
      warn: (_details: object, msg: string) => void warnings.push(msg),
      info: (_details: object, msg: string) => void infos.push(msg),
    };
    const transport = emulatorTransport(emulator, {
      visibilityTimeoutMs: 2_000,
      reconnectMinMs: 50,
      reconnectMaxMs: 300,
      logger,
    });
    const queue = freshQueue();
    const done = new Set<string>();
    let disconnected = 0;
    let reconnected = 0;
    try {
      await transport.publish(
        { name: queue },
        Array.from({ length: 30 }, (_, i) => message(`before-${i}`, `${i}`)),
      );
      const handle = (d: Delivery) => {
        // A short handler, then ack; an ack lost to the outage means the message comes back (at-least-once).
        setTimeout(() => {
          d.ack().then(
            () => done.add(d.id),
            () => {},
          );
        }, 20);
      };
      const subscription = await transport.subscribe(
        { name: queue },
        {
          prefetch: 5,
          onDelivery: handle,
          events: { disconnected: () => void disconnected++, reconnected: () => void reconnected++ },
        },
      );
      await eventually('10 handled', () => done.size >= 10);
      await emulator.stop();
      await eventually('the outage noticed', () => disconnected === 1);
      // Down for a while: several receive attempts fail with backoff, none crashes the process.
      const downAt = Date.now();
      await eventually('a second of outage', () => Date.now() > downAt + 1_000);
      await emulator.start();
      await eventually('receiving again', () => reconnected === 1, 15_000);
      await transport.publish(
        { name: queue },
        Array.from({ length: 10 }, (_, i) => message(`after-${i}`, `${i}`)),
      );
      await eventually('all 40 handled', () => done.size === 40, 30_000);
      await eventually('the queue empty', async () => {
        const c = await counts(transport.client, queue);
        return c.visible + c.inFlight + c.delayed === 0;
      });
      assert.equal(disconnected, 1, 'one disconnected event per outage');
      assert.equal(
        warnings.filter((w) => w.includes('receiving failed')).length,
        1,
        'one warning per outage',
      );
      assert.ok(infos.some((i) => i.includes('receiving again')));
      await subscription.stop();
    } finally {
      await transport.close();
    }
  });
});
