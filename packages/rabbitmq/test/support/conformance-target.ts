/**
 * The RabbitMQ target of the transport conformance suite (packages/hostwork/test/transport-conformance): a fresh
 * quorum queue per case, declared by Hostwork, its dead letters read back from `<queue>.dead` without taking them,
 * and everything deleted afterwards. Shaped structurally like the suite's `TransportConformanceTarget`:
 *
 * ```ts
 * transportConformance('rabbitmq', async () => rabbitmqConformanceTarget());
 * ```
 *
 * `restartBroker` restarts the shared broker (`rabbitmqctl stop_app`, `start_app`): it is set only with
 * `{ restart: true }`, for a run with no other RabbitMQ tests at the same time.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { delayBucketMs, delayQueueName, rabbitmqTransport } from '@hostwork/rabbitmq';
import amqp from 'amqplib';
import type { Destination, Headers, Transport } from 'hostwork';
import { deleteQueues, freshQueueName, RABBITMQ_URL, waitFor } from './broker.ts';

const run = promisify(execFile);

/** What the suite's target holds (see transport-conformance/harness.ts). */
export interface RabbitmqConformanceTarget {
  transport(): Transport;
  readonly source: Destination;
  deadLetters(): Promise<
    readonly { readonly id: string; readonly body: Uint8Array; readonly headers: Headers }[]
  >;
  readonly supportsDelay: boolean;
  readonly processTransport: { readonly module: string; readonly export: string; readonly options: unknown };
  restartBroker?(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A fresh target: see the module's comment. */
export async function rabbitmqConformanceTarget(
  options: { readonly restart?: boolean; readonly queueType?: 'classic' | 'quorum' } = {},
): Promise<RabbitmqConformanceTarget> {
  const queue = freshQueueName('hw-conformance');
  const source: Destination = {
    name: queue,
    options: { declare: true, queueType: options.queueType ?? 'quorum' },
  };
  const transports: Transport[] = [];
  return {
    transport() {
      const transport = rabbitmqTransport({
        url: RABBITMQ_URL,
        connectionName: `hostwork-conformance-${queue}`,
      });
      transports.push(transport);
      return transport;
    },
    source,
    supportsDelay: true,
    // The SIGKILL case's consumer process builds its own: rabbitmqTransport({ url, connectionName }).
    processTransport: {
      module: import.meta.resolve('@hostwork/rabbitmq'),
      export: 'rabbitmqTransport',
      options: { url: RABBITMQ_URL, connectionName: `hostwork-conformance-${queue}-process` },
    },
    deadLetters: () => peek(`${queue}.dead`),
    ...(options.restart ? { restartBroker } : {}),
    async cleanup() {
      await Promise.allSettled(transports.map((t) => t.close()));
      const buckets = new Set<number>();
      // The delays the suite's backoffs use are small; delete every step up to a minute.
      for (let ms = 1; ms <= 60_000; ms = Math.ceil(ms * 1.05)) buckets.add(delayBucketMs(ms));
      await deleteQueues(queue, `${queue}.dead`, ...[...buckets].map((b) => delayQueueName(queue, b)));
    },
  };
}

/** The messages in `queue`, oldest first, left in it (taken unacked, then handed back by closing the channel). */
async function peek(queue: string): Promise<{ id: string; body: Uint8Array; headers: Headers }[]> {
  const connection = await amqp.connect(RABBITMQ_URL);
  connection.on('error', () => {});
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    const found: { id: string; body: Uint8Array; headers: Headers }[] = [];
    try {
      for (;;) {
        const message = await channel.get(queue, { noAck: false });
        if (message === false) break;
        const headers: Record<string, string> = {};
        for (const [key, value] of Object.entries(message.properties.headers ?? {}))
          if (typeof value === 'string' || typeof value === 'number') headers[key] = String(value);
        found.push({ id: String(message.properties.messageId), body: message.content, headers });
      }
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
    return found;
  } finally {
    await connection.close().catch(() => {});
  }
}

/** Restarts the broker's application and resolves once it accepts connections again. */
export async function restartBroker(): Promise<void> {
  await run('rabbitmqctl', ['stop_app']);
  await run('rabbitmqctl', ['start_app']);
  await waitFor(
    'RabbitMQ to accept connections again',
    async () => {
      try {
        await (await amqp.connect(RABBITMQ_URL)).close();
        return true;
      } catch {
        return false;
      }
    },
    60_000,
  );
}
