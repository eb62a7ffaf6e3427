/**
 * Queue names to URLs (GetQueueUrl, cached; CreateQueue with `createQueues`), and what a source's attributes say:
 * its visibility timeout, whether it is FIFO, and its redrive policy's dead-letter queue.
 */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { ErrorCodes, HostworkError } from 'hostwork';

/** What the adapter needs to know of a source queue. */
export interface QueueInfo {
  readonly url: string;
  readonly name: string;
  readonly fifo: boolean;
  readonly visibilityTimeoutMs: number;
  /** The redrive policy's dead-letter queue ARN and receive limit, when the queue has one. */
  readonly redrive?: { readonly deadLetterTargetArn: string; readonly maxReceiveCount: number };
}

/** Whether a queue name or URL names a FIFO queue. */
export function isFifo(nameOrUrl: string): boolean {
  return nameOrUrl.endsWith('.fifo');
}

/** The queue name of a URL (its last path segment), or the name itself. */
export function queueName(nameOrUrl: string): string {
  return /^https?:\/\//.test(nameOrUrl) ? (nameOrUrl.split('/').pop() ?? nameOrUrl) : nameOrUrl;
}

/** Resolves and caches queue URLs for one client. */
export class Queues {
  readonly #client: SQSClient;
  readonly #create: boolean;
  readonly #urls = new Map<string, Promise<string>>();

  constructor(client: SQSClient, create: boolean) {
    this.#client = client;
    this.#create = create;
  }

  /** The URL of a queue given by name or URL. */
  url(nameOrUrl: string, owner?: string): Promise<string> {
    if (/^https?:\/\//.test(nameOrUrl)) return Promise.resolve(nameOrUrl);
    const key = owner === undefined ? nameOrUrl : `${owner}/${nameOrUrl}`;
    let url = this.#urls.get(key);
    if (url === undefined) {
      url = this.#resolve(nameOrUrl, owner);
      // A failure is not cached: the queue may be created, or the broker back, by the next call.
      url.catch(() => this.#urls.delete(key));
      this.#urls.set(key, url);
    }
    return url;
  }

  /** Creates the queue when it is missing (only with `createQueues`), else resolves its URL. */
  async #resolve(name: string, owner: string | undefined): Promise<string> {
    try {
      const result = await this.#client.send(
        new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: owner }),
      );
      if (result.QueueUrl) return result.QueueUrl;
    } catch (error) {
      if (!isMissingQueue(error)) throw error;
      if (!this.#create)
        throw new HostworkError(
          ErrorCodes.INVALID_OPTION,
          `SQS queue ${name} does not exist; create it, or set createQueues: true in sqsTransport() (for development).`,
          { cause: error },
        );
    }
    const result = await this.#client.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: isFifo(name) ? { FifoQueue: 'true' } : undefined,
      }),
    );
    return result.QueueUrl!;
  }

  /** A source's URL and the attributes the adapter uses, read once. */
  async info(nameOrUrl: string): Promise<QueueInfo> {
    const url = await this.url(nameOrUrl);
    const { Attributes: attributes = {} } = await this.#client.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['VisibilityTimeout', 'RedrivePolicy', 'FifoQueue', 'QueueArn'],
      }),
    );
    let redrive: QueueInfo['redrive'];
    if (attributes.RedrivePolicy) {
      const policy = JSON.parse(attributes.RedrivePolicy) as {
        deadLetterTargetArn?: string;
        maxReceiveCount?: unknown;
      };
      if (policy.deadLetterTargetArn)
        redrive = {
          deadLetterTargetArn: policy.deadLetterTargetArn,
          maxReceiveCount: Number(policy.maxReceiveCount ?? Number.POSITIVE_INFINITY),
        };
    }
    return {
      url,
      name: queueName(url),
      fifo: attributes.FifoQueue === 'true' || isFifo(url),
      visibilityTimeoutMs: Number(attributes.VisibilityTimeout ?? 30) * 1000,
      redrive,
    };
  }

  /**
   * The queue's visible messages (ApproximateNumberOfMessages: available to receive; neither in flight nor delayed),
   * or undefined when the queue does not exist. SQS says this count is approximate.
   */
  async visibleMessages(nameOrUrl: string): Promise<number | undefined> {
    try {
      // Never created here (with createQueues): asking about a queue must not make one.
      const url =
        /^https?:\/\//.test(nameOrUrl) || this.#urls.has(nameOrUrl)
          ? await this.url(nameOrUrl)
          : (await this.#client.send(new GetQueueUrlCommand({ QueueName: nameOrUrl }))).QueueUrl;
      if (url === undefined) return undefined;
      const { Attributes: attributes = {} } = await this.#client.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      const count = Number(attributes.ApproximateNumberOfMessages);
      return Number.isFinite(count) ? count : undefined;
    } catch (error) {
      if (isMissingQueue(error)) return undefined;
      throw error;
    }
  }

  /** The URL of the queue an ARN names (`arn:aws:sqs:region:account:name`). */
  urlOfArn(arn: string): Promise<string> {
    const parts = arn.split(':');
    return this.url(parts[5] ?? arn, parts[4] || undefined);
  }
}

/** Whether an SDK error says the queue does not exist. */
export function isMissingQueue(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  return (
    error instanceof QueueDoesNotExist ||
    name === 'QueueDoesNotExist' ||
    name === 'AWS.SimpleQueueService.NonExistentQueue'
  );
}
