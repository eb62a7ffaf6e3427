/**
 * Small helpers for the Kafka adapter's own tests: publishing numbered messages, a transport on the mock cluster,
 * and a subscription that records what it receives and lets the test settle each delivery.
 */
import type { Delivery, Transport } from 'hostwork';
import { type KafkaTransportOptions, kafkaTransport } from '../../src/index.ts';
import type { MockCluster } from './mock-cluster.ts';

/** Options for tests: short timeouts so evictions and rebalances happen within a test. */
export function testOptions(
  cluster: MockCluster,
  extra: Partial<KafkaTransportOptions> = {},
): KafkaTransportOptions {
  return {
    brokers: [cluster.bootstrap],
    sessionTimeoutMs: 6_000,
    heartbeatIntervalMs: 500,
    rebalanceTimeoutMs: 10_000,
    drainTimeoutMs: 3_000,
    fetchMaxWaitMs: 200,
    reconnectMaxMs: 1_000,
    onWarning: () => {},
    ...extra,
  };
}

/** Publishes messages `<prefix>-<n>` with body `n` (and `keys[i]` as key when given). */
export async function publishNumbered(
  transport: Transport,
  topic: string,
  count: number,
  options: { prefix?: string; keys?: readonly string[]; delayMs?: number } = {},
): Promise<string[]> {
  await transport.connect();
  const prefix = options.prefix ?? 'm';
  const messages = Array.from({ length: count }, (_, n) => ({
    id: `${prefix}-${n}`,
    body: new TextEncoder().encode(String(n)),
    headers: { 'hostwork-type': 'test' },
    ...(options.keys ? { key: options.keys[n % options.keys.length]! } : {}),
    ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {}),
  }));
  await transport.publish({ name: topic }, messages);
  return messages.map((m) => m.id);
}

/** Builds transports and closes them all at the end. */
export class Transports {
  readonly #all: Transport[] = [];
  readonly cluster: MockCluster;
  constructor(cluster: MockCluster) {
    this.cluster = cluster;
  }

  make(extra: Partial<KafkaTransportOptions> = {}): Transport {
    const transport = kafkaTransport(testOptions(this.cluster, extra));
    this.#all.push(transport);
    return transport;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#all.splice(0).map((t) => t.close()));
  }
}

/** Polls until `condition` holds, failing with `what` after `timeoutMs`. */
export async function until(condition: () => boolean, what: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A delivery as received, with when. */
export interface Received {
  readonly delivery: Delivery;
  readonly at: number;
}
