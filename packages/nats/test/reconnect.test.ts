/**
 * A connection lost under the transport (cut by a relay standing in for the network, the server itself untouched):
 * it is reported, the client keeps trying with backoff while the network is down, reconnects and every subscription
 * pulls again; a settle made while down resolves once the server has it; deliveries handed over before the loss are
 * settled on the new connection (an ack subject outlives its connection); nothing is lost, and what was settled is
 * not delivered again.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { type Harness, harness, text } from './support/harness.ts';
import { type Relay, relay } from './support/proxy.ts';
import { describeWithServer, streamCount, waitFor } from './support/server.ts';

const made: Harness[] = [];
const relays: Relay[] = [];
afterEach(async () => {
  for (const r of relays.splice(0)) await r.close();
  for (const h of made.splice(0)) await h.cleanup();
});

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

await describeWithServer('the NATS transport after a lost connection', () => {
  it('reconnects with backoff, pulls again and loses nothing; settled messages are not delivered again', async () => {
    const net = await relay();
    relays.push(net);
    const h = harness({
      source: { ackWaitMs: 3_000 },
      transport: { servers: net.address, reconnectDelayMs: 50, maxReconnectDelayMs: 400 },
    });
    made.push(h);
    const events: string[] = [];
    await h.subscribe(10, {
      disconnected: () => events.push('disconnected'),
      reconnected: () => events.push('reconnected'),
    });
    await h.send('a', 'b', 'c', 'd', 'e');
    await h.received(5);
    // Settled before the loss: acknowledged, and retried with a delay that outlasts the outage.
    await h.deliveries[0]!.ack();
    await h.deliveries[1]!.retry(1_500, { attempt: 1, message: 'failed', at: Date.now() });
    // A settle resolves once written, not confirmed: wait until the server has both (5 sent + the copy - 2 acked).
    await waitFor('the settles to reach the server', async () => (await streamCount(h.subject)) === 4);

    net.down();
    await waitFor('the loss to be reported', () => events.includes('disconnected'));
    // Settled while the network is down: resolves once the server has it, after the reconnect.
    let ackedWhileDown = false;
    const acking = h.deliveries[2]!.ack().then(() => {
      ackedWhileDown = true;
    });
    await settle(1_000);
    assert.equal(ackedWhileDown, false, 'the ack cannot have reached the server yet');
    net.up();
    await waitFor('the subscription to come back', () => events.includes('reconnected'), 20_000);
    await acking;
    const reconnected = h.warnings.find((w) => w.kind === 'reconnected');
    assert.ok(h.warnings.some((w) => w.kind === 'connection-lost'));
    assert.ok(reconnected, 'the reconnect is reported');
    assert.ok(
      Number(reconnected.details.attempts) >= 2,
      `tried again while down (${reconnected.details.attempts})`,
    );
    // Handed over before the loss, settled on the new connection.
    await h.deliveries[3]!.ack();
    await h.deliveries[4]!.deadLetter('attempts-exhausted', [{ attempt: 1, message: 'no', at: Date.now() }]);
    await h.send('f');
    const later = () => h.deliveries.slice(5).map((d) => `${text(d)}#${d.attempt}`);
    await waitFor(
      'the retry and the new message',
      () => ['b#2', 'f#1'].every((t) => later().includes(t)),
      15_000,
    );
    await Promise.all(h.deliveries.slice(5).map((d) => d.ack()));
    // Past another AckWait: anything not settled for good would have come back by now.
    await settle(3_500);
    assert.deepEqual(later().sort(), ['b#2', 'f#1']);
    assert.equal(await streamCount(`${h.subject}_dead`), 1);
    await h.transport.close();
    assert.equal(await streamCount(h.subject), 0);
  });

  it('stops and closes within their bounds while the network is down', async () => {
    const net = await relay();
    relays.push(net);
    const h = harness({
      source: { ackWaitMs: 3_000 },
      transport: {
        servers: net.address,
        closeTimeoutMs: 1_000,
        reconnectDelayMs: 50,
        maxReconnectDelayMs: 200,
      },
    });
    made.push(h);
    const events: string[] = [];
    const subscription = await h.subscribe(5, { disconnected: () => events.push('disconnected') });
    await h.send('held');
    await h.received(1);
    net.down();
    await waitFor('the loss to be reported', () => events.includes('disconnected'));
    let started = Date.now();
    await subscription.stop();
    assert.ok(Date.now() - started < 1_000, `stop() took ${Date.now() - started} ms`);
    // A settle that cannot reach the server: close() gives up on it after closeTimeoutMs, with a warning.
    void h.deliveries[0]!.ack().catch(() => {});
    started = Date.now();
    await h.transport.close();
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 5_000, `close() took ${took} ms`);
    assert.ok(h.warnings.some((w) => w.kind === 'close-timeout'));
    net.up();
    // Never acknowledged: delivered again to the next consumer once its AckWait ran out.
    const next = harness({ subject: h.subject, source: { ackWaitMs: 3_000 } });
    made.push(next);
    await next.subscribe(1);
    await next.received(1, 15_000);
    assert.equal(text(next.deliveries[0]!), 'held');
    await next.deliveries[0]!.ack();
  });
});
