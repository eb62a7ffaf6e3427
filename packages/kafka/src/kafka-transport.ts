/**
 * The Kafka transport: Hostwork's `Transport` on @platformatic/kafka (a pure TypeScript client). See the package
 * README for how retries, delays, dead letters, ordering and rebalances map to Kafka.
 */
import { compatibilityPartitioner, ProduceAcks, Producer } from '@platformatic/kafka';
import {
  type ConsumerLag,
  type Destination,
  ErrorCodes,
  HostworkError,
  type LoggerFactory,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from 'hostwork';
import { settlesWithin } from './bounded.ts';
import { KafkaSubscription } from './kafka-subscription.ts';
import {
  type KafkaTransportOptions,
  type ResolvedOptions,
  resolveDestination,
  resolveOptions,
  resolveSource,
} from './kafka-transport-options.ts';
import type { Entry } from './partition-state.ts';
import { type RecordToProduce, recordToProduce } from './records.ts';
import { WarningRoute } from './warnings.ts';

/**
 * A Hostwork message transport on Kafka.
 *
 * ```ts
 * const transport = kafkaTransport({ brokers: ['kafka-1:9092', 'kafka-2:9092'] });
 * // consumers: source { name: 'orders' } reads orders and orders.retry in group hostwork.orders,
 * // dead letters go to orders.dead (all three topics must exist).
 * ```
 */
export function kafkaTransport(options: KafkaTransportOptions): KafkaTransport {
  return new KafkaTransport(options);
}

/** The transport {@link kafkaTransport} creates. */
export class KafkaTransport implements Transport {
  readonly kind = 'kafka';
  readonly #options: ResolvedOptions;
  readonly #warnings: WarningRoute;
  readonly #subscriptions = new Set<KafkaSubscription>();
  #producer: Producer | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: KafkaTransportOptions) {
    this.#options = resolveOptions(options);
    this.#warnings = new WarningRoute(options.onWarning);
  }

  /** Sends the transport's warnings to the host's logger, category `Hostwork.Kafka` (unless `onWarning` was given). */
  attachLogger(loggers: LoggerFactory): void {
    this.#warnings.attach(loggers.create('Hostwork.Kafka'));
  }

  /** Opens the producer's connection and reads the cluster's metadata (fails when no broker answers). */
  async connect(): Promise<void> {
    const producer = this.#open();
    try {
      await producer.metadata({ topics: [] });
    } catch (error) {
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `kafkaTransport: no broker of ${this.#options.brokers.join(', ')} answered: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * The records of the source topic after its group's committed offsets (log end minus committed, per partition; see
   * lag.ts), read on the client of this transport's subscription to the source; undefined while it has none. Records
   * received and not yet committed count too (the commit trails the settles), retries in the retry topic do not.
   */
  async lag(source: Destination): Promise<ConsumerLag | undefined> {
    this.#open();
    const resolved = resolveSource(source.name, source.options, this.#options);
    for (const subscription of this.#subscriptions)
      if (subscription.source.topic === resolved.topic && subscription.source.group === resolved.group)
        return subscription.lag();
    return undefined;
  }

  async subscribe(source: Destination, options: SubscribeOptions): Promise<Subscription> {
    this.#open();
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1)
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `kafkaTransport: prefetch of source ${source.name} is ${options.prefetch}; expected an integer >= 1.`,
      );
    const resolved = resolveSource(source.name, source.options, this.#options);
    const subscription = new KafkaSubscription(
      {
        options: this.#options,
        source: resolved,
        produceCopy: (entry, topic, headers, notBefore) =>
          this.#produceCopy(entry, topic, headers, notBefore),
        warn: this.#warnings.warn,
      },
      options,
    );
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      this.#subscriptions.delete(subscription);
      throw error;
    }
    return {
      stop: () => subscription.stop(),
    };
  }

  async publish(destination: Destination, messages: readonly OutgoingMessage[]): Promise<void> {
    const producer = this.#open();
    if (messages.length === 0) return;
    const { topic, retryTopic } = resolveDestination(destination.name, destination.options, this.#options);
    const now = Date.now();
    // A delayed message waits in the retry topic, which the topic's consumers read with its not-before header.
    const records = messages.map((m) =>
      m.delayMs !== undefined && m.delayMs > 0
        ? recordToProduce(retryTopic, m, now + m.delayMs)
        : recordToProduce(topic, m),
    );
    await this.#send(producer, records, `topic ${topic}`);
  }

  #produceCopy(
    entry: Entry,
    topic: string,
    headers: Readonly<Record<string, string>>,
    notBefore?: number,
  ): Promise<void> {
    const { record } = entry;
    return this.#send(
      this.#open(),
      [recordToProduce(topic, { id: record.id, body: record.body, headers, key: record.key }, notBefore)],
      `topic ${topic} (a copy of ${record.topic}/${record.partition}@${record.offset})`,
    );
  }

  async #send(producer: Producer, records: readonly RecordToProduce[], what: string): Promise<void> {
    try {
      await producer.send({
        messages: records.map((r) => ({
          topic: r.topic,
          value: r.value,
          headers: r.headers,
          ...(r.key === undefined ? {} : { key: r.key }),
        })),
        acks: ProduceAcks.ALL,
        // Java's default partitioner: a key lands on the same partition whichever client produced it.
        partitioner: (message, key) =>
          key === undefined ? roundRobin(message.topic) : compatibilityPartitioner(message, key),
      });
    } catch (error) {
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `Publishing ${records.length} message(s) to Kafka ${what} failed for ${records.map((r) => idOf(r)).join(', ')}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  #open(): Producer {
    if (this.#closing)
      throw new HostworkError(ErrorCodes.TRANSPORT_FAILED, 'kafkaTransport: the transport is closed.');
    this.#producer ??= new Producer({
      clientId: this.#options.clientId,
      bootstrapBrokers: [...this.#options.brokers],
      acks: ProduceAcks.ALL,
      retries: 5,
      retryDelay: 250,
      timeout: 10_000,
    });
    return this.#producer;
  }

  /** Closes every subscription (last commits, group left) and the producer, within `closeTimeoutMs` each. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#subscriptions].map((s) => s.close()));
      this.#subscriptions.clear();
      const producer = this.#producer;
      if (!producer) return;
      const closed = await settlesWithin(producer.close(), this.#options.closeTimeoutMs);
      if (!closed) {
        this.#warnings.warn(
          `kafka: closing the producer took longer than ${this.#options.closeTimeoutMs} ms; closed by force.`,
          undefined,
          { warning: 'close-timeout' },
        );
        await producer.close(true).catch(() => {});
      }
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Keyless messages spread over the partitions in turn (the client takes the index modulo the partition count). */
const turns = new Map<string, number>();
function roundRobin(topic: string): number {
  const n = turns.get(topic) ?? 0;
  turns.set(topic, (n + 1) % 1_000_000);
  return n;
}

function idOf(record: RecordToProduce): string {
  for (const [name, value] of record.headers) if (name.toString() === 'hostwork-id') return value.toString();
  return '(no id)';
}
