/**
 * The Kafka adapter's own behaviours, against librdkafka's mock cluster: options refused, ordering per partition and
 * per key, commits only up to the lowest unfinished record, the retry topic's not-before wait, delayed publishing,
 * heartbeats under a handler longer than the session, a release while running, and a rebalance between two members.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Consumer, ProduceAcks, Producer } from '@platformatic/kafka';
import type { Delivery } from 'hostwork';
import { ATTEMPT_HEADER } from 'hostwork';
import { kafkaTransport, NOT_BEFORE_HEADER } from '../src/index.ts';
import { publishNumbered, type Received, Transports, until } from './support/collect.ts';
import {
  describeWithMockCluster,
  freshTopic,
  type MockCluster,
  readTopic,
  startMockCluster,
} from './support/mock-cluster.ts';

const CASE = { timeout: 60_000 };
const text = (d: Delivery) => new TextDecoder().decode(d.body);

/** The group's committed offsets of `topic` (read without joining the group). */
async function committedOffsets(cluster: MockCluster, topic: string, partitions: number): Promise<bigint[]> {
  const reader = new Consumer({
    clientId: 'hostwork-test-offsets',
    groupId: `hostwork.${topic}`,
    bootstrapBrokers: [cluster.bootstrap],
  });
  try {
    const offsets = await reader.listCommittedOffsets({
      topics: [{ topic, partitions: Array.from({ length: partitions }, (_, i) => i) }],
    });
    return offsets.get(topic) ?? [];
  } finally {
    await reader.close(true);
  }
}

describe('kafkaTransport options', () => {
  it('refuses unknown options naming the key, and malformed brokers', () => {
    assert.throws(
      () => kafkaTransport({ brokers: ['127.0.0.1:9092'], prefetch: 3 } as never),
      /unknown option prefetch; known options are brokers/,
    );
    assert.throws(
      () => kafkaTransport({ brokers: [] }),
      /option brokers is \[\]; expected a non-empty array/,
    );
    assert.throws(() => kafkaTransport({ brokers: ['nohost'] }), /'host:port'/);
    assert.throws(
      () => kafkaTransport({ brokers: ['h:1'], sessionTimeoutMs: 6_000, heartbeatIntervalMs: 5_000 }),
      /heartbeatIntervalMs is 5000; expected an integer from 50 to 2000/,
    );
    assert.throws(
      () => kafkaTransport({ brokers: ['h:1'], rebalanceTimeoutMs: 5_000, drainTimeoutMs: 5_000 }),
      /drainTimeoutMs is 5000; expected an integer from 0 to 4500/,
    );
  });

  it('refuses unknown source options and a retry topic equal to the source', async () => {
    const transport = kafkaTransport({ brokers: ['127.0.0.1:1'] });
    try {
      await assert.rejects(
        transport.subscribe({ name: 'orders', options: { partitions: 3 } }, { prefetch: 1, onDelivery() {} }),
        /unknown option partitions of source orders; known: group, retryTopic, deadLetterTopic, ordering/,
      );
      await assert.rejects(
        transport.subscribe(
          { name: 'orders', options: { retryTopic: 'orders' } },
          { prefetch: 1, onDelivery() {} },
        ),
        /needs three different topics/,
      );
      await assert.rejects(
        transport.subscribe({ name: 'bad topic' }, { prefetch: 1, onDelivery() {} }),
        /is not a Kafka topic name/,
      );
    } finally {
      await transport.close();
    }
  });
});

describeWithMockCluster('Kafka transport (librdkafka mock cluster)', () => {
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

  it('keeps a partition in order: one record at a time whatever the prefetch', CASE, async () => {
    const topic = await freshTopic(cluster, 'order', 1);
    await publishNumbered(transports.make(), topic, 12);
    const seen: string[] = [];
    let running = 0;
    let most = 0;
    await transports.make().subscribe(
      { name: topic },
      {
        prefetch: 5,
        onDelivery: (d) => {
          running++;
          most = Math.max(most, running);
          seen.push(text(d));
          setTimeout(() => {
            running--;
            void d.ack();
          }, 20);
        },
      },
    );
    await until(
      () => seen.length === 12,
      () => `12 records (got ${seen.length})`,
    );
    assert.equal(most, 1, 'one handler at a time on one partition');
    assert.deepEqual(
      seen,
      Array.from({ length: 12 }, (_, i) => String(i)),
    );
  });

  it('takes handlers that settle synchronously, thousands in a row, without nesting', CASE, async () => {
    const topic = await freshTopic(cluster, 'sync', 2);
    await publishNumbered(transports.make(), topic, 5_000);
    let acked = 0;
    await transports.make().subscribe(
      { name: topic },
      {
        prefetch: 10,
        onDelivery: (d) => {
          // Settled inside onDelivery, as the engine does for a synchronous handler.
          void d.ack().then(() => {
            acked++;
          });
        },
      },
    );
    await until(
      () => acked === 5_000,
      () => `5000 acks (got ${acked})`,
    );
  });

  it(
    'fetches an idle partition while the read-ahead is full of records waiting behind a running handler',
    CASE,
    async () => {
      const topic = await freshTopic(cluster, 'readahead', 2);
      const producer = new Producer({
        clientId: 'hostwork-test-readahead',
        bootstrapBrokers: [cluster.bootstrap],
      });
      const sendTo = (partition: number, count: number, prefix: string) =>
        producer.send({
          messages: Array.from({ length: count }, (_, n) => ({
            topic,
            partition,
            value: Buffer.from(`${prefix}${n}`),
            headers: new Map([[Buffer.from('hostwork-id'), Buffer.from(`${prefix}${n}`)]]),
          })),
          acks: ProduceAcks.ALL,
        });
      try {
        // More than the subscription's total read-ahead (1,000), all behind the first record of partition 0.
        await sendTo(0, 1_200, 'a');
        const held: Delivery[] = [];
        const others: string[] = [];
        await transports.make().subscribe(
          { name: topic },
          {
            prefetch: 2,
            onDelivery: (d) => {
              // Partition 0's first record never settles here: its partition's other records wait behind it.
              if (text(d).startsWith('a')) held.push(d);
              else {
                others.push(text(d));
                void d.ack();
              }
            },
          },
        );
        await until(
          () => held.length === 1,
          () => `partition 0's first record (got ${held.length})`,
        );
        await sendTo(1, 3, 'b');
        await until(
          () => others.length === 3,
          () => `partition 1's 3 records while partition 0 waits (got ${others.join(', ') || 'none'})`,
        );
        assert.deepEqual(others, ['b0', 'b1', 'b2']);
        assert.equal(held.length, 1, 'partition 0 stays in order behind its running record');
        await held[0]!.ack();
      } finally {
        await producer.close();
      }
    },
  );

  it('with ordering "key": different keys of a partition overlap, one key stays in order', CASE, async () => {
    const topic = await freshTopic(cluster, 'keys', 1);
    await publishNumbered(transports.make(), topic, 12, { keys: ['a', 'b', 'c'] });
    const byKey = new Map<string, string[]>();
    const runningKeys = new Map<string, number>();
    let overlapSameKey = false;
    let running = 0;
    let most = 0;
    let total = 0;
    await transports.make({ ordering: 'key' }).subscribe(
      { name: topic },
      {
        prefetch: 6,
        onDelivery: (d) => {
          const k = d.key ?? '';
          if ((runningKeys.get(k) ?? 0) > 0) overlapSameKey = true;
          runningKeys.set(k, (runningKeys.get(k) ?? 0) + 1);
          running++;
          most = Math.max(most, running);
          byKey.set(k, [...(byKey.get(k) ?? []), text(d)]);
          setTimeout(() => {
            running--;
            runningKeys.set(k, runningKeys.get(k)! - 1);
            total++;
            void d.ack();
          }, 30);
        },
      },
    );
    await until(
      () => total === 12,
      () => `12 records (got ${total})`,
    );
    assert.equal(overlapSameKey, false, 'never two records of one key at once');
    assert.equal(most, 3, 'the three keys ran side by side');
    assert.deepEqual(byKey.get('a'), ['0', '3', '6', '9']);
    assert.deepEqual(byKey.get('b'), ['1', '4', '7', '10']);
  });

  it('commits only up to the lowest unfinished record; a later ack waits for it', CASE, async () => {
    const topic = await freshTopic(cluster, 'lowest', 1);
    await publishNumbered(transports.make(), topic, 3, { keys: ['slow', 'fast', 'fast2'] });
    const held: Delivery[] = [];
    const acked: string[] = [];
    await transports
      .make({ ordering: 'key' })
      .subscribe({ name: topic }, { prefetch: 3, onDelivery: (d) => held.push(d) });
    await until(
      () => held.length === 3,
      () => `three records handed over (got ${held.length})`,
    );
    const [slow, fast, fast2] = held;
    const fastAck = fast!.ack().then(() => acked.push('fast'));
    const fast2Ack = fast2!.ack().then(() => acked.push('fast2'));
    // Well past the commit interval: nothing is committed past the unfinished record at offset 0.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(acked, [], 'the acks of later records wait for the first');
    const [early] = await committedOffsets(cluster, topic, 1);
    assert.ok(early! <= 0n, `committed ${early} while the record at offset 0 runs`);
    await slow!.ack();
    await Promise.all([fastAck, fast2Ack]);
    assert.deepEqual(await committedOffsets(cluster, topic, 1), [3n]);
  });

  it(
    'retries through the retry topic with a not-before header, handed over only when due',
    CASE,
    async () => {
      const topic = await freshTopic(cluster, 'retry', 2);
      await publishNumbered(transports.make(), topic, 1);
      const received: Received[] = [];
      await transports.make().subscribe(
        { name: topic },
        {
          prefetch: 2,
          onDelivery: (d) => {
            received.push({ delivery: d, at: Date.now() });
            if (d.attempt === 1) void d.retry(1_500, { attempt: 1, message: 'first fails', at: Date.now() });
            else void d.ack();
          },
        },
      );
      await until(
        () => received.length === 2,
        () => `the retried record (got ${received.length})`,
      );
      const [first, second] = received;
      assert.equal(second!.delivery.id, first!.delivery.id);
      assert.equal(second!.delivery.attempt, 2);
      assert.equal(second!.delivery.headers[ATTEMPT_HEADER], '1');
      assert.ok(
        second!.at - first!.at >= 1_480,
        `came back after ${second!.at - first!.at} ms; the delay is 1500`,
      );
      const copies = await readTopic(cluster, `${topic}.retry`);
      assert.equal(copies.length, 1);
      const due = Number(copies[0]!.headers[NOT_BEFORE_HEADER]);
      assert.ok(due >= first!.at + 1_500 - 5 && due <= second!.at, 'the copy carries when it is due');
      assert.equal(copies[0]!.headers[NOT_BEFORE_HEADER] !== undefined, true);
      assert.equal(
        second!.delivery.headers[NOT_BEFORE_HEADER],
        undefined,
        'not a Hostwork header of the delivery',
      );
    },
  );

  it(
    'publishes with delayMs through the retry topic: delivered no earlier than the delay',
    CASE,
    async () => {
      const topic = await freshTopic(cluster, 'delay', 1);
      const received: Received[] = [];
      await transports.make().subscribe(
        { name: topic },
        {
          prefetch: 2,
          onDelivery: (d) => {
            received.push({ delivery: d, at: Date.now() });
            void d.ack();
          },
        },
      );
      const sentAt = Date.now();
      await publishNumbered(transports.make(), topic, 1, { delayMs: 1_000 });
      await until(
        () => received.length === 1,
        () => 'the delayed record',
      );
      assert.equal(received[0]!.delivery.attempt, 1, 'a delay is not an attempt');
      assert.ok(received[0]!.at - sentAt >= 980, `delivered after ${received[0]!.at - sentAt} ms`);
    },
  );

  it(
    'keeps its partitions under a handler longer than the session (heartbeats on their own timer)',
    CASE,
    async () => {
      const topic = await freshTopic(cluster, 'long', 1);
      await publishNumbered(transports.make(), topic, 2);
      const seen: string[] = [];
      await transports.make({ sessionTimeoutMs: 3_000, heartbeatIntervalMs: 300 }).subscribe(
        { name: topic },
        {
          prefetch: 1,
          onDelivery: (d) => {
            seen.push(d.id);
            // Twice the session: an evicted member would lose the partition and get record 0 again.
            setTimeout(() => void d.ack(), seen.length === 1 ? 6_000 : 10);
          },
        },
      );
      await until(
        () => seen.length === 2,
        () => `both records (got ${seen.join(', ')})`,
      );
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(seen, ['m-0', 'm-1'], 'each delivered once, in order');
      assert.deepEqual(await committedOffsets(cluster, topic, 1), [2n]);
    },
  );

  it('hands a record released while the subscription runs over again, uncounted', CASE, async () => {
    const topic = await freshTopic(cluster, 'release', 1);
    await publishNumbered(transports.make(), topic, 2);
    const seen: Array<[string, number]> = [];
    await transports.make().subscribe(
      { name: topic },
      {
        prefetch: 1,
        onDelivery: (d) => {
          seen.push([d.id, d.attempt]);
          if (seen.length === 1) void d.release();
          else void d.ack();
        },
      },
    );
    await until(
      () => seen.length === 3,
      () => `three deliveries (got ${JSON.stringify(seen)})`,
    );
    assert.deepEqual(seen, [
      ['m-0', 1],
      ['m-0', 1],
      ['m-1', 1],
    ]);
  });

  it('dead-letters to the dead-letter topic with the key kept', CASE, async () => {
    const topic = await freshTopic(cluster, 'dead', 1);
    await publishNumbered(transports.make(), topic, 1, { keys: ['k1'] });
    let done = false;
    await transports.make().subscribe(
      { name: topic },
      {
        prefetch: 1,
        onDelivery: (d) => {
          void d.deadLetter('poison', [{ attempt: 1, message: 'unreadable', at: Date.now() }]).then(() => {
            done = true;
          });
        },
      },
    );
    await until(
      () => done,
      () => 'the dead letter',
    );
    const dead = await readTopic(cluster, `${topic}.dead`);
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.key, 'k1');
    assert.equal(dead[0]!.headers['hostwork-dead-reason'], 'poison');
    assert.equal(dead[0]!.headers['hostwork-id'], 'm-0');
    assert.deepEqual(await committedOffsets(cluster, topic, 1), [1n]);
  });
});
