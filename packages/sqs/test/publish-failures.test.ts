/**
 * Publishing when SQS refuses some entries of a batch: the call rejects naming each refused message and SQS's reason.
 * fauxqs accepts every entry the transport builds, so this runs against a scripted SQS client that refuses one entry:
 * what is tested is the transport's reading of SQS's answer, not SQS.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sqsTransport } from '../src/index.ts';
import { message } from './support/collect.ts';

it('publish rejects naming the entries SQS refused, with its reason, and sends 25 messages in 3 batches (scripted SQS client)', async () => {
  const batches: number[] = [];
  const client = {
    async send(command: { input: Record<string, unknown> }) {
      if (command.constructor.name === 'GetQueueUrlCommand') return { QueueUrl: 'http://sqs.local/0/q' };
      const entries = command.input.Entries as {
        Id: string;
        MessageAttributes: Record<string, { StringValue: string }>;
      }[];
      batches.push(entries.length);
      const refused = entries.filter((e) => e.MessageAttributes['hostwork-id']?.StringValue === 'm-7');
      return {
        Successful: entries.filter((e) => !refused.includes(e)).map((e) => ({ Id: e.Id })),
        Failed: refused.map((e) => ({
          Id: e.Id,
          Code: 'InvalidParameterValue',
          Message: 'refused',
          SenderFault: true,
        })),
      };
    },
    destroy() {},
  } as unknown as SQSClient;
  const transport = sqsTransport({ client });
  try {
    await assert.rejects(
      transport.publish(
        { name: 'q' },
        Array.from({ length: 25 }, (_, i) => message(`m-${i}`, `${i}`)),
      ),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'HW_TRANSPORT_FAILED');
        assert.match(error.message, /refused 1 of 10 messages: m-7 \(InvalidParameterValue: refused\)/);
        return true;
      },
    );
    assert.deepEqual(batches, [10, 10, 5]);
  } finally {
    await transport.close();
  }
});
