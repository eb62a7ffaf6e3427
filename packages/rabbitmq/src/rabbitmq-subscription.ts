/**
 * One consumer on one queue, on a channel of its own whose prefetch (basic.qos, per consumer) bounds the deliveries
 * handed over and not yet settled. When its channel or the connection is lost it opens a new channel on the
 * transport's next connection, declares (or checks) its queues again and consumes again; deliveries of the lost
 * channel are back in the queue on the broker, and only deliveries of the new channel are handed over. The channel's
 * acks and requeues go out coalesced (ack-coalescer.ts), flushed before the channel closes. A redelivery from a
 * classic queue is not handed over but replaced by a counted copy (classic-redelivery.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { SubscribeOptions, Subscription, SubscriptionEvents } from 'hostwork';
import { AckCoalescer, type Outstanding } from './ack-coalescer.ts';
import { replaceRedelivery } from './classic-redelivery.ts';
import { brokerDeliveryCount } from './headers.ts';
import { type DeliveryChannel, type DeliveryServices, RabbitmqDelivery } from './rabbitmq-delivery.ts';
import type { ResolvedSource } from './rabbitmq-transport-options.ts';
import type { WarningListener } from './warnings.ts';

/** What a subscription needs from its transport. */
export interface SubscriptionHost {
  readonly warn: WarningListener;
  /** The current connection, waiting through a reconnect; rejects once the transport closes. */
  connection(): Promise<ChannelModel>;
  /** Declares (or checks) the source's queue and its dead-letter queue. */
  declareSource(source: ResolvedSource): Promise<void>;
  /** Backoff before the `n`th consecutive attempt (1-based): 100 ms doubling up to the maximum. */
  backoffMs(n: number): number;
  /** Resolves after `ms`, or at once when the transport closes. */
  sleep(ms: number): Promise<void>;
  /** Whether close() was called: nothing subscribes again. */
  isClosing(): boolean;
  readonly services: (source: ResolvedSource) => DeliveryServices;
}

/** An open channel with its consumer, and its deliveries' settles on their way to frames. */
class ConsumerChannel implements DeliveryChannel {
  readonly channel: Channel;
  /** False once the channel closed, or was given up by the subscription. */
  alive = true;
  consumerTag: string | undefined;
  readonly acks: AckCoalescer;

  constructor(channel: Channel) {
    this.channel = channel;
    this.acks = new AckCoalescer(channel);
  }

  /** Whether settle frames can still be written on it. */
  get open(): boolean {
    return this.alive && this.acks.usable;
  }

  ack(entry: Outstanding): Promise<void> {
    return this.acks.settle(entry, 'ack');
  }

  requeue(entry: Outstanding): Promise<void> {
    return this.acks.settle(entry, 'requeue');
  }

  /** The channel is gone (or given up): settles not yet written are dropped, the broker redelivers. */
  lose(): void {
    this.alive = false;
    this.acks.lose(new Error('the channel closed before the settle frame was written'));
  }
}

/** A running consumer; see the module's comment. */
export class RabbitmqSubscription implements Subscription {
  readonly #host: SubscriptionHost;
  readonly #source: ResolvedSource;
  readonly #prefetch: number;
  readonly #onDelivery: (delivery: RabbitmqDelivery) => void;
  readonly #events: SubscriptionEvents | undefined;
  readonly #services: DeliveryServices;
  #current: ConsumerChannel | undefined;
  #stopped = false;
  #recovering: Promise<void> | undefined;

  constructor(host: SubscriptionHost, source: ResolvedSource, options: SubscribeOptions) {
    this.#host = host;
    this.#source = source;
    this.#prefetch = options.prefetch;
    this.#onDelivery = options.onDelivery;
    this.#events = options.events;
    this.#services = host.services(source);
  }

  /** Closes the channel, after writing the settle frames still collected (the transport's close). */
  async closeChannel(): Promise<void> {
    const current = this.#current;
    if (!current?.alive) return;
    current.acks.flush(true);
    await current.channel.close();
  }

  /** Declares and consumes for the first time; errors (a missing queue...) reach the caller of `subscribe`. */
  async start(): Promise<void> {
    await this.#open(await this.#host.connection());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const current = this.#current;
    if (current?.alive && current.consumerTag !== undefined) {
      // basic.cancel: after cancel-ok the broker sends nothing more to this consumer. What arrives before it is
      // handed back (nack, requeue) by #deliver, since #stopped is set.
      await current.channel.cancel(current.consumerTag).catch(() => {});
    }
  }

  async #open(connection: ChannelModel): Promise<void> {
    await this.#host.declareSource(this.#source);
    const channel = await connection.createChannel();
    const current = new ConsumerChannel(channel);
    channel.on('error', () => {
      // Reported by 'close', which follows every channel error.
    });
    channel.on('close', () => this.#closed(current));
    try {
      await channel.prefetch(this.#prefetch, false);
      if (this.#stopped) {
        current.alive = false;
        await channel.close().catch(() => {});
        return;
      }
      const { consumerTag } = await channel.consume(
        this.#source.queue,
        (message) => this.#deliver(current, message),
        {
          noAck: false,
        },
      );
      current.consumerTag = consumerTag;
      // Closed before this subscription adopted it (its 'close' was ignored): try again on a new one.
      if (!current.alive)
        throw new Error(`the channel consuming queue '${this.#source.queue}' closed while subscribing`);
      this.#current = current;
      // stop() ran while basic.consume was in flight: it had no consumer to cancel yet.
      if (this.#stopped) await channel.cancel(consumerTag).catch(() => {});
    } catch (error) {
      // Not adopted: its close must not start a recovery (the caller retries, or subscribe() fails).
      current.alive = false;
      await channel.close().catch(() => {});
      throw error;
    }
  }

  #deliver(current: ConsumerChannel, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (the queue was deleted): consume again on a new channel.
      this.#host.warn(
        `RabbitMQ: the broker cancelled the consumer of queue '${this.#source.queue}' (was the queue deleted?); subscribing again.`,
        undefined,
        { warning: 'consumer-cancelled', queue: this.#source.queue },
      );
      // The settles collected so far still count: written before the channel closes.
      current.acks.flush(true);
      current.lose();
      current.channel.close().catch(() => {});
      this.#recover(undefined);
      return;
    }
    if (!current.open) return;
    const entry = current.acks.add(message);
    if (this.#stopped) {
      // Handed back in tag order with the others' settles; a lost channel hands it back anyway.
      current.requeue(entry).catch(() => {});
      return;
    }
    const id = String(message.properties.messageId ?? randomUUID());
    if (message.fields.redelivered && brokerDeliveryCount(message.properties.headers) === undefined) {
      // A classic queue keeps no count: a counted copy goes to the queue in its place (classic-redelivery.ts).
      this.#services
        .track(replaceRedelivery(entry, current, this.#services, id))
        .then((outcome) => {
          if (outcome !== 'uncounted') return;
          if (this.#stopped) current.requeue(entry).catch(() => {});
          else this.#onDelivery(new RabbitmqDelivery(entry, current, this.#services, id));
        })
        .catch(() => {});
      return;
    }
    this.#onDelivery(new RabbitmqDelivery(entry, current, this.#services, id));
  }

  #closed(current: ConsumerChannel): void {
    const wasOpen = current.alive;
    current.lose();
    if (this.#current !== current || !wasOpen) return;
    this.#current = undefined;
    if (this.#host.isClosing() || this.#stopped) return;
    this.#recover(new Error(`the channel consuming queue '${this.#source.queue}' closed`));
  }

  /** Opens a new channel and consumes again, with backoff, until it works, the subscription stops or the transport closes. */
  #recover(error: unknown): void {
    if (this.#recovering) return;
    try {
      this.#events?.disconnected?.(error);
    } catch {
      // An event listener must not stop the recovery.
    }
    this.#recovering = (async () => {
      for (let attempt = 1; !this.#stopped && !this.#host.isClosing(); attempt++) {
        // Backoff before every attempt, the first too: a channel learns of a lost connection before the connection
        // itself does, and the first wait lets the transport see the loss and start reconnecting.
        await this.#host.sleep(this.#host.backoffMs(attempt));
        if (this.#stopped || this.#host.isClosing()) return;
        try {
          await this.#open(await this.#host.connection());
          if (this.#stopped || this.#host.isClosing()) return;
          try {
            this.#events?.reconnected?.();
          } catch {
            // As above.
          }
          return;
        } catch (failure) {
          if (this.#host.isClosing()) return;
          this.#host.warn(
            `RabbitMQ: consuming queue '${this.#source.queue}' again failed (attempt ${attempt}); trying again.`,
            failure,
            { warning: 'resubscribe-failed', queue: this.#source.queue, attempt },
          );
        }
      }
    })().finally(() => {
      this.#recovering = undefined;
    });
  }
}
