/**
 * One message received from a RabbitMQ queue, settled exactly once. A second settle call rejects with
 * HW_DELIVERY_SETTLED. Acks and requeues go through the channel's ack coalescer (few frames, in tag order; see
 * ack-coalescer.ts) and resolve once their frame is written. A delivery whose channel has died cannot be settled any
 * more (delivery tags belong to their channel): the broker has put it back in the queue and delivers it again, so its
 * settle calls then resolve without doing anything, with a warning, and the consumer sees the message again.
 */
import type { ConsumeMessage } from 'amqplib';
import {
  type DeadLetterReason,
  type Delivery,
  type DeliveryError,
  ErrorCodes,
  type Headers,
  HostworkError,
} from 'hostwork';
import type { Outstanding } from './ack-coalescer.ts';
import { attemptOf, deadLetterHeaders, redeliveriesOf, retryHeaders, stringHeaders } from './headers.ts';
import type { WarningListener } from './warnings.ts';

/** A subscription's channel as deliveries see it: settle calls work only while it is open. */
export interface DeliveryChannel {
  readonly open: boolean;
  /** Acks the delivery: resolves once its frame is written, rejects when the channel was lost first. */
  ack(entry: Outstanding): Promise<void>;
  /** Hands the delivery back (basic.nack, requeue); resolves and rejects as {@link ack}. */
  requeue(entry: Outstanding): Promise<void>;
}

/** What a delivery needs from its transport to publish its copies (retry, dead letter). */
export interface DeliveryServices {
  readonly queue: string;
  readonly deadLetterQueue: string;
  readonly warn: WarningListener;
  /** Publishes a copy of `message` with `headers`, after `delayMs` (0: now) or to `queue`, confirmed. */
  publishCopy(
    message: ConsumeMessage,
    id: string,
    headers: Record<string, unknown>,
    target: { readonly delayMs: number; readonly source: string } | { readonly queue: string },
  ): Promise<void>;
  /** Runs `settle` as a pending operation `close()` waits for. */
  track<T>(settle: Promise<T>): Promise<T>;
}

type Settlement = 'ack' | 'retry' | 'deadLetter' | 'release';

/** A RabbitMQ delivery; see the module's comment. */
export class RabbitmqDelivery implements Delivery {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly attempt: number;
  /**
   * Deliveries before this one that were not settled (a lost channel, a dead consumer, a release). Quorum queue: its
   * `x-delivery-count`; classic queue: Hostwork's `hostwork-redeliveries` header, written on the copy that replaces
   * each redelivery (0 without it); undefined only when that copy could not be published.
   */
  readonly redeliveries?: number;
  // No lockMs: RabbitMQ holds a delivery for as long as its channel is open, so there is no lock to extend.
  readonly #message: ConsumeMessage;
  readonly #entry: Outstanding;
  readonly #channel: DeliveryChannel;
  readonly #services: DeliveryServices;
  /** The settle call that claimed this delivery, while it runs or after it succeeded. */
  #settledBy: Settlement | undefined;

  constructor(entry: Outstanding, channel: DeliveryChannel, services: DeliveryServices, id: string) {
    const message = entry.message;
    this.#message = message;
    this.#entry = entry;
    this.#channel = channel;
    this.#services = services;
    this.id = id;
    this.body = message.content;
    this.headers = stringHeaders(message.properties.headers);
    this.attempt = attemptOf(this.headers);
    const redeliveries = redeliveriesOf(message.fields.redelivered, message.properties.headers);
    if (redeliveries !== undefined) this.redeliveries = redeliveries;
  }

  ack(): Promise<void> {
    return this.#settle('ack', () => this.#channel.ack(this.#entry));
  }

  release(): Promise<void> {
    return this.#settle('release', () => this.#channel.requeue(this.#entry));
  }

  retry(delayMs: number, error: DeliveryError): Promise<void> {
    return this.#settle('retry', async () => {
      const headers = retryHeaders(this.#message.properties.headers, this.headers, error);
      await this.#copyThenAck('retry', headers, { delayMs, source: this.#services.queue });
    });
  }

  deadLetter(reason: DeadLetterReason, errors: readonly DeliveryError[]): Promise<void> {
    return this.#settle('deadLetter', async () => {
      const headers = deadLetterHeaders(this.#message.properties.headers, this.headers, reason, errors);
      await this.#copyThenAck('deadLetter', headers, { queue: this.#services.deadLetterQueue });
    });
  }

  /**
   * Publishes the copy, waits for the broker's confirm, then acks the original: never lost. A crash or a channel
   * loss between the two leaves both (the original is delivered again: a duplicate, never a loss).
   */
  async #copyThenAck(
    how: Settlement,
    headers: Record<string, unknown>,
    target: { readonly delayMs: number; readonly source: string } | { readonly queue: string },
  ): Promise<void> {
    try {
      await this.#services.publishCopy(this.#message, this.id, headers, target);
    } catch (error) {
      // The original comes back anyway when its channel is gone: nothing to do.
      if (!this.#channel.open) return this.#lost(how, error);
      throw error;
    }
    let lost: unknown;
    if (this.#channel.open) {
      try {
        return await this.#channel.ack(this.#entry);
      } catch (error) {
        if (this.#channel.open) throw error;
        lost = error;
      }
    }
    this.#services.warn(
      `RabbitMQ: the ${how} copy of message '${this.id}' from queue '${this.#services.queue}' was published, but the original could not be acked because its channel closed; the broker delivers the original again (a duplicate).`,
      lost,
      {
        warning: 'settle-after-channel-loss',
        queue: this.#services.queue,
        messageId: this.id,
        settle: how,
      },
    );
  }

  #lost(how: Settlement, error?: unknown): void {
    this.#services.warn(
      `RabbitMQ: message '${this.id}' from queue '${this.#services.queue}' could not be settled (${how}) because its channel closed; the broker delivers it again.`,
      error,
      { warning: 'settle-after-channel-loss', queue: this.#services.queue, messageId: this.id, settle: how },
    );
  }

  #settle(how: Settlement, run: () => Promise<void>): Promise<void> {
    if (this.#settledBy !== undefined) {
      return Promise.reject(
        new HostworkError(
          ErrorCodes.DELIVERY_SETTLED,
          `RabbitMQ: message '${this.id}' from queue '${this.#services.queue}' was already settled by ${this.#settledBy}(); ${how}() cannot settle it again. Settle each delivery once.`,
        ),
      );
    }
    this.#settledBy = how;
    if (!this.#channel.open) {
      this.#lost(how);
      return Promise.resolve();
    }
    return this.#services.track(
      run().catch((error: unknown) => {
        // The channel was lost before the frame was written: the broker has the message back.
        if (!this.#channel.open) return this.#lost(how, error);
        // Nothing was settled: the delivery may be settled again.
        this.#settledBy = undefined;
        throw error;
      }),
    );
  }
}
