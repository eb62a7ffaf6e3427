/**
 * @hostwork/nats: the NATS JetStream transport for Hostwork's message consumers. A durable pull consumer per source,
 * pulling no more than the consumer's concurrency; retries as copies carrying Hostwork's attempt header, held back
 * with `nak(delay)` until their backoff has passed; `working()` while long handlers run; dead letters copied to a
 * stream of your naming and the original terminated; `max_ack_pending` sized from the concurrency, with a warning
 * before it stalls the consumer; reconnects with backoff.
 *
 * @example
 * ```ts
 * import { natsTransport } from '@hostwork/nats';
 *
 * const nats = natsTransport({ servers: '127.0.0.1:4222' });
 * ```
 */
export { ID_HEADER, NOT_BEFORE_HEADER, RETRY_FOR_HEADER } from './header-names.ts';
export { DEAD_CONSUMER_HEADER, DEAD_SUBJECT_HEADER } from './nats-delivery.ts';
export { NatsTransport, natsTransport } from './nats-transport.ts';
export {
  defaultMaxAckPending,
  type NatsConnectionOptions,
  type NatsSourceOptions,
  type NatsTransportOptions,
  type Retention,
  type Storage,
} from './nats-transport-options.ts';
export type { WarningDetails, WarningListener } from './warnings.ts';
