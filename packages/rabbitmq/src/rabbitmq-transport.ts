/**
 * The RabbitMQ transport: one connection (amqplib's promise API), a channel per subscription, and one confirm channel
 * for everything Hostwork publishes (messages, retry copies, dead letters), each publish resolving once the broker
 * confirmed it. It reconnects by itself after a loss (100 ms doubling to 5 s by default), and every subscription then
 * consumes again. See the package's README for the topology it declares and the guarantees.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import amqp, {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Options,
} from 'amqplib';
import {
  type ConsumerLag,
  type Destination,
  ErrorCodes,
  HostworkError,
  type LoggerFactory,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from 'hostwork';
import {
  DELAY_QUEUE_REDECLARE_MS,
  delayBucketMs,
  delayQueueExpiresMs,
  delayQueueName,
} from './delay-queues.ts';
import type { DeliveryServices } from './rabbitmq-delivery.ts';
import { RabbitmqSubscription, type SubscriptionHost } from './rabbitmq-subscription.ts';
import {
  type QueueType,
  type RabbitmqTransportOptions,
  type ResolvedOptions,
  type ResolvedSource,
  redact,
  resolveDestination,
  resolveOptions,
  resolveSource,
} from './rabbitmq-transport-options.ts';
import { WarningRoute } from './warnings.ts';

/** An error from the broker (a channel or connection closed by it), as amqplib reports it. */
interface BrokerError extends Error {
  readonly code?: number;
}

/** A confirm channel with what it needs to tell an unroutable message (basic.return) from a delivered one. */
interface Publisher {
  readonly channel: ConfirmChannel;
  open: boolean;
  /** Why the broker closed the channel, when it did. */
  error: Error | undefined;
  /** Returned messages not yet matched with their confirm, by exchange, routing key and message id. */
  readonly returned: Map<string, number>;
}

const returnKey = (exchange: string, routingKey: string, id: unknown) =>
  `${exchange}\0${routingKey}\0${String(id)}`;

/** Creates a {@link RabbitmqTransport}; nothing connects until `connect()`, `subscribe()` or `publish()`. */
export function rabbitmqTransport(options: RabbitmqTransportOptions): RabbitmqTransport {
  return new RabbitmqTransport(options);
}

/** The RabbitMQ {@link Transport}; see the module's comment and the package's README. */
export class RabbitmqTransport implements Transport {
  readonly kind = 'rabbitmq';
  readonly #options: ResolvedOptions;
  readonly #warnings: WarningRoute;
  #connection: ChannelModel | undefined;
  #connecting: Promise<ChannelModel> | undefined;
  /** Waiters for the next connection while reconnecting. */
  #waiters: PromiseWithResolvers<ChannelModel>[] = [];
  #reconnecting = false;
  #publisher: Promise<Publisher> | undefined;
  readonly #subscriptions = new Set<RabbitmqSubscription>();
  readonly #pending = new Set<Promise<unknown>>();
  /** Queues declared before publishing to them (`declare: true`), on the current connection. */
  readonly #publishDeclared = new Map<string, Promise<void>>();
  /** Delay queues declared by this process: when, and the declaration in flight. */
  readonly #delayQueues = new Map<string, { at: number; declared: Promise<void> }>();
  #closing: Promise<void> | undefined;
  /** Set once close() tears the connection down: nothing connects again. */
  #final = false;
  /** Wakes sleeping reconnect loops when the transport closes. */
  readonly #closed = Promise.withResolvers<void>();

  constructor(options: RabbitmqTransportOptions) {
    this.#options = resolveOptions(options);
    this.#warnings = new WarningRoute(this.#options.onWarning);
  }

  /** Sends the transport's warnings to the host's logger, category `Hostwork.RabbitMQ` (unless `onWarning` was given). */
  attachLogger(loggers: LoggerFactory): void {
    this.#warnings.attach(loggers.create('Hostwork.RabbitMQ'));
  }

  /** Whether the transport is connected now (false while reconnecting and after close). */
  get connected(): boolean {
    return this.#connection !== undefined;
  }

  connect(): Promise<void> {
    return this.#currentConnection().then(() => undefined);
  }

  async subscribe(source: Destination, options: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen();
    const resolved = resolveSource(source.name, source.options, this.#options);
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1 || options.prefetch > 65_535)
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `rabbitmqTransport: the prefetch of queue '${resolved.queue}' must be a whole number from 1 to 65535, got ${options.prefetch}.`,
      );
    const subscription = new RabbitmqSubscription(this.#subscriptionHost, resolved, options);
    await subscription.start();
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async publish(destination: Destination, messages: readonly OutgoingMessage[]): Promise<void> {
    this.#assertOpen();
    const { exchange, routingKey, queue } = resolveDestination(
      destination.name,
      destination.options,
      this.#options,
    );
    if (exchange !== '' && messages.some((m) => m.delayMs !== undefined && m.delayMs >= 1))
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `rabbitmqTransport: delayMs is supported for queue destinations only, not for exchange '${exchange}'; publish to a queue by name, or without a delay.`,
      );
    const once = async () => {
      if (queue?.declare) await this.#declaredForPublish(queue);
      const publisher = await this.#publisherChannel();
      const confirms: Promise<void>[] = [];
      for (const message of messages) {
        const content = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
        const properties: Options.Publish = {
          messageId: message.id,
          headers: { ...message.headers },
          persistent: true,
          mandatory: true,
        };
        const bucket = exchange === '' ? delayBucketMs(message.delayMs ?? 0) : 0;
        if (bucket === 0)
          confirms.push((await this.#send(publisher, exchange, routingKey, content, properties)).confirmed);
        else {
          const queue = await this.#delayQueue(routingKey, bucket);
          confirms.push((await this.#send(publisher, '', queue, content, properties)).confirmed);
        }
      }
      await Promise.all(confirms);
    };
    const run = (async () => {
      // A connection lost before every confirm came back: publish the batch again on the next connection (the same
      // ids, so a consumer can tell a duplicate), as long as the transport is open. At least once, never lost.
      for (let attempt = 1; ; attempt++) {
        const connection = this.#connection;
        try {
          return await once();
        } catch (error) {
          // Only a lost connection: a channel the broker closed over this publish (a missing exchange) is a refusal.
          const lost = connection !== undefined && this.#connection !== connection;
          if (!lost || !isConnectionLoss(error) || this.#closing || attempt >= MAX_PUBLISH_ATTEMPTS)
            throw error;
          this.#warnings.warn(
            `RabbitMQ: the connection was lost while publishing ${messages.length} message(s) to '${destination.name}'; publishing them again once reconnected.`,
            error,
            { warning: 'publish-retried', attempt },
          );
          await sleep(Math.min(this.#options.reconnectDelayMs * 2 ** (attempt - 1), 5_000));
        }
      }
    })();
    return this.#track(run);
  }

  /**
   * The messages ready in the source's queue (a passive declare's `messageCount`): those not yet delivered to a
   * consumer; deliveries held unacked and retries waiting in delay queues are not counted. Undefined when the queue
   * does not exist.
   */
  async lag(source: Destination): Promise<ConsumerLag | undefined> {
    this.#assertOpen();
    const resolved = resolveSource(source.name, source.options, this.#options);
    try {
      const { messageCount } = await this.#withChannel((channel) => channel.checkQueue(resolved.queue));
      return { messages: messageCount };
    } catch (error) {
      if ((error as BrokerError).code === 404) return undefined;
      throw error;
    }
  }

  /**
   * Deletes the queues Hostwork uses for `source`: its dead-letter queue and its delay queues (those this process
   * declared), and the queue itself when `queue` is true. For tests and for tearing a consumer down for good.
   */
  async deleteTopology(source: Destination, options: { readonly queue?: boolean } = {}): Promise<void> {
    const resolved = resolveSource(source.name, source.options, this.#options);
    const names = [
      resolved.deadLetterQueue,
      ...[...this.#delayQueues.keys()].filter((q) => q.startsWith(`${resolved.queue}.delay.`)),
    ];
    if (options.queue) names.push(resolved.queue);
    await this.#withChannel(async (channel) => {
      for (const name of names) await channel.deleteQueue(name);
    });
    for (const name of names) this.#delayQueues.delete(name);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- connection ---------------------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closing)
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        'rabbitmqTransport: the transport is closed; create a new one to connect again.',
      );
  }

  /** The connection: the current one, the first being opened, or the next after a loss. */
  #currentConnection(): Promise<ChannelModel> {
    if (this.#final || (this.#closing && !this.#connection))
      return Promise.reject(
        new HostworkError(
          ErrorCodes.HOST_STATE,
          'rabbitmqTransport: the transport is closed; create a new one.',
        ),
      );
    if (this.#connection) return Promise.resolve(this.#connection);
    if (this.#reconnecting) {
      const waiter = Promise.withResolvers<ChannelModel>();
      this.#waiters.push(waiter);
      return waiter.promise;
    }
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<ChannelModel> {
    let connection: ChannelModel;
    try {
      connection = await amqp.connect(this.#options.url, {
        clientProperties: { connection_name: this.#options.connectionName },
        // amqplib turns Nagle's algorithm on unless told otherwise. Publishes, confirms and acks share this one
        // connection, so a small frame written while an earlier one is unacknowledged waited for the broker's
        // delayed TCP ack: about 40 ms added to a publish or an ack.
        noDelay: true,
      });
    } catch (error) {
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `rabbitmqTransport: cannot connect to RabbitMQ at ${redact(this.#options.url)}: ${(error as Error).message}. Check the url, that the broker runs, and the credentials.`,
        { cause: error },
      );
    }
    if (this.#final) {
      await connection.close().catch(() => {});
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        'rabbitmqTransport: the transport closed while connecting.',
      );
    }
    connection.on('error', () => {
      // Reported by 'close', which follows every connection error.
    });
    connection.on('close', (error?: Error) => this.#lost(connection, error));
    connection.on('blocked', (reason: string) =>
      this.#warn(
        `RabbitMQ blocked this connection (${reason}): publishes and their confirms wait until it unblocks.`,
        undefined,
        { warning: 'connection-blocked', reason },
      ),
    );
    this.#connection = connection;
    this.#delayQueues.clear();
    this.#publishDeclared.clear();
    return connection;
  }

  #lost(connection: ChannelModel, error: Error | undefined): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    this.#publisher = undefined;
    if (this.#closing) return;
    this.#warn(
      `RabbitMQ: the connection to ${redact(this.#options.url)} was lost; reconnecting.`,
      error ?? new Error('connection closed'),
      { warning: 'connection-lost' },
    );
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    if (this.#reconnecting) return;
    this.#reconnecting = true;
    for (let attempt = 1; !this.#final; attempt++) {
      await this.#sleep(this.#backoffMs(attempt));
      if (this.#final) break;
      try {
        const connection = await this.#open();
        this.#reconnecting = false;
        this.#warn(
          `RabbitMQ: reconnected to ${redact(this.#options.url)} after ${attempt} attempt(s).`,
          undefined,
          {
            warning: 'reconnected',
            attempts: attempt,
          },
        );
        for (const waiter of this.#waiters.splice(0)) waiter.resolve(connection);
        return;
      } catch (error) {
        this.#warn(
          `RabbitMQ: reconnecting to ${redact(this.#options.url)} failed (attempt ${attempt}); trying again.`,
          error,
          { warning: 'reconnect-failed', attempt },
        );
      }
    }
    this.#reconnecting = false;
    const closed = new HostworkError(
      ErrorCodes.HOST_STATE,
      'rabbitmqTransport: the transport closed while reconnecting.',
    );
    for (const waiter of this.#waiters.splice(0)) waiter.reject(closed);
  }

  #backoffMs(attempt: number): number {
    return Math.min(
      this.#options.reconnectDelayMs * 2 ** Math.min(attempt - 1, 30),
      this.#options.maxReconnectDelayMs,
    );
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      void this.#closed.promise.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #warn(message: string, error: unknown, details: { warning: string; [key: string]: unknown }): void {
    this.#warnings.warn(message, error, details);
  }

  // --- topology -----------------------------------------------------------------------------------------------

  /** Runs `body` on a short-lived channel (a failed declaration closes its channel), closed afterwards. */
  async #withChannel<T>(body: (channel: Channel) => Promise<T>): Promise<T> {
    const connection = await this.#currentConnection();
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    try {
      return await body(channel);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** Whether `queue` exists (a passive declare, on a channel of its own since a missing queue closes it). */
  async #exists(queue: string): Promise<boolean> {
    try {
      await this.#withChannel((channel) => channel.checkQueue(queue));
      return true;
    } catch (error) {
      if ((error as BrokerError).code === 404) return false;
      throw error;
    }
  }

  async #declare(queue: string, type: QueueType, args: Record<string, unknown> = {}): Promise<void> {
    try {
      await this.#withChannel((channel) =>
        channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type, ...args } }),
      );
    } catch (error) {
      if ((error as BrokerError).code === 406)
        throw new HostworkError(
          ErrorCodes.TRANSPORT_FAILED,
          `rabbitmqTransport: queue '${queue}' exists with other arguments than Hostwork declares (${type} queue ${JSON.stringify(args)}): ${(error as Error).message}. Delete it, or declare it yourself and subscribe with declare: false.`,
          { cause: error },
        );
      throw error;
    }
  }

  async #declareSource(source: ResolvedSource): Promise<void> {
    if (source.declare) await this.#declare(source.queue, source.queueType);
    else if (!(await this.#exists(source.queue)))
      throw new HostworkError(
        ErrorCodes.MESSAGE_SOURCE_MISSING,
        `rabbitmqTransport: queue '${source.queue}' does not exist on ${redact(this.#options.url)}; create it, or subscribe with declare: true (in the source's options or the transport's) to let Hostwork declare it.`,
      );
    // The dead-letter queue: used as it is when it exists, declared otherwise.
    if (!(await this.#exists(source.deadLetterQueue)))
      await this.#declare(source.deadLetterQueue, source.queueType);
  }

  /**
   * Makes sure a queue Hostwork owns exists before its first publish on this connection (memoised): one that exists is
   * used as it is (a publisher need not repeat the consumer's queue type), a missing one is declared.
   */
  async #declaredForPublish(source: ResolvedSource): Promise<void> {
    let declared = this.#publishDeclared.get(source.queue);
    if (declared === undefined) {
      declared = this.#exists(source.queue).then((exists) =>
        exists ? undefined : this.#declare(source.queue, source.queueType),
      );
      this.#publishDeclared.set(source.queue, declared);
      declared.catch(() => this.#publishDeclared.delete(source.queue));
    }
    await declared;
  }

  /**
   * The delay queue of `queue` for `bucketMs`, declared when this process has not declared it within the last
   * {@link DELAY_QUEUE_REDECLARE_MS} (a declaration also resets its `x-expires`).
   */
  async #delayQueue(queue: string, bucketMs: number): Promise<string> {
    const name = delayQueueName(queue, bucketMs);
    const known = this.#delayQueues.get(name);
    if (known && Date.now() - known.at < DELAY_QUEUE_REDECLARE_MS) {
      await known.declared;
      return name;
    }
    const type = this.#options.delayQueueType;
    const declared = this.#declare(name, type, {
      'x-message-ttl': bucketMs,
      'x-expires': delayQueueExpiresMs(bucketMs),
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': queue,
      ...(type === 'quorum'
        ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
        : {}),
    });
    this.#delayQueues.set(name, { at: Date.now(), declared });
    try {
      await declared;
    } catch (error) {
      this.#delayQueues.delete(name);
      throw error;
    }
    return name;
  }

  // --- publishing ---------------------------------------------------------------------------------------------

  #publisherChannel(): Promise<Publisher> {
    this.#publisher ??= (async () => {
      const connection = await this.#currentConnection();
      const channel = await connection.createConfirmChannel();
      const publisher: Publisher = { channel, open: true, error: undefined, returned: new Map() };
      channel.on('error', (error: Error) => {
        publisher.error = error;
      });
      channel.on('close', () => {
        publisher.open = false;
        if (this.#publisher === settled) this.#publisher = undefined;
      });
      channel.on('return', (message: ConsumeMessage) => {
        const key = returnKey(
          message.fields.exchange,
          message.fields.routingKey,
          message.properties.messageId,
        );
        publisher.returned.set(key, (publisher.returned.get(key) ?? 0) + 1);
      });
      return publisher;
    })();
    const settled = this.#publisher;
    settled.catch(() => {
      if (this.#publisher === settled) this.#publisher = undefined;
    });
    return settled;
  }

  /**
   * Publishes one message (waiting for the channel to drain when its buffer is full) and returns its confirm (wrapped, so awaiting the send does not wait for it): it
   * resolves when the broker confirmed and routed it, and rejects when the broker refused it, found no queue for it
   * (basic.return, before the confirm), or the channel closed before confirming it.
   */
  async #send(
    publisher: Publisher,
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: Options.Publish,
  ): Promise<{ readonly confirmed: Promise<void> }> {
    const where =
      exchange === '' ? `queue '${routingKey}'` : `exchange '${exchange}' (routing key '${routingKey}')`;
    const confirm = Promise.withResolvers<void>();
    // Awaited by the caller after it sent the rest: a rejection meanwhile is not unhandled.
    confirm.promise.catch(() => {});
    const fail = (reason: string, cause?: unknown) =>
      confirm.reject(
        new HostworkError(
          ErrorCodes.TRANSPORT_FAILED,
          `rabbitmqTransport: publishing message '${String(properties.messageId)}' to ${where} failed: ${reason}.`,
          cause === undefined ? undefined : { cause },
        ),
      );
    if (!publisher.open) {
      fail('the publishing channel closed; publish again');
      return { confirmed: confirm.promise };
    }
    let ready: boolean;
    try {
      ready = publisher.channel.publish(exchange, routingKey, content, properties, (error) => {
        const key = returnKey(exchange, routingKey, properties.messageId);
        const returned = publisher.returned.get(key) ?? 0;
        if (returned > 0) {
          if (returned === 1) publisher.returned.delete(key);
          else publisher.returned.set(key, returned - 1);
          return fail(
            exchange === ''
              ? `there is no queue named '${routingKey}'; declare it (or subscribe to it with declare: true) first`
              : `no queue is bound to the exchange for this routing key`,
          );
        }
        if (error) {
          const reason = publisher.error ?? error;
          return fail(
            `the broker did not confirm it (${(reason as Error).message ?? String(reason)})`,
            reason,
          );
        }
        confirm.resolve();
      });
    } catch (error) {
      fail((error as Error).message, error);
      return { confirmed: confirm.promise };
    }
    if (!ready)
      await new Promise<void>((resolve) => {
        publisher.channel.once('drain', resolve);
        publisher.channel.once('close', resolve);
      });
    return { confirmed: confirm.promise };
  }

  /** Publishes a copy of a received message (retry or dead letter), confirmed. */
  async #publishCopy(
    message: ConsumeMessage,
    id: string,
    headers: Record<string, unknown>,
    target: { readonly delayMs: number; readonly source: string } | { readonly queue: string },
  ): Promise<void> {
    const p = message.properties;
    const properties: Options.Publish = {
      messageId: id,
      headers,
      persistent: true,
      mandatory: true,
      ...(p.contentType === undefined ? {} : { contentType: p.contentType }),
      ...(p.contentEncoding === undefined ? {} : { contentEncoding: p.contentEncoding }),
      ...(p.correlationId === undefined ? {} : { correlationId: p.correlationId }),
      ...(p.replyTo === undefined ? {} : { replyTo: p.replyTo }),
      ...(p.type === undefined ? {} : { type: p.type }),
      ...(p.appId === undefined ? {} : { appId: p.appId }),
      ...(p.timestamp === undefined ? {} : { timestamp: p.timestamp }),
      ...(p.priority === undefined ? {} : { priority: p.priority }),
    };
    let queue: string;
    if ('queue' in target) queue = target.queue;
    else {
      const bucket = delayBucketMs(target.delayMs);
      queue = bucket === 0 ? target.source : await this.#delayQueue(target.source, bucket);
    }
    const publisher = await this.#publisherChannel();
    await (await this.#send(publisher, '', queue, message.content, properties)).confirmed;
  }

  #track<T>(operation: Promise<T>): Promise<T> {
    this.#pending.add(operation);
    const done = () => this.#pending.delete(operation);
    operation.then(done, done);
    return operation;
  }

  readonly #subscriptionHost: SubscriptionHost = {
    warn: (message, error, details) => this.#warnings.warn(message, error, details),
    connection: () => this.#currentConnection(),
    declareSource: (source) => this.#declareSource(source),
    backoffMs: (n) => this.#backoffMs(n),
    sleep: (ms) => this.#sleep(ms),
    isClosing: () => this.#closing !== undefined,
    services: (source): DeliveryServices => ({
      queue: source.queue,
      deadLetterQueue: source.deadLetterQueue,
      warn: (message, error, details) => this.#warnings.warn(message, error, details),
      publishCopy: (message, id, headers, target) => this.#publishCopy(message, id, headers, target),
      track: (settle) => this.#track(settle),
    }),
  };

  // --- close --------------------------------------------------------------------------------------------------

  async #close(): Promise<void> {
    const deadline = Promise.withResolvers<'timeout'>();
    const timer = setTimeout(() => deadline.resolve('timeout'), this.#options.closeTimeoutMs);
    const bounded = (work: Promise<unknown>) =>
      Promise.race([work.then(() => 'done' as const), deadline.promise]);
    try {
      // Nothing more is delivered; then every settle and publish made before close reaches the broker.
      const subscriptions = [...this.#subscriptions];
      let outcome = await bounded(Promise.allSettled(subscriptions.map((s) => s.stop())));
      if (outcome === 'done') outcome = await bounded(Promise.allSettled([...this.#pending]));
      this.#final = true;
      this.#closed.resolve();
      const connection = this.#connection;
      this.#connection = undefined;
      if (outcome === 'done' && connection) {
        // Channels close in order after the acks written on them; the connection last.
        outcome = await bounded(
          (async () => {
            await Promise.allSettled(subscriptions.map((s) => s.closeChannel()));
            const publisher = await this.#publisher?.catch(() => undefined);
            if (publisher?.open) await publisher.channel.close().catch(() => {});
            await connection.close().catch(() => {});
          })(),
        );
      }
      if (outcome === 'timeout') {
        this.#warn(
          `RabbitMQ: close() gave up after ${this.#options.closeTimeoutMs} ms (closeTimeoutMs) waiting for the broker; unsettled deliveries go back to their queues when the connection drops.`,
          undefined,
          { warning: 'close-timeout', closeTimeoutMs: this.#options.closeTimeoutMs },
        );
        // Drops the socket: the broker requeues what was not acked.
        (
          connection as unknown as { connection?: { stream?: { destroy(): void } } }
        )?.connection?.stream?.destroy();
      }
    } finally {
      clearTimeout(timer);
      this.#final = true;
      this.#closed.resolve();
      this.#publisher = undefined;
    }
  }
}

/** How many times a batch is published when connections keep being lost under it. */
const MAX_PUBLISH_ATTEMPTS = 10;

/** Whether `error` is amqplib's report of a connection or channel that closed under a call (not a refusal). */
function isConnectionLoss(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  const message = String((error as { message?: unknown } | null)?.message ?? '');
  return name === 'IllegalOperationError' || /(Connection|Channel) (closed|ended)/i.test(message);
}
