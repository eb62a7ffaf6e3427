/**
 * The Azure Service Bus targets of the transport conformance suite (packages/hostwork/test/transport-conformance):
 *
 * - {@link standinConformanceTarget}: the local AMQP stand-in ({@link StandinBroker}, a STAND-IN, NOT THE SERVICE),
 *   always: a fresh queue per case with a 3 s lock, so that the lock case (a handler outliving it) and the SIGKILL
 *   case (what the killed process held comes back once its locks run out) run in seconds. The SIGKILL case's child
 *   process connects to the stand-in of this test process over TCP. `restartBroker` drops every connection and
 *   listens again, keeping messages and locks (set only with `{ restart: true }`, for the fault run). The transport's
 *   `lag()` reads the stand-in's HTTP management API (`managementEndpoint`).
 * - {@link namespaceConformanceTarget}: a real namespace, when `AZURE_SERVICEBUS_CONNECTION_STRING` is set: a fresh
 *   queue per case (lock duration 5 s, the service's minimum), created and deleted with the administration client.
 *
 * Both read dead letters back from the queue's `$DeadLetterQueue` with a peek, leaving them there.
 */
import { randomBytes } from 'node:crypto';
import { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import { azureServiceBusTransport } from '@hostwork/azure-service-bus';
import type { Destination, Headers, Transport } from 'hostwork';
import type { StandinBroker } from './standin-broker.ts';

/** The lock duration of the stand-in's queues in the suite. */
export const STANDIN_LOCK_MS = 3_000;
/** The lock duration of a real namespace's queues in the suite (the service's minimum is 5 s). */
export const NAMESPACE_LOCK_MS = 5_000;

/** What the suite's target holds (see transport-conformance/harness.ts). */
export interface AzureConformanceTarget {
  transport(): Transport;
  readonly source: Destination;
  deadLetters(): Promise<
    readonly { readonly id: string; readonly body: Uint8Array; readonly headers: Headers }[]
  >;
  readonly lockMs: number;
  readonly supportsDelay: boolean;
  readonly processTransport: { readonly module: string; readonly export: string; readonly options: unknown };
  restartBroker?(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A fresh queue name: `<prefix>-<hex>`. */
export function freshQueue(prefix = 'hw-test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** Every message in `queue`'s dead-letter sub-queue, peeked (left there). */
export async function readDeadLetters(
  connectionString: string,
  queue: string,
): Promise<{ id: string; body: Uint8Array; headers: Headers }[]> {
  const client = new ServiceBusClient(connectionString);
  try {
    const receiver = client.createReceiver(queue, {
      subQueueType: 'deadLetter',
      skipParsingBodyAsJson: true,
    });
    const found: { id: string; body: Uint8Array; headers: Headers }[] = [];
    for (;;) {
      const batch = await receiver.peekMessages(50);
      if (batch.length === 0) break;
      for (const m of batch) {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.applicationProperties ?? {})) headers[k] = String(v);
        found.push({
          id: headers['hostwork-id'] ?? String(m.messageId),
          body: m.body as Uint8Array,
          headers,
        });
      }
    }
    return found;
  } finally {
    await client.close();
  }
}

function target(
  connectionString: string,
  queue: string,
  lockMs: number,
  cleanup: () => Promise<void>,
  restart?: () => Promise<void>,
  managementEndpoint?: string,
): AzureConformanceTarget {
  const source: Destination = { name: queue, options: { lockDurationMs: lockMs } };
  const transports: Transport[] = [];
  const options = {
    connectionString,
    closeTimeoutMs: 5_000,
    ...(managementEndpoint === undefined ? {} : { managementEndpoint }),
  };
  return {
    transport() {
      const transport = azureServiceBusTransport(options);
      transports.push(transport);
      return transport;
    },
    source,
    lockMs,
    supportsDelay: true,
    processTransport: {
      module: import.meta.resolve('@hostwork/azure-service-bus'),
      export: 'azureServiceBusTransport',
      options,
    },
    deadLetters: () => readDeadLetters(connectionString, queue),
    ...(restart ? { restartBroker: restart } : {}),
    async cleanup() {
      await Promise.allSettled(transports.map((t) => t.close()));
      await cleanup();
    },
  };
}

/** A fresh queue on the stand-in: see the module's comment. */
export async function standinConformanceTarget(
  broker: StandinBroker,
  options: { readonly restart?: boolean } = {},
): Promise<AzureConformanceTarget> {
  const queue = freshQueue('hw-conformance');
  broker.createQueue(queue, { lockDurationMs: STANDIN_LOCK_MS });
  return target(
    broker.connectionString,
    queue,
    STANDIN_LOCK_MS,
    async () => broker.deleteEntity(queue),
    options.restart ? () => broker.restart() : undefined,
    // lag() reads the stand-in's HTTP management API, on a port of its own.
    broker.managementEndpoint,
  );
}

/** A fresh queue on the namespace of `connectionString`: see the module's comment. */
export async function namespaceConformanceTarget(connectionString: string): Promise<AzureConformanceTarget> {
  const queue = freshQueue('hw-conformance');
  const admin = new ServiceBusAdministrationClient(connectionString);
  await admin.createQueue(queue, { lockDuration: `PT${NAMESPACE_LOCK_MS / 1000}S`, maxDeliveryCount: 10 });
  return target(connectionString, queue, NAMESPACE_LOCK_MS, async () => {
    await admin.deleteQueue(queue).catch(() => {});
  });
}
