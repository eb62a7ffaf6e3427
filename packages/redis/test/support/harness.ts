/**
 * A transport on a fresh stream for one test: deliveries collected as they arrive, warnings recorded, and every key
 * the test created deleted afterwards (the stream, its scheduled set, its dead-letter stream).
 */
import { randomUUID } from 'node:crypto';
import { type RedisTransport, type RedisTransportOptions, redisTransport } from '@hostwork/redis';
import type { Delivery, Destination, OutgoingMessage, Subscription, SubscriptionEvents } from 'hostwork';
import { deleteStreamKeys, freshStream, REDIS_URL, waitFor } from './server.ts';

export interface Harness {
  readonly stream: string;
  readonly source: Destination;
  readonly transport: RedisTransport;
  readonly connectionName: string;
  readonly deliveries: Delivery[];
  readonly warnings: { message: string; kind: string | undefined }[];
  subscribe(prefetch: number, events?: SubscriptionEvents): Promise<Subscription>;
  /** Publishes messages with bodies `bodies` (ids `<body>-id`, a header `n`). */
  send(...bodies: string[]): Promise<void>;
  /** Waits until at least `n` deliveries have arrived in all. */
  received(n: number, timeoutMs?: number): Promise<void>;
  /** Another transport on the same server with the same options (another process, in effect). */
  another(options?: Partial<RedisTransportOptions>): RedisTransport;
  cleanup(): Promise<void>;
}

export function message(body: string, extra: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { id: `${body}-id`, body: new TextEncoder().encode(body), headers: { n: body }, ...extra };
}

export const text = (delivery: Delivery) => Buffer.from(delivery.body).toString();

/** A harness on a fresh stream. */
export function harness(
  options: {
    transport?: Partial<RedisTransportOptions>;
    source?: Readonly<Record<string, unknown>>;
    url?: string;
  } = {},
): Harness {
  const url = options.url ?? REDIS_URL;
  const stream = freshStream();
  const source: Destination = { name: stream, ...(options.source ? { options: options.source } : {}) };
  const connectionName = `hw-test-${randomUUID()}`;
  const deliveries: Delivery[] = [];
  const warnings: { message: string; kind: string | undefined }[] = [];
  const settings: RedisTransportOptions = {
    url,
    connectionName,
    onWarning: (message, _error, details) => warnings.push({ message, kind: details?.warning }),
    ...options.transport,
  };
  const transport = redisTransport(settings);
  const others: RedisTransport[] = [];
  return {
    stream,
    source,
    transport,
    connectionName,
    deliveries,
    warnings,
    subscribe: (prefetch, events) =>
      transport.subscribe(source, {
        prefetch,
        onDelivery: (d: Delivery) => deliveries.push(d),
        ...(events ? { events } : {}),
      }),
    send: (...bodies) =>
      transport.publish(
        source,
        bodies.map((b) => message(b)),
      ),
    received: (n, timeoutMs = 10_000) =>
      waitFor(`${n} deliveries on ${stream}`, () => deliveries.length >= n, timeoutMs),
    another(extra = {}) {
      const other = redisTransport({ ...settings, ...extra });
      others.push(other);
      return other;
    },
    async cleanup() {
      await Promise.allSettled([transport.close(), ...others.map((o) => o.close())]);
      await deleteStreamKeys(stream, url);
      const dead = options.source?.deadLetterStream;
      if (typeof dead === 'string') await deleteStreamKeys(dead, url);
    },
  };
}
