/**
 * A connection lost under the transport (closed from the broker's side with rabbitmqctl, as a network failure or a
 * broker restart would): it is reported, the transport reconnects with backoff and consumes again, settle calls for
 * deliveries of the lost channel resolve without settling anything, and nothing is lost or handed over again once
 * settled. Only this test's connection is closed; other clients of the shared broker are untouched.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import type { LoggerFactory } from 'hostwork';
import { describeWithBroker, drain, killConnections, readyCount, waitFor } from './support/broker.ts';
import { type Harness, harness, text } from './support/harness.ts';

const made: Harness[] = [];
afterEach(async () => {
  for (const h of made.splice(0)) await h.cleanup();
});

await describeWithBroker('the RabbitMQ transport after a lost connection', () => {
  it('reconnects, consumes again and loses nothing; settled messages are not handed over again', async () => {
    const h = harness({ queueType: 'quorum' });
    made.push(h);
    const events: string[] = [];
    await h.subscribe(10, {
      disconnected: () => events.push('disconnected'),
      reconnected: () => events.push('reconnected'),
    });
    await h.send('a', 'b', 'c', 'd', 'e');
    await h.received(5);
    // Two settled before the loss (acked, and retried with a delay that outlasts the reconnect), three held.
    await h.deliveries[0]!.ack();
    await h.deliveries[1]!.retry(1_000, { attempt: 1, message: 'failed', at: Date.now() });
    const held = h.deliveries.slice(2);

    assert.equal(await killConnections(h.connectionName), 1);
    await waitFor('the loss to be reported', () => events.includes('disconnected'));
    // The held deliveries' channel is gone: settling them resolves without effect; the broker has them back.
    await held[0]!.ack();
    await held[1]!.retry(100, { attempt: 1, message: 'failed', at: Date.now() });
    await held[2]!.deadLetter('attempts-exhausted', []);
    assert.ok(h.warnings.some((w) => w.kind === 'settle-after-channel-loss'));

    await waitFor('the subscription to come back', () => events.includes('reconnected'), 15_000);
    assert.ok(h.warnings.some((w) => w.kind === 'connection-lost'));
    assert.ok(h.transport.connected);
    await h.send('f', 'g');
    // c, d, e again (redelivered), b after its delay (a copy delivered before the loss and not settled comes
    // again), f, g; never a, acked before the loss.
    const later = () => h.deliveries.slice(5);
    const expected = ['b', 'c', 'd', 'e', 'f', 'g'];
    await waitFor(
      'every unsettled message again',
      () => expected.every((t) => later().some((d) => text(d) === t)),
      15_000,
    );
    const after = later();
    assert.deepEqual([...new Set(after.map(text))].sort(), expected);
    assert.ok(!after.some((d) => text(d) === 'a'), 'the acked message came back');
    for (const d of after) assert.equal(d.attempt, text(d) === 'b' ? 2 : 1, text(d));
    await Promise.all(after.map((d) => d.ack()));
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0);
    assert.deepEqual(await drain(`${h.queue}.dead`), []);
  });

  it('a publish made while reconnecting waits for the new connection; the loss is logged by the host logger', async () => {
    const h = harness({ transport: { onWarning: undefined } });
    made.push(h);
    const logged: { category: string; fields: Record<string, unknown>; message: string }[] = [];
    const loggers = {
      create: (category: string) => ({
        warn: (fields: Record<string, unknown>, message: string) =>
          logged.push({ category, fields, message }),
      }),
    };
    h.transport.attachLogger(loggers as unknown as LoggerFactory);
    await h.subscribe(5);
    await h.transport.connect();
    assert.equal(await killConnections(h.connectionName), 1);
    await waitFor('the loss', () => !h.transport.connected);
    await h.send('during');
    await h.received(1, 15_000);
    assert.equal(text(h.deliveries[0]!), 'during');
    await h.deliveries[0]!.ack();
    const lost = logged.find((l) => l.fields.warning === 'connection-lost');
    assert.equal(lost?.category, 'Hostwork.RabbitMQ');
    assert.match(lost!.message, /connection to amqp:\/\/guest:\*\*\*@/);
    assert.ok(lost!.fields.err instanceof Error);
  });
});
