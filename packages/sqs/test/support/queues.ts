/**
 * Looking at queues in tests through the SQS API: message counts, and receiving raw messages.
 */
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** Visible, in-flight and delayed messages of a queue. */
export async function counts(
  client: SQSClient,
  queue: string,
): Promise<{ visible: number; inFlight: number; delayed: number }> {
  const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: queue }));
  const { Attributes: a = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(a.ApproximateNumberOfMessages),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed),
  };
}

/** Receives up to 10 messages of a queue with their attributes (waiting up to `waitSeconds`). */
export async function receiveRaw(client: SQSClient, queue: string, waitSeconds = 2): Promise<Message[]> {
  const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: queue }));
  const { Messages = [] } = await client.send(
    new ReceiveMessageCommand({
      QueueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: waitSeconds,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return Messages;
}
