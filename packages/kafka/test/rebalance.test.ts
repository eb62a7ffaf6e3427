/**
 * A rebalance between two members of one group, against librdkafka's mock cluster: the first member is handling
 * records when the second joins; the first drains its running handlers (within `drainTimeoutMs`) before it rejoins,
 * partitions are split, nothing is lost and no delivery is settled twice.
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

describeWithMockCluster('Kafka rebalance (librdkafka mock cluster)', () => {
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

  it('drains running handlers before rejoining; nothing lost, nothing settled twice', {
    timeout: 90_000,
  }, async (t) => {
    const topic = await freshTopic(cluster, 'rebalance', 4);
    const ids = await publishNumbered(transports.make(), topic, 60);
    const handled = new Map<string, string[]>();
    const settles = new Map<Delivery, number>();
    const failedSettles: string[] = [];
    let runningAtRevoke = 0;
    const running = { a: 0, b: 0 };
    const member = (name: 'a' | 'b') => ({
      prefetch: 4,
      onDelivery: (d: Delivery) => {
        running[name]++;
        handled.set(d.id, [...(handled.get(d.id) ?? []), name]);
        setTimeout(() => {
          running[name]--;
          settles.set(d, (settles.get(d) ?? 0) + 1);
          d.ack().catch((error: unknown) => failedSettles.push(`${d.id}: ${(error as Error).message}`));
        }, 150);
      },
    });
    const warnings: string[] = [];
    const a = transports.make({ onWarning: (m) => warnings.push(m) });
    await a.subscribe({ name: topic }, member('a'));
    await until(
      () => handled.size >= 8,
      () => `member a handling (got ${handled.size})`,
    );
    runningAtRevoke = running.a;
    await transports.make({ onWarning: (m) => warnings.push(m) }).subscribe({ name: topic }, member('b'));
    await until(
      () => ids.every((id) => handled.has(id)),
      () => `all 60 handled (missing ${ids.filter((id) => !handled.has(id)).join(', ')})`,
      60_000,
    );
    await until(
      () => [...handled.values()].some((by) => by.includes('b')),
      () => 'member b to get partitions',
    );
    for (const [, count] of settles) assert.equal(count, 1, 'each delivery settled once');
    const twice = [...handled].filter(([, by]) => by.length > 1);
    t.diagnostic(
      `running on a when b joined: ${runningAtRevoke}; handled twice: ${twice.length} (${twice.map(([id, by]) => `${id}:${by.join('')}`).join(' ')}); settles refused: ${failedSettles.length}; warnings: ${warnings.length}`,
    );
    for (const w of warnings) t.diagnostic(w);
    for (const f of failedSettles) t.diagnostic(f);
  });
});
