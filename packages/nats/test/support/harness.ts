/**
 * A transport on a fresh subject for one test: deliveries collected as they arrive, warnings recorded, and the
 * streams the test created deleted afterwards (the source's and its dead-letter stream).
 */
import { randomUUID } from 'node:crypto';
import type { NatsSourceOptions, NatsTransport, NatsTransportOptions } from '@hostwork/nats';
import { natsTransport } from '@hostwork/nats';
import type { Delivery, Destination, OutgoingMessage, SubscriptionEvents } from 'hostwork';
import { deleteStreams, freshSubject, NATS_URL, waitFor } from './server.ts';

export interface Harness {
  readonly subject: string;
  readonly source: Destination;
  readonly transport: NatsTransport;
  readonly deliveries: Delivery[];
  readonly warnings: { message: string; kind: string | undefined; details: Record<string, unknown> }[];
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

/** A harness on a fresh subject; its stream, consumer and dead-letter stream declared by Hostwork by default. */
export function harness(
  options: { source?: NatsSourceOptions; transport?: Partial<NatsTransportOptions>; subject?: string } = {},
): Harness {
  const subject = options.subject ?? freshSubject();
  const deliveries: Delivery[] = [];
  const warnings: Harness['warnings'] = [];
  const transport = natsTransport({
    servers: NATS_URL,
    connectionName: `hostwork-test-${randomUUID()}`,
    onWarning: (message, _error, details) =>
      warnings.push({ message, kind: details?.warning, details: { ...details } }),
    ...options.transport,
  });
  const source: Destination = {
    name: subject,
    ...(options.source ? { options: { ...options.source } } : {}),
  };
  const stream = options.source?.stream ?? subject;
  return {
    subject,
    source,
    transport,
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
      waitFor(`${n} deliveries on ${subject}`, () => deliveries.length >= n, timeoutMs),
    async cleanup() {
      await transport.close();
      await deleteStreams(stream, `${stream}_dead`);
    },
  };
}
