/**
 * A transport on a fresh queue for one test: deliveries collected as they arrive, warnings recorded, and everything
 * the test created deleted afterwards (the queue, its dead-letter queue, its delay queues).
 */
import { randomUUID } from 'node:crypto';
import type { QueueType, RabbitmqTransportOptions } from '@hostwork/rabbitmq';
import { delayBucketMs, delayQueueName, type RabbitmqTransport, rabbitmqTransport } from '@hostwork/rabbitmq';
import type { Delivery, OutgoingMessage, SubscriptionEvents } from 'hostwork';
import { deleteQueues, freshQueueName, RABBITMQ_URL, waitFor } from './broker.ts';

/** The delays tests retry with, so cleanup knows the delay queues to delete. */
const TEST_DELAYS = [0, 100, 150, 200, 300, 600, 1_000, 2_500, 3_000];

export interface Harness {
  readonly queue: string;
  readonly transport: RabbitmqTransport;
  readonly connectionName: string;
  readonly deliveries: Delivery[];
  readonly warnings: { message: string; kind: string | undefined }[];
  subscribe(prefetch: number, events?: SubscriptionEvents): Promise<{ stop(): Promise<void> }>;
  /** Publishes messages with bodies `bodies` (ids `<body>-id`, a header `n`). */
  send(...bodies: string[]): Promise<void>;
  /** Waits until at least `n` deliveries have arrived in all. */
  received(n: number, timeoutMs?: number): Promise<void>;
  cleanup(): Promise<void>;
}

export function message(body: string, extra: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { id: `${body}-id`, body: new TextEncoder().encode(body), headers: { n: body }, ...extra };
}

export const text = (delivery: Delivery) => Buffer.from(delivery.body).toString();

/** A harness on a fresh queue, declared by Hostwork with `queueType` unless `declare` is false. */
export function harness(
  options: { queueType?: QueueType; declare?: boolean; transport?: Partial<RabbitmqTransportOptions> } = {},
): Harness {
  const queue = freshQueueName();
  const connectionName = `hostwork-test-${randomUUID()}`;
  const deliveries: Delivery[] = [];
  const warnings: { message: string; kind: string | undefined }[] = [];
  const transport = rabbitmqTransport({
    url: RABBITMQ_URL,
    declare: options.declare ?? true,
    queueType: options.queueType ?? 'classic',
    connectionName,
    onWarning: (message, _error, details) => warnings.push({ message, kind: details?.warning }),
    ...options.transport,
  });
  return {
    queue,
    transport,
    connectionName,
    deliveries,
    warnings,
    subscribe: (prefetch, events) =>
      transport.subscribe(
        { name: queue },
        {
          prefetch,
          onDelivery: (d: Delivery) => deliveries.push(d),
          ...(events ? { events } : {}),
        },
      ),
    send: (...bodies) =>
      transport.publish(
        { name: queue },
        bodies.map((b) => message(b)),
      ),
    received: (n, timeoutMs = 10_000) =>
      waitFor(`${n} deliveries on ${queue}`, () => deliveries.length >= n, timeoutMs),
    async cleanup() {
      await transport.close();
      const delays = [...new Set(TEST_DELAYS.map(delayBucketMs))].filter((b) => b > 0);
      await deleteQueues(queue, `${queue}.dead`, ...delays.map((b) => delayQueueName(queue, b)));
    },
  };
}
