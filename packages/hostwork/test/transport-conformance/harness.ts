/**
 * The pieces every transport conformance case uses: the target a factory returns, a wrapping transport that counts
 * settle calls per delivery and the deliveries held unsettled, consumer hosts on a transport, and waits.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { z } from 'zod';
import { createHostBuilder, type Host } from '../../src/hosting/index.ts';
import type { LoggerFactory } from '../../src/logging/logger-factory.ts';
import { addMessaging } from '../../src/messaging/add-messaging.ts';
import { type ConsumerDefinitionInput, defineConsumer } from '../../src/messaging/consumer-definition.ts';
import { defineMessage } from '../../src/messaging/message-definition.ts';
import { MessagePublisher } from '../../src/messaging/message-publisher.ts';
import type {
  Delivery,
  Destination,
  Headers,
  OutgoingMessage,
  SubscribeOptions,
  Transport,
} from '../../src/messaging/transport.ts';
import { waitFor } from '../jobs/helpers.ts';

/** A message as the broker's dead-letter destination holds it. */
export interface DeadLetteredMessage {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
}

/** What a factory returns for one case: see the top of transport-conformance.ts. */
export interface TransportConformanceTarget {
  /** A new transport (connection) to the broker under test; called once per consumer or publisher host. */
  transport(): Transport;
  /** A fresh, empty source for this case: what is published to it is delivered to its consumers. */
  readonly source: Destination;
  /** Every message dead-lettered from `source` so far, read from the broker's dead-letter destination. */
  deadLetters(): Promise<readonly DeadLetteredMessage[]>;
  /** Set when deliveries carry a lock that runs out unless extended (ms): runs the lock-extension case. */
  readonly lockMs?: number;
  /** False when the broker cannot delay a retry (the retry case then checks only that it comes back). */
  readonly supportsDelay?: boolean;
  /** Restarts the broker (or cuts every connection) and resolves once it accepts connections again. */
  restartBroker?(): Promise<void>;
  /**
   * How a process of its own builds this target's transport, for the SIGKILL case: `module` (a URL `import()` takes)
   * exports `export`, a function returning the transport from `options` (passed to the child as JSON). Required when
   * the target declares the `kill` capability.
   */
  readonly processTransport?: ProcessTransport;
  /** Removes what the case created (queues, connections). */
  cleanup?(): Promise<void>;
}

/** A transport described so another process can build it: see `TransportConformanceTarget.processTransport`. */
export interface ProcessTransport {
  readonly module: string;
  readonly export: string;
  readonly options: unknown;
}

/** Makes a fresh target per case. */
export type TransportConformanceFactory = () => Promise<TransportConformanceTarget>;

/** Per-case timeout: real brokers are slower than memory, and the machine may be loaded. */
export const CASE = { timeout: 60_000 };

/** The message every case sends. */
export const Item = defineMessage({ name: 'conformance-item', schema: z.object({ n: z.number() }) });

/** What a counting transport saw of one delivery. */
export interface DeliveryRecord {
  readonly id: string;
  readonly attempt: number;
  readonly headers: Headers;
  /** Every settle call on it, in order ('ack', 'retry', 'deadLetter', 'release'); more than one is a bug. */
  readonly settles: string[];
  readonly extends: number[];
}

/** A transport wrapper recording deliveries, settle calls and the most deliveries held unsettled at once. */
export interface Counting {
  readonly transport: Transport;
  readonly deliveries: DeliveryRecord[];
  /** The order of things: `deliver:<id>#<attempt>`, `ack:<id>#<attempt>`, and what the cases add. */
  readonly log: string[];
  unsettled: number;
  maxUnsettled: number;
}

/** Wraps `inner`, counting what the engine does with each delivery. */
export function counting(inner: Transport): Counting {
  const c: Counting = {
    deliveries: [],
    log: [],
    unsettled: 0,
    maxUnsettled: 0,
    transport: {
      kind: inner.kind,
      connect: () => inner.connect(),
      publish: (d: Destination, m: readonly OutgoingMessage[]) => inner.publish(d, m),
      close: () => inner.close(),
      [Symbol.asyncDispose]: () => inner.close(),
      // The host's loggers reach the adapter, so what it logs (a lost connection) shows as it would in an application.
      ...(inner.attachLogger
        ? { attachLogger: (loggers: LoggerFactory) => inner.attachLogger!(loggers) }
        : {}),
      subscribe: (source: Destination, options: SubscribeOptions) =>
        inner.subscribe(source, { ...options, onDelivery: (d) => options.onDelivery(wrap(d)) }),
    },
  };
  const wrap = (d: Delivery): Delivery => {
    const record: DeliveryRecord = {
      id: d.id,
      attempt: d.attempt,
      headers: d.headers,
      settles: [],
      extends: [],
    };
    c.deliveries.push(record);
    c.log.push(`deliver:${d.id}#${d.attempt}`);
    c.unsettled++;
    c.maxUnsettled = Math.max(c.maxUnsettled, c.unsettled);
    const settle =
      <A extends unknown[]>(kind: string, call: (...args: A) => Promise<void>) =>
      (...args: A) => {
        record.settles.push(kind);
        c.log.push(`${kind}:${d.id}#${d.attempt}`);
        if (record.settles.length === 1) c.unsettled--;
        return call(...args);
      };
    const wrapped: Delivery = {
      id: d.id,
      body: d.body,
      headers: d.headers,
      attempt: d.attempt,
      ...(d.redeliveries !== undefined ? { redeliveries: d.redeliveries } : {}),
      ...(d.key !== undefined ? { key: d.key } : {}),
      ...(d.lockMs !== undefined ? { lockMs: d.lockMs } : {}),
      ack: settle('ack', () => d.ack()),
      retry: settle('retry', (ms: number, e) => d.retry(ms, e)),
      deadLetter: settle('deadLetter', (r, e) => d.deadLetter(r, e)),
      release: settle('release', () => d.release()),
      ...(d.extend
        ? {
            extend: (ms: number) => {
              record.extends.push(ms);
              return d.extend!(ms);
            },
          }
        : {}),
    };
    return wrapped;
  };
  return c;
}

/** A started host running one consumer of {@link Item} on `transport`. */
export interface ConsumerHost {
  readonly host: Host;
  readonly publisher: MessagePublisher;
  readonly logs: string[];
}

/** Starts a host with `addMessaging` and one consumer (name 'conformance') of {@link Item} on `source`. */
export async function startConsumer(
  transport: Transport,
  source: Destination,
  consumer: Omit<ConsumerDefinitionInput<typeof Item>, 'name' | 'transport' | 'source' | 'message'>,
  shutdownTimeout = 10_000,
): Promise<ConsumerHost> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  const builder = createHostBuilder({
    env: {},
    args: [],
    logging: { destination, level: 'info', pretty: false },
    host: { shutdownTimeout },
  });
  addMessaging(builder, {
    transports: { target: transport },
    consumers: [
      defineConsumer({ name: 'conformance', transport: 'target', source, message: Item, ...consumer }),
    ],
    abortGraceMs: 1_000,
  });
  const host = builder.build();
  await host.start();
  return { host, publisher: host.services.get(MessagePublisher), logs };
}

/** Publishes `Item { n }` for each n through a host-less publisher call on `transport` (ids `<prefix>-<n>`). */
export async function publishItems(
  transport: Transport,
  source: Destination,
  ns: readonly number[],
  prefix = 'm',
): Promise<string[]> {
  await transport.connect();
  const encoder = new TextEncoder();
  const messages = ns.map((n) => ({
    id: `${prefix}-${n}`,
    body: encoder.encode(JSON.stringify({ n })),
    headers: { 'hostwork-type': Item.name },
  }));
  await transport.publish(source, messages);
  return messages.map((m) => m.id);
}

/** Polls `condition` until it is truthy; fails naming `what` after `timeoutMs` (the jobs tests' `waitFor`). */
export function until<V>(
  condition: () => V | Promise<V>,
  what: string | (() => string),
  timeoutMs = 30_000,
): Promise<NonNullable<V>> {
  return waitFor(condition, what, timeoutMs);
}

/** Asserts no delivery was settled more than once. */
export function assertSettledOnce(c: Counting): void {
  for (const d of c.deliveries) {
    assert.ok(
      d.settles.length <= 1,
      `delivery ${d.id}#${d.attempt} was settled ${d.settles.length} times: ${d.settles.join(', ')}`,
    );
  }
}
