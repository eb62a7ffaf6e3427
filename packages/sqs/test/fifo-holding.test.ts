/**
 * Holding a busy FIFO group's later messages that came in one receive. AWS may return several consecutive messages
 * of one group in a batch; fauxqs never does (one per group per receive), so this runs the transport against a
 * scripted SQS client that answers the first receive with such a batch: what is tested is what the transport hands
 * over and which SQS calls it makes, not SQS.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Delivery } from 'hostwork';
import { sqsTransport } from '../src/index.ts';
import { eventually } from './support/emulator.ts';

interface Call {
  readonly command: string;
  readonly input: Record<string, unknown>;
}

/** An SQS client that answers from a script and records every call. */
function scriptedClient(batch: { id: string; group: string }[]) {
  const calls: Call[] = [];
  let receives = 0;
  const client = {
    async send(command: { input: Record<string, unknown> }, options?: { abortSignal?: AbortSignal }) {
      const name = command.constructor.name;
      calls.push({ command: name, input: command.input });
      switch (name) {
        case 'GetQueueUrlCommand':
          return { QueueUrl: `http://sqs.local/000000000000/${String(command.input.QueueName)}` };
        case 'GetQueueAttributesCommand':
          return { Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' } };
        case 'ReceiveMessageCommand':
          if (receives++ === 0)
            return {
              Messages: batch.map((m) => ({
                MessageId: m.id,
                ReceiptHandle: `rh-${m.id}`,
                Body: m.id,
                MessageAttributes: { 'hostwork-id': { DataType: 'String', StringValue: m.id } },
                Attributes: { MessageGroupId: m.group, ApproximateReceiveCount: '1' },
              })),
            };
          // A long poll that ends only when aborted.
          return new Promise((_resolve, reject) => {
            options?.abortSignal?.addEventListener('abort', () => reject(new Error('aborted')), {
              once: true,
            });
          });
        case 'DeleteMessageBatchCommand':
        case 'ChangeMessageVisibilityBatchCommand':
          return {
            Successful: (command.input.Entries as { Id: string }[]).map((e) => ({ Id: e.Id })),
            Failed: [],
          };
        default:
          return {};
      }
    },
    destroy() {},
  };
  return { client: client as unknown as SQSClient, calls };
}

it('FIFO: holds a busy group’s later messages from one batch, hands them over in order, sends them back when the head is retried (scripted SQS client)', async () => {
  const { client, calls } = scriptedClient([
    { id: 'A1', group: 'A' },
    { id: 'A2', group: 'A' },
    { id: 'A3', group: 'A' },
    { id: 'B1', group: 'B' },
  ]);
  const transport = sqsTransport({ client, deadLetterQueue: 'dead.fifo' });
  const deliveries: Delivery[] = [];
  const subscription = await transport.subscribe(
    { name: 'orders.fifo' },
    { prefetch: 10, onDelivery: (d) => void deliveries.push(d) },
  );
  try {
    await eventually('one message of each group', () => deliveries.length === 2);
    assert.deepEqual(
      deliveries.map((d) => d.id),
      ['A1', 'B1'],
    );
    await deliveries[0]!.ack();
    await eventually('the group’s next message', () => deliveries.length === 3);
    assert.equal(deliveries[2]!.id, 'A2');
    const changes = () =>
      calls
        .filter((c) => c.command === 'ChangeMessageVisibilityBatchCommand')
        .flatMap((c) =>
          (c.input.Entries as { ReceiptHandle: string; VisibilityTimeout: number }[]).map((e) => [
            e.ReceiptHandle,
            e.VisibilityTimeout,
          ]),
        );
    assert.deepEqual(changes(), []);
    await deliveries[2]!.retry(5_000, { attempt: 1, message: 'boom', at: Date.now() });
    // A2 invisible for the delay, A3 (held) back at once: SQS hands the group out again from A2.
    await eventually('A3 sent back', () => changes().length === 2);
    assert.deepEqual(changes(), [
      ['rh-A2', 5],
      ['rh-A3', 0],
    ]);
    assert.equal(deliveries.length, 3, 'A3 was handed over although A2 comes back before it');
  } finally {
    await subscription.stop();
    await transport.close();
  }
});
