/**
 * What the transport scenarios of both systems share (Hostwork's and the plain client loops'): counting acks to a
 * target, counting the entries SQS deleted, and checking a queue's depth after a run. No Hostwork here.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { natsDepth, redisDepth, sqsClient } from '../brokers.ts';
import type { MessageRunContext } from '../common.ts';

/** One system's transport measurements by name. */
export type MessageScenarios = Readonly<Record<string, (ctx: MessageRunContext) => Promise<void>>>;

/** Counts up to `target`; `all` resolves when it is reached. */
export function counter(target: number): { add: (k: number) => void; all: Promise<void> } {
  const all = Promise.withResolvers<void>();
  let seen = 0;
  return {
    add: (k) => {
      seen += k;
      if (seen >= target) all.resolve();
    },
    all: all.promise,
  };
}

/**
 * Calls `onDeleted` with the number of entries each DeleteMessageBatch of `client` deleted, once its answer is in (a
 * middleware on the client: nothing on the message path changes).
 */
export function countDeletes(client: SQSClient, onDeleted: (count: number) => void): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName === 'DeleteMessageBatchCommand') {
        const output = out.output as { Successful?: readonly unknown[] };
        onDeleted(output.Successful?.length ?? 0);
      }
      return out;
    },
    { step: 'initialize', name: 'benchCountDeletes' },
  );
}

/**
 * Checks that the run's queue holds `expected` messages (ready and in flight), outside the timing. Polled for up to
 * 10 s: the broker applies acks and publishes asynchronously (a quorum queue through its log), so its count can lag.
 */
export async function assertDepth(ctx: MessageRunContext, expected: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  let found = await depth(ctx);
  while (found !== expected && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    found = await depth(ctx);
  }
  if (found !== expected)
    throw new Error(`queue ${ctx.queue}: expected ${expected} messages, found ${found}.`);
}

/**
 * The messages in the run's queue, ready and in flight (SQS), ready (RabbitMQ, once its consumers are gone), or not
 * yet read plus pending in the group (Redis).
 */
async function depth(ctx: MessageRunContext): Promise<number> {
  let found: number;
  if (ctx.transport === 'redis') return redisDepth(ctx);
  if (ctx.transport === 'azure-service-bus') {
    const { azureDepth } = await import('../brokers.ts');
    return azureDepth(ctx.brokerUrl, ctx.queue);
  }
  if (ctx.transport === 'kafka') {
    const { kafkaDepth } = await import('../brokers.ts');
    found = await kafkaDepth(ctx.brokerUrl, ctx.queue);
  } else if (ctx.transport === 'nats') {
    found = await natsDepth(ctx.brokerUrl, ctx.queue);
  } else if (ctx.transport === 'rabbitmq') {
    const amqp = await import('amqplib');
    const connection = await amqp.connect(ctx.brokerUrl);
    try {
      const channel = await connection.createChannel();
      found = (await channel.checkQueue(ctx.queue)).messageCount;
    } finally {
      await connection.close();
    }
  } else {
    const { GetQueueAttributesCommand, GetQueueUrlCommand } = await import('@aws-sdk/client-sqs');
    const client = await sqsClient(ctx.brokerUrl);
    try {
      const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: ctx.queue }));
      const { Attributes = {} } = await client.send(
        new GetQueueAttributesCommand({
          QueueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      found =
        Number(Attributes.ApproximateNumberOfMessages) +
        Number(Attributes.ApproximateNumberOfMessagesNotVisible);
    } finally {
      client.destroy();
    }
  }
  return found;
}
