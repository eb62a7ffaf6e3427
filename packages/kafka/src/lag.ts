/**
 * A consumer group's lag on a source topic, for the `consumer-lag:<consumer>` health check: per partition, the log end
 * offset minus the group's committed offset (two requests: ListOffsets, OffsetFetch), read when a probe asks on the
 * subscription's own client. Retries waiting in the retry topic are not counted.
 */
import { type Consumer, ListOffsetTimestamps } from '@platformatic/kafka';
import type { ConsumerLag } from 'hostwork';
import type { KafkaStartFrom, ResolvedSource } from './kafka-transport-options.ts';

/**
 * The records of `source.topic` after the group's committed offsets. A partition the group never committed counts from
 * where a new member starts (`startFrom`: all of it from the earliest offset, nothing from the latest). The committed
 * offset trails what is settled by the commit interval, so records received and not yet committed count too.
 */
export async function groupLag(
  consumer: Consumer,
  source: ResolvedSource,
  startFrom: KafkaStartFrom,
): Promise<ConsumerLag> {
  const ends = (await consumer.listOffsets({ topics: [source.topic] })).get(source.topic) ?? [];
  const partitions = ends.map((_, partition) => partition);
  const committed =
    partitions.length === 0
      ? []
      : ((await consumer.listCommittedOffsets({ topics: [{ topic: source.topic, partitions }] })).get(
          source.topic,
        ) ?? []);
  const fresh = partitions.filter((p) => (committed[p] ?? -1n) < 0n);
  const starts =
    fresh.length > 0 && startFrom === 'earliest'
      ? ((
          await consumer.listOffsets({
            topics: [source.topic],
            partitions: { [source.topic]: fresh },
            timestamp: ListOffsetTimestamps.EARLIEST,
          })
        ).get(source.topic) ?? [])
      : [];
  let messages = 0n;
  for (const p of partitions) {
    const end = ends[p] ?? 0n;
    const from =
      (committed[p] ?? -1n) >= 0n ? committed[p]! : startFrom === 'earliest' ? (starts[p] ?? end) : end;
    if (end > from) messages += end - from;
  }
  return { messages: Number(messages) };
}
