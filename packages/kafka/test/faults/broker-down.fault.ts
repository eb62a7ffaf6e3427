/**
 * The mock cluster's broker down for longer than the group session (its simulated outage: connections dropped and
 * refused, the cluster's logs, groups and offsets kept), under a running subscription: fetches and commits fail and
 * are tried again with backoff, the member is evicted meanwhile, and once the broker is back it joins again, reads
 * from the committed offsets and handles everything; nothing is lost, no delivery is settled twice, and the lost
 * connection and its return are reported.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Delivery } from 'hostwork';
import { publishNumbered, Transports, until } from '../support/collect.ts';
import {
  describeWithMockCluster,
  freshTopic,
  type MockCluster,
  startMockCluster,
} from '../support/mock-cluster.ts';

describeWithMockCluster('Kafka broker down past the session (librdkafka mock cluster)', () => {
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

  it('rejoins after the outage and loses nothing', { timeout: 120_000 }, async () => {
    const topic = await freshTopic(cluster, 'outage', 2);
    const ids = await publishNumbered(transports.make(), topic, 20);
    const handled = new Set<string>();
    const settles = new Map<Delivery, number>();
    const events: string[] = [];
    const warnings: string[] = [];
    let down: Promise<void> | undefined;
    await transports
      .make({
        sessionTimeoutMs: 3_000,
        heartbeatIntervalMs: 300,
        onWarning: (_m, _e, d) => warnings.push(d?.warning ?? '?'),
      })
      .subscribe(
        { name: topic },
        {
          prefetch: 2,
          events: {
            disconnected: () => events.push('disconnected'),
            reconnected: () => events.push('reconnected'),
          },
          onDelivery: (d) => {
            if (handled.size >= 5)
              down ??= (async () => {
                await cluster.setBroker('down');
                // Past the session timeout: the coordinator evicts the member before it is back.
                await new Promise((r) => setTimeout(r, 5_000));
                await cluster.setBroker('up');
              })();
            setTimeout(() => {
              handled.add(d.id);
              settles.set(d, (settles.get(d) ?? 0) + 1);
              d.ack().catch(() => {});
            }, 50);
          },
        },
      );
    await until(
      () => down !== undefined,
      () => 'the outage',
    );
    await down;
    await publishNumbered(transports.make(), topic, 5, { prefix: 'late' }).then((late) => ids.push(...late));
    await until(
      () => ids.every((id) => handled.has(id)),
      () => `all ${ids.length} handled (missing ${ids.filter((id) => !handled.has(id)).join(', ')})`,
      60_000,
    );
    for (const [, count] of settles) assert.equal(count, 1, 'each delivery settled once');
    assert.ok(events.includes('disconnected'), `the loss was reported (events: ${events.join(', ')})`);
    assert.equal(events.at(-1), 'reconnected', `the return was reported (events: ${events.join(', ')})`);
    assert.ok(warnings.includes('connection-lost'), `warned (${warnings.join(', ')})`);
  });
});
