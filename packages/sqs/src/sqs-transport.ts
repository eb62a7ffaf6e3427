/**
 * The AWS SQS transport: Hostwork's `Transport` on @aws-sdk/client-sqs. See the package README for the mapping of
 * retry, dead letters, FIFO and limits to SQS.
 */
import { SendMessageBatchCommand, type SendMessageBatchCommandOutput, SQSClient } from '@aws-sdk/client-sqs';
import {
  type ConsumerLag,
  type Destination,
  ErrorCodes,
  HostworkError,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from 'hostwork';
import { encodeBody } from './attributes.ts';
import { isFifo, type QueueInfo, Queues, queueName } from './queues.ts';
import { SendBatcher } from './send-batcher.ts';
import { checkSize, type SendEntry, sendEntry } from './sending.ts';
import { BATCH_SIZE, SettleBatcher } from './settle-batcher.ts';
import { SqsSubscription } from './sqs-subscription.ts';
import {
  type ResolvedOptions,
  resolveOptions,
  resolveSourceOptions,
  type SqsTransportOptions,
  type TransportLogger,
} from './sqs-transport-options.ts';

/**
 * A Hostwork message transport on AWS SQS.
 *
 * ```ts
 * const transport = sqsTransport({ region: 'eu-west-1' });
 * const local = sqsTransport({
 *   endpoint: 'http://127.0.0.1:4566', region: 'us-east-1',
 *   credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, createQueues: true,
 * });
 * ```
 */
export function sqsTransport(options: SqsTransportOptions = {}): SqsTransport {
  return new SqsTransport(options);
}

/** The transport {@link sqsTransport} creates. */
export class SqsTransport implements Transport {
  readonly kind = 'sqs';
  /** The SDK client (yours, or the one created from the options). */
  readonly client: SQSClient;
  readonly #ownsClient: boolean;
  readonly #options: ResolvedOptions;
  readonly #logger: TransportLogger | undefined;
  readonly #queues: Queues;
  readonly #batcher: SettleBatcher;
  readonly #sender: SendBatcher;
  readonly #subscriptions = new Set<SqsSubscription>();
  readonly #operations = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  constructor(options: SqsTransportOptions = {}) {
    this.#options = resolveOptions(options);
    this.#logger = options.logger;
    this.#ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new SQSClient({ region: options.region, endpoint: options.endpoint, credentials: options.credentials });
    this.#queues = new Queues(this.client, this.#options.createQueues);
    this.#sender = new SendBatcher(this.client, this.#options.ackBatchMs, this.#options.maxMessageBytes);
    this.#batcher = new SettleBatcher(this.client, this.#options.ackBatchMs, (error) =>
      this.#warn(
        {},
        'sqs: settling messages (deletes, visibility changes) failed; trying again with backoff while their receipts last.',
        error,
      ),
    );
  }

  /** Nothing to open (SQS is HTTP requests); refuses once closed. */
  async connect(): Promise<void> {
    this.#open();
  }

  /**
   * The source queue's visible messages (GetQueueAttributes ApproximateNumberOfMessages): not those in flight (received,
   * not deleted), nor retries and delayed sends still invisible. Approximate, as SQS says. Undefined when the queue
   * does not exist.
   */
  async lag(source: Destination): Promise<ConsumerLag | undefined> {
    this.#open();
    const messages = await this.#queues.visibleMessages(source.name);
    return messages === undefined ? undefined : { messages };
  }

  async subscribe(source: Destination, options: SubscribeOptions): Promise<Subscription> {
    this.#open();
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1)
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `sqsTransport: prefetch of source ${source.name} is ${options.prefetch}; expected an integer >= 1.`,
      );
    const sourceOptions = resolveSourceOptions(source.name, source.options);
    const queue = await this.#queues.info(source.name);
    const requestedVisibilityMs = sourceOptions.visibilityTimeoutMs ?? this.#options.visibilityTimeoutMs;
    const deadLetterUrl = await this.#deadLetterUrl(
      queue,
      sourceOptions.deadLetterQueue ?? this.#options.deadLetterQueue,
    );
    const subscription = new SqsSubscription(
      {
        client: this.client,
        queue,
        deadLetterUrl,
        batcher: this.#batcher,
        sender: this.#sender,
        maxMessageBytes: this.#options.maxMessageBytes,
        track: (operation) => this.#track(operation),
        waitTimeSeconds: this.#options.waitTimeSeconds,
        requestedVisibilityMs,
        visibilityMs: requestedVisibilityMs ?? queue.visibilityTimeoutMs,
        reconnectMinMs: this.#options.reconnectMinMs,
        reconnectMaxMs: this.#options.reconnectMaxMs,
        warn: (details, message, error) => this.#warn(details, message, error),
        info: (details, message) => this.#logger?.info(details, message),
      },
      options,
    );
    this.#subscriptions.add(subscription);
    subscription.start();
    return {
      stop: async () => {
        await subscription.stop();
        this.#subscriptions.delete(subscription);
      },
    };
  }

  async publish(destination: Destination, messages: readonly OutgoingMessage[]): Promise<void> {
    this.#open();
    if (messages.length === 0) return;
    const name = queueName(destination.name);
    const fifo = isFifo(name);
    const max = this.#options.maxMessageBytes;
    const entries = messages.map((message) => {
      const { text, encoding } = encodeBody(message.body);
      const entry = sendEntry(name, fifo, {
        id: message.id,
        text,
        encoding,
        headers: message.headers,
        key: message.key,
        delayMs: message.delayMs,
      });
      checkSize(name, entry, max);
      return entry;
    });
    const url = await this.#queues.url(destination.name);
    // Batches of up to 10 entries and within the size limit; a FIFO queue's in order, one after the other.
    const batches: SendEntry[][] = [];
    let batch: SendEntry[] = [];
    let size = 0;
    for (const entry of entries) {
      if (batch.length === BATCH_SIZE || (batch.length > 0 && size + entry.size > max)) {
        batches.push(batch);
        batch = [];
        size = 0;
      }
      batch.push(entry);
      size += entry.size;
    }
    batches.push(batch);
    if (fifo) for (const b of batches) await this.#track(this.#sendBatch(url, name, b));
    else {
      const results = await Promise.allSettled(
        batches.map((b) => this.#track(this.#sendBatch(url, name, b))),
      );
      const failed = results.filter((r) => r.status === 'rejected');
      if (failed.length === 1) throw failed[0]!.reason;
      if (failed.length > 1)
        throw new HostworkError(
          ErrorCodes.TRANSPORT_FAILED,
          failed.map((r) => (r.reason as Error).message).join('\n'),
          { cause: failed[0]!.reason },
        );
    }
  }

  async #sendBatch(url: string, name: string, entries: readonly SendEntry[]): Promise<void> {
    let result: SendMessageBatchCommandOutput;
    try {
      result = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: entries.map((entry, i) => ({
            Id: String(i),
            MessageBody: entry.body,
            MessageAttributes: entry.attributes,
            DelaySeconds: entry.delaySeconds,
            MessageGroupId: entry.groupId,
            MessageDeduplicationId: entry.deduplicationId,
          })),
        }),
      );
    } catch (error) {
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `Publishing to SQS queue ${name} failed for messages ${entries.map((e) => e.id).join(', ')}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const failed = result.Failed ?? [];
    if (failed.length > 0)
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `SQS queue ${name} refused ${failed.length} of ${entries.length} messages: ${failed
          .map((f) => `${entries[Number(f.Id)]?.id ?? f.Id} (${f.Code ?? 'error'}: ${f.Message ?? ''})`)
          .join('; ')}. The others were sent; publishing the refused ones again is safe (same ids).`,
      );
  }

  /** The dead-letter queue of a source: the option, else the redrive policy's, else `<queue>-dead` when allowed. */
  async #deadLetterUrl(queue: QueueInfo, option: string | undefined): Promise<string> {
    if (option !== undefined) return this.#queues.url(option);
    if (queue.redrive !== undefined) return this.#queues.urlOfArn(queue.redrive.deadLetterTargetArn);
    if (this.#options.createQueues) {
      const base = queue.fifo ? queue.name.slice(0, -'.fifo'.length) : queue.name;
      return this.#queues.url(`${base}-dead${queue.fifo ? '.fifo' : ''}`);
    }
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `SQS queue ${queue.name} has no dead-letter queue: set deadLetterQueue in sqsTransport() or in the source's options, give the queue a RedrivePolicy, or set createQueues: true to create ${queue.name.replace(/\.fifo$/, '')}-dead${queue.fifo ? '.fifo' : ''}.`,
    );
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    const settle = async () => {
      await Promise.all([...this.#subscriptions].map((s) => s.stop()));
      this.#subscriptions.clear();
      await this.#sender.flush();
      while (this.#operations.size > 0) await Promise.allSettled([...this.#operations]);
      await this.#batcher.flush();
    };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      settle().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.#options.closeTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut)
      this.#warn(
        { closeTimeoutMs: this.#options.closeTimeoutMs },
        'sqs: close() gave up waiting for settles under way; their messages are delivered again after their visibility timeout.',
      );
    if (this.#ownsClient) this.client.destroy();
  }

  #open(): void {
    if (this.#closing !== undefined)
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        'This SQS transport is closed; create a new one with sqsTransport().',
      );
  }

  #track<T>(operation: Promise<T>): Promise<T> {
    this.#operations.add(operation);
    const forget = () => this.#operations.delete(operation);
    operation.then(forget, forget);
    return operation;
  }

  /** Recoverable trouble: to the logger, else a process warning. */
  #warn(details: object, message: string, error?: unknown): void {
    if (this.#logger !== undefined) {
      this.#logger.warn(error === undefined ? details : { ...details, err: error }, message);
      return;
    }
    const detail = error === undefined ? '' : `: ${(error as Error)?.message ?? String(error)}`;
    process.emitWarning(`${message}${detail}`, { code: 'HOSTWORK_SQS' });
  }
}
