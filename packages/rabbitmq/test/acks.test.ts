/**
 * Coalesced acks against the real broker, the settle frames read on the wire by a pass-through proxy
 * (support/frame-proxy.ts): fewer frames than deliveries, and never a frame that covers a delivery still running or
 * one handed back. What the broker does with them is checked on the broker: its unacked count, what comes back after
 * a lost connection, what is left in the queue.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Delivery, DeliveryError } from 'hostwork';
import { deleteQueues, describeWithBroker, readyCount, unackedCount, waitFor } from './support/broker.ts';
import { type FrameProxy, frameProxy, type SettleFrameSeen } from './support/frame-proxy.ts';
import { type Harness, harness, text } from './support/harness.ts';

const made: Harness[] = [];
const proxies: FrameProxy[] = [];
afterEach(async () => {
  for (const h of made.splice(0)) await h.cleanup();
  for (const p of proxies.splice(0)) await p.close();
});

/** A harness whose transport connects through a fresh frame proxy. */
async function throughProxy(): Promise<{ h: Harness; proxy: FrameProxy }> {
  const proxy = await frameProxy();
  proxies.push(proxy);
  const h = harness({ transport: { url: proxy.url } });
  made.push(h);
  return { h, proxy };
}

/** Waits a little to see that something does NOT happen (a delivery that must not come). */
const settle = (ms = 500) => new Promise((resolve) => setTimeout(resolve, ms));

const failure: DeliveryError = { attempt: 1, message: 'failed', at: Date.now() };

const bodies = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** The settle frames of the transport's first connection, as [method, tag, multiple]. */
const framesOf = (proxy: FrameProxy) =>
  proxy.settles.filter((f) => f.connection === 0).map((f) => [f.method, f.tag, f.multiple] as const);

/**
 * The broker's rule applied to the frames of one channel whose deliveries had tags 1..`delivered`: how each tag was
 * settled. Fails on a tag settled twice (the broker would close the channel) or a frame that settles nothing.
 */
function settledTags(frames: readonly SettleFrameSeen[], delivered: number): Map<number, string> {
  const unacked = new Set(Array.from({ length: delivered }, (_, i) => i + 1));
  const settled = new Map<number, string>();
  for (const frame of frames) {
    const covered = frame.multiple ? [...unacked].filter((t) => t <= frame.tag) : [frame.tag];
    assert.ok(covered.length > 0, `a frame that settles nothing: ${JSON.stringify(frame)}`);
    for (const tag of covered) {
      assert.ok(unacked.has(tag), `tag ${tag} settled twice (${JSON.stringify(frame)})`);
      unacked.delete(tag);
      settled.set(tag, frame.method);
    }
  }
  return settled;
}

await describeWithBroker('RabbitMQ acks, coalesced', () => {
  it('acks the others while a long-running delivery at the head runs, never the head: a lost connection brings back the head alone', async () => {
    const { h, proxy } = await throughProxy();
    const events: string[] = [];
    await h.subscribe(10, {
      disconnected: () => events.push('disconnected'),
      reconnected: () => events.push('reconnected'),
    });
    await h.send(...bodies('m', 10));
    await h.received(10);
    const [head] = h.deliveries;
    // The others finish out of order, over several turns of the event loop; the head (tag 1) keeps running.
    for (const batch of [[7, 2], [9], [4, 1, 8], [3, 6, 5]]) {
      await Promise.all(batch.map((i) => h.deliveries[i]!.ack()));
      await nextTurn();
    }
    await waitFor(
      'the broker to hold only the head unacked',
      async () => (await unackedCount(h.queue)) === 1,
    );
    // With tag 1 outstanding, any multiple=true frame would cover it: each of the others has a frame of its own.
    assert.deepEqual(
      framesOf(proxy).sort((a, b) => a[1] - b[1]),
      Array.from({ length: 9 }, (_, i) => ['ack', i + 2, false]),
    );

    proxy.cut();
    await waitFor('the loss to be reported', () => events.includes('disconnected'));
    await head!.ack(); // its channel is gone: resolves without settling, with a warning
    assert.ok(h.warnings.some((w) => w.kind === 'settle-after-channel-loss'));
    await h.received(11, 15_000);
    assert.equal(text(h.deliveries[10]!), 'm0');
    await settle();
    assert.deepEqual(h.deliveries.slice(10).map(text), ['m0'], 'only the head came back');
    await h.deliveries[10]!.ack();
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0);
  });

  it('a long-running head that then retries: the others acked meanwhile, its copy comes back, the original never', async () => {
    const { h, proxy } = await throughProxy();
    await h.subscribe(10);
    await h.send(...bodies('r', 10));
    await h.received(10);
    await Promise.all(h.deliveries.slice(1).map((d) => d.ack()));
    await waitFor(
      'the broker to hold only the head unacked',
      async () => (await unackedCount(h.queue)) === 1,
    );
    assert.ok(
      framesOf(proxy).every(([, tag, multiple]) => tag !== 1 && !multiple),
      'no frame covers the running head',
    );
    await h.deliveries[0]!.retry(0, failure);
    await h.received(11);
    assert.equal(text(h.deliveries[10]!), 'r0');
    assert.equal(h.deliveries[10]!.attempt, 2);
    await h.deliveries[10]!.ack();
    await settle();
    assert.equal(h.deliveries.length, 11, 'nothing else came back');
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0);
    const settled = settledTags(
      proxy.settles.filter((f) => f.connection === 0),
      11,
    );
    assert.equal(settled.size, 11);
    assert.ok([...settled.values()].every((m) => m === 'ack'));
  });

  it('a release in the middle of a run of acks: three frames, and the released message alone comes back', async () => {
    const { h, proxy } = await throughProxy();
    await h.subscribe(10);
    await h.send(...bodies('x', 10));
    await h.received(10);
    // All in one macrotask, as a consumer finishing a prefetched batch would.
    await Promise.all(h.deliveries.map((d, i) => (i === 4 ? d.release() : d.ack())));
    await waitFor('three frames', () => framesOf(proxy).length >= 3);
    assert.deepEqual(framesOf(proxy), [
      ['ack', 4, true],
      ['nack', 5, false],
      ['ack', 10, true],
    ]);
    assert.ok(proxy.settles.every((f) => f.method !== 'nack' || f.requeue));
    await h.received(11);
    assert.equal(text(h.deliveries[10]!), 'x4');
    assert.equal(h.deliveries[10]!.attempt, 1);
    await settle();
    assert.equal(h.deliveries.length, 11, 'only the released message came back');
    await h.deliveries[10]!.ack();
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0);
  });

  it('one frame per batch of prefetched deliveries acked together: 4 frames for 200 deliveries', async () => {
    const { h, proxy } = await throughProxy();
    await h.subscribe(50);
    await h.send(...bodies('b', 200));
    for (let batch = 1; batch <= 4; batch++) {
      // Every delivery the prefetch allows has arrived: acked together, in one macrotask.
      await h.received(50 * batch);
      await Promise.all(h.deliveries.slice(50 * (batch - 1)).map((d) => d.ack()));
    }
    await h.transport.close();
    assert.deepEqual(framesOf(proxy), [
      ['ack', 50, true],
      ['ack', 100, true],
      ['ack', 150, true],
      ['ack', 200, true],
    ]);
    assert.equal(await readyCount(h.queue), 0);
    assert.equal(h.deliveries.length, 200);
  });

  it('handlers finishing out of order, across turns of the event loop: each delivery acked exactly once, never more frames than deliveries', async (t) => {
    const { h, proxy } = await throughProxy();
    const n = 300;
    const acked: Promise<void>[] = [];
    const seen: string[] = [];
    let i = 0;
    const finish = (d: Delivery) => acked.push(d.ack());
    await h.transport.subscribe(
      { name: h.queue },
      {
        prefetch: 50,
        onDelivery: (d) => {
          seen.push(text(d));
          // Most at once or after a microtask (in order); one in five after a timer of 0-4 ms (out of order).
          const k = i++ % 10;
          if (k < 5) finish(d);
          else if (k < 8) queueMicrotask(() => finish(d));
          else setTimeout(() => finish(d), i % 5);
        },
      },
    );
    for (let b = 0; b < n; b += 50) await h.send(...bodies('n', n).slice(b, b + 50));
    await waitFor(`${n} deliveries`, () => seen.length >= n && acked.length >= n, 30_000);
    await Promise.all(acked);
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0);
    assert.equal(seen.length, n, 'no delivery came twice');
    const frames = proxy.settles.filter((f) => f.connection === 0);
    const settled = settledTags(frames, n);
    assert.equal(settled.size, n);
    assert.ok([...settled.values()].every((m) => m === 'ack'));
    // How many frames depends on how the deliveries arrive (socket reads) and on the timers: reported, not asserted.
    t.diagnostic(
      `${frames.length} ack frames for ${n} deliveries (${frames.filter((f) => f.multiple).length} with multiple=true)`,
    );
    assert.ok(frames.length <= n, `${frames.length} frames for ${n} deliveries`);
  });

  it('a consumer the broker cancels (its queue deleted): settles after it warn, consuming resumes on the queue declared again', async () => {
    const { h, proxy } = await throughProxy();
    await h.subscribe(10);
    await h.send('k0', 'k1');
    await h.received(2);
    await h.deliveries[0]!.ack();
    await deleteQueues(h.queue);
    await waitFor('the cancel to be reported', () => h.warnings.some((w) => w.kind === 'consumer-cancelled'));
    await h.deliveries[1]!.ack(); // its channel is closed: resolves without a frame, with a warning
    assert.ok(h.warnings.some((w) => w.kind === 'settle-after-channel-loss'));
    assert.deepEqual(framesOf(proxy), [['ack', 1, false]]);
    await waitFor('the queue declared again', async () => (await readyCount(h.queue)) !== undefined, 15_000);
    await h.send('k2');
    await h.received(3, 15_000);
    assert.equal(text(h.deliveries[2]!), 'k2');
    await h.deliveries[2]!.ack();
    await h.transport.close();
    assert.equal(await readyCount(h.queue), 0);
  });

  it('close() writes the acks still collected, in one frame, before closing the channel', async () => {
    const { h, proxy } = await throughProxy();
    await h.subscribe(20);
    await h.send(...bodies('c', 20));
    await h.received(20);
    for (const d of h.deliveries) void d.ack(); // not awaited: close() must wait for them
    await h.transport.close();
    assert.deepEqual(framesOf(proxy), [['ack', 20, true]]);
    assert.equal(await readyCount(h.queue), 0);
  });
});
