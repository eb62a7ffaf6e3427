/**
 * @hostwork/redis: the Redis Streams transport for Hostwork's message consumers. A consumer group per source,
 * XREADGROUP with COUNT from the consumer's concurrency, XACK on success, delayed retries through a scheduled sorted set
 * moved back to the stream by an atomic script any consumer runs, a claim of entries whose lease ran out (a dead
 * consumer's, the attempt counted), dead letters to `<stream>:dead`, attempts counted in Hostwork's header, reconnects with backoff.
 *
 * @example
 * ```ts
 * import { redisTransport } from '@hostwork/redis';
 *
 * const redis = redisTransport({ url: 'redis://127.0.0.1:6379', leaseMs: 30_000 });
 * ```
 */
export { BODY_FIELD, ID_FIELD, KEY_FIELD } from './field-names.ts';
export { RedisTransport, redisTransport } from './redis-transport.ts';
export type {
  GroupStart,
  RedisSourceOptions,
  RedisTransportOptions,
} from './redis-transport-options.ts';
export type { WarningDetails, WarningListener } from './warnings.ts';
