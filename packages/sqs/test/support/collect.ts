/**
 * Subscribing in tests: every delivery collected in order, with the subscription to stop.
 */
import type { Delivery, Subscription, Transport } from 'hostwork';

/** A subscription whose deliveries are collected. */
export interface Collected {
  readonly deliveries: Delivery[];
  readonly subscription: Subscription;
  /** Deliveries handed over and not yet settled (by the test's own bookkeeping). */
  readonly texts: () => string[];
}

/** Subscribes to `queue`, collecting every delivery. */
export async function collect(
  transport: Transport,
  queue: string,
  prefetch = 10,
  onDelivery?: (delivery: Delivery) => void,
  options?: Readonly<Record<string, unknown>>,
): Promise<Collected> {
  const deliveries: Delivery[] = [];
  const subscription = await transport.subscribe(
    { name: queue, options },
    {
      prefetch,
      onDelivery: (delivery) => {
        deliveries.push(delivery);
        onDelivery?.(delivery);
      },
    },
  );
  return { deliveries, subscription, texts: () => deliveries.map((d) => text(d.body)) };
}

/** A body as text. */
export function text(body: Uint8Array): string {
  return Buffer.from(body).toString('utf8');
}

/** A body from text. */
export function bytes(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, 'utf8'));
}

/** An outgoing message with the given text. */
export function message(
  id: string,
  body: string,
  extra: { headers?: Record<string, string>; key?: string; delayMs?: number } = {},
) {
  return { id, body: bytes(body), headers: extra.headers ?? {}, key: extra.key, delayMs: extra.delayMs };
}
