/**
 * @hostwork/rabbitmq: the RabbitMQ transport for Hostwork's message consumers. A channel per consumer with its
 * prefetch, publisher confirms for everything Hostwork publishes, delayed retries through TTL queues that dead-letter
 * back to the source (RabbitMQ 3.x, no plugin), a dead-letter queue per source, and reconnects with backoff.
 *
 * @example
 * ```ts
 * import { rabbitmqTransport } from '@hostwork/rabbitmq';
 *
 * const rabbit = rabbitmqTransport({ url: 'amqp://guest:guest@127.0.0.1:5672', declare: true });
 * ```
 */
export {
  DELAY_QUEUE_REDECLARE_MS,
  delayBucketMs,
  delayQueueName,
  MAX_DELAY_MS,
  MIN_DELAY_MS,
} from './delay-queues.ts';
export { RabbitmqTransport, rabbitmqTransport } from './rabbitmq-transport.ts';
export type {
  QueueType,
  RabbitmqDestinationOptions,
  RabbitmqSourceOptions,
  RabbitmqTransportOptions,
} from './rabbitmq-transport-options.ts';
export type { WarningDetails, WarningListener } from './warnings.ts';
