/**
 * The plain AWS SDK loop Hostwork's SQS consumer is compared with: the same client doing the same work by hand.
 * Consuming: ceil(concurrency / 10) receive loops, each a long-polling ReceiveMessage of up to 10 (message attributes
 * included, as Hostwork reads its headers from them), per message `JSON.parse` and the no-op handler awaited (the
 * batch's handlers at once), then one DeleteMessageBatch per received batch. Publishing: SendMessageBatch of 10.
 * Never loads Hostwork or zod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { sqsClient, TYPE_HEADER } from '../brokers.ts';
import type { MessageRunContext } from '../common.ts';
import { MESSAGE_SIZES, PUBLISH_LOOPS, SIZES, SQS_BATCH } from '../common.ts';
import { collectLatencies, reportLatencies, result, sendPings, timeLoops, within } from '../kit.ts';
import { assertDepth, counter, type MessageScenarios } from './messaging-kit.ts';

/** The handler: does nothing, asynchronously, as an application's async handler would. */
async function handle(_message: unknown): Promise<void> {}

async function queueUrl(client: SQSClient, queue: string): Promise<string> {
  return (await client.send(new GetQueueUrlCommand({ QueueName: queue }))).QueueUrl!;
}

/**
 * Receive loops (one per 10 of concurrency) until `stop` aborts: each message parsed and `onMessage` (the handler)
 * awaited, then the batch deleted at once; `onDeleted` gets the count of each delete's answer.
 */
function receiveLoops(
  client: SQSClient,
  url: string,
  concurrency: number,
  onMessage: (body: unknown) => Promise<void>,
  onDeleted: (count: number) => void,
  stop: AbortSignal,
): Promise<void> {
  const loop = async () => {
    while (!stop.aborted) {
      let messages: Message[];
      try {
        const out = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: SQS_BATCH,
            WaitTimeSeconds: 20,
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: stop },
        );
        messages = out.Messages ?? [];
      } catch (error) {
        if (stop.aborted) return;
        throw error;
      }
      if (messages.length === 0) continue;
      await Promise.all(messages.map((m) => onMessage(JSON.parse(m.Body!))));
      const out = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: messages.map((m, k) => ({ Id: String(k), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      if (out.Failed?.length) throw new Error(`DeleteMessageBatch failed: ${out.Failed[0]!.Message}`);
      onDeleted(out.Successful?.length ?? 0);
    }
  };
  return Promise.all(Array.from({ length: Math.ceil(concurrency / SQS_BATCH) }, loop)).then(() => {});
}

/** Consumes the pre-published messages; timed from the first receive to the answer of the last delete. */
async function consume(ctx: MessageRunContext, concurrency: number): Promise<void> {
  const n = MESSAGE_SIZES.sqs.consume;
  const deleted = counter(n);
  const stop = new AbortController();
  const t0 = performance.now();
  const client = await sqsClient(ctx.brokerUrl);
  const url = await queueUrl(client, ctx.queue);
  const loops = receiveLoops(client, url, concurrency, handle, deleted.add, stop.signal);
  await Promise.race([deleted.all, loops]);
  const seconds = (performance.now() - t0) / 1000;
  stop.abort();
  await loops;
  client.destroy();
  await assertDepth(ctx, 0);
  result(`consume-c${concurrency}`, n / seconds);
}

/** Publishes N messages as SendMessageBatch calls of 10 from 10 concurrent loops. */
async function publish(ctx: MessageRunContext): Promise<void> {
  const n = MESSAGE_SIZES.sqs.publish;
  const client = await sqsClient(ctx.brokerUrl);
  const url = await queueUrl(client, ctx.queue);
  const attributes = { [TYPE_HEADER]: { DataType: 'String', StringValue: 'noop' } };
  const batch = async (b: number) => {
    const out = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: Array.from({ length: SQS_BATCH }, (_, k) => ({
          Id: String(k),
          MessageBody: JSON.stringify({ i: b * SQS_BATCH + k }),
          MessageAttributes: attributes,
        })),
      }),
    );
    if (out.Failed?.length) throw new Error(`SendMessageBatch failed: ${out.Failed[0]!.Message}`);
  };
  await batch(-1); // connects, outside the timing
  const seconds = await timeLoops(n / SQS_BATCH, PUBLISH_LOOPS, batch);
  client.destroy();
  await assertDepth(ctx, n + SQS_BATCH);
  result('publish', n / seconds);
}

/** An idle receive loop (concurrency 10) and, in the same process, one SendMessage every 20 ms. */
async function latency(ctx: MessageRunContext): Promise<void> {
  const count = MESSAGE_SIZES.sqs.latency;
  const latencies = collectLatencies(count);
  const client = await sqsClient(ctx.brokerUrl);
  const url = await queueUrl(client, ctx.queue);
  const stop = new AbortController();
  const loops = receiveLoops(
    client,
    url,
    10,
    async (body) => {
      const ping = body as { i: number; t: number };
      latencies.record(ping.i, ping.t); // the handler's first line
    },
    () => {},
    stop.signal,
  );
  const attributes = { [TYPE_HEADER]: { DataType: 'String', StringValue: 'ping' } };
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) =>
    client.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: JSON.stringify({ i, t }),
        MessageAttributes: attributes,
      }),
    ),
  );
  await within(latencies.all, latencies.samples, 30_000);
  stop.abort();
  await loops;
  client.destroy();
  reportLatencies('latency', latencies.samples);
}

export const awsSdkScenarios: MessageScenarios = {
  'consume-c10': (ctx) => consume(ctx, 10),
  'consume-c50': (ctx) => consume(ctx, 50),
  publish,
  latency,
};
