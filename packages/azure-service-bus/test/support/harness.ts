/**
 * What the adapter's own tests share: a transport on the stand-in (a STAND-IN, NOT THE SERVICE) with its warnings
 * collected, a subscription collecting its deliveries, publishing items, and waiting for a condition.
 */
import { type AzureServiceBusTransport, azureServiceBusTransport } from '@hostwork/azure-service-bus';
import type { Delivery, Destination, Subscription } from 'hostwork';
import type { StandinBroker } from './standin-broker.ts';

/** A transport on `broker` whose warnings land in `warnings` (`<kind>: <message>`). */
export function standinTransport(
  broker: StandinBroker,
  warnings: string[] = [],
  options: { readonly closeTimeoutMs?: number; readonly lockDurationMs?: number } = {},
): AzureServiceBusTransport {
  return azureServiceBusTransport({
    connectionString: broker.connectionString,
    managementEndpoint: broker.managementEndpoint,
    onWarning: (message, _error, details) => warnings.push(`${details?.warning}: ${message}`),
    ...options,
  });
}

/** A subscription handing its deliveries to `deliveries`. */
export async function collect(
  transport: AzureServiceBusTransport,
  source: Destination,
  prefetch = 10,
): Promise<{ readonly deliveries: Delivery[]; readonly subscription: Subscription }> {
  const deliveries: Delivery[] = [];
  const subscription = await transport.subscribe(source, {
    prefetch,
    onDelivery: (d) => deliveries.push(d),
  });
  return { deliveries, subscription };
}

/** Publishes one message per id with a small JSON body. */
export async function publish(
  transport: AzureServiceBusTransport,
  destination: Destination,
  ids: readonly string[],
  extra: { readonly delayMs?: number; readonly key?: string; readonly headers?: Record<string, string> } = {},
): Promise<void> {
  await transport.publish(
    destination,
    ids.map((id) => ({
      id,
      body: new TextEncoder().encode(JSON.stringify({ id })),
      headers: { 'hostwork-type': 'item', ...(extra.headers ?? {}) },
      ...(extra.delayMs !== undefined ? { delayMs: extra.delayMs } : {}),
      ...(extra.key !== undefined ? { key: extra.key } : {}),
    })),
  );
}

/** Polls `check` every 20 ms until it holds, failing with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
