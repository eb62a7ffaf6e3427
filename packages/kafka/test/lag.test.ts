/**
 * The Kafka transport's `lag` against librdkafka's mock cluster: the records of the source topic after the group's
 * committed offsets (all of a partition never committed, with startFrom 'earliest'), down to 0 once every record is
 * settled and committed; nothing without a subscription to the source.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Delivery } from 'hostwork';
import { publishNumbered, Transports, until } from './support/collect.ts';
import {
  describeWithMockCluster,
  freshTopic,
  type MockCluster,
  startMockCluster,
} from './support/mock-cluster.ts';

const CASE = { timeout: 60_000 };

describeWithMockCluster('Kafka transport lag (librdkafka mock cluster)', () => {
  let cluster: MockCluster;
  let transports: Transports;
  before(async () => {
    cluster = await startMockCluster();
    transports = new Transports(cluster);
  });
  after(async () => {
    await transports?.closeAll();
    await cluster?.stop();
  });

  it('counts the records after the group’s committed offsets, on every partition', CASE, async () => {
    const topic = await freshTopic(cluster, 'lag', 2);
    await publishNumbered(transports.make(), topic, 10);
    const transport = transports.make();
    assert.equal(await transport.lag!({ name: topic }), undefined, 'no subscription to read it with');
    const held: Delivery[] = [];
    await transport.subscribe({ name: topic }, { prefetch: 2, onDelivery: (d) => held.push(d) });
    await until(
      () => held.length > 0,
      () => 'a first delivery',
    );
    // Nothing settled, so nothing committed: every record counts, held ones included.
    assert.deepEqual(await transport.lag!({ name: topic }), { messages: 10 });

    let acked = 0;
    while (acked < 10) {
      await until(
        () => held.length > 0,
        () => `delivery ${acked + 1}`,
      );
      for (const d of held.splice(0)) {
        await d.ack();
        acked++;
      }
    }
    let last: number | undefined;
    const deadline = Date.now() + 10_000;
    while (last !== 0 && Date.now() < deadline) {
      last = (await transport.lag!({ name: topic }))?.messages;
      if (last !== 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(last, 0, 'every record settled and committed');
  });
});
