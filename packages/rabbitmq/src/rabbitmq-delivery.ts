/**
 * One message received from a RabbitMQ queue, settled exactly once. A second settle call rejects with
 * HW_DELIVERY_SETTLED. A delivery whose channel has died cannot be settled any more (delivery tags belong to their
 * channel): the broker has put it back in the queue and delivers it again, so its settle calls then resolve without
 * doing anything, with a warning, and the consumer sees the message again.
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
import { attemptOf, deadLetterHeaders, retryHeaders, stringHeaders } from './headers.ts';
import type { WarningListener } from './warnings.ts';

/** A subscription's channel as deliveries see it: settle calls work only while it is open. */
export interface DeliveryChannel {
  readonly open: boolean;
  ack(message: ConsumeMessage): void;
  requeue(message: ConsumeMessage): void;
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
  // No lockMs: RabbitMQ holds a delivery for as long as its channel is open, so there is no lock to extend.
  readonly #message: ConsumeMessage;
  readonly #channel: DeliveryChannel;
  readonly #services: DeliveryServices;
  /** The settle call that claimed this delivery, while it runs or after it succeeded. */
  #settledBy: Settlement | undefined;

  constructor(message: ConsumeMessage, channel: DeliveryChannel, services: DeliveryServices, id: string) {
    this.#message = message;
    this.#channel = channel;
    this.#services = services;
    this.id = id;
    this.body = message.content;
    this.headers = stringHeaders(message.properties.headers);
    this.attempt = attemptOf(this.headers);
  }

  ack(): Promise<void> {
    return this.#settle('ack', async () => {
      this.#channel.ack(this.#message);
    });
  }

  release(): Promise<void> {
    return this.#settle('release', async () => {
      this.#channel.requeue(this.#message);
    });
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
    if (!this.#channel.open) {
      this.#services.warn(
        `RabbitMQ: the ${how} copy of message '${this.id}' from queue '${this.#services.queue}' was published, but the original could not be acked because its channel closed; the broker delivers the original again (a duplicate).`,
        undefined,
        {
          warning: 'settle-after-channel-loss',
          queue: this.#services.queue,
          messageId: this.id,
          settle: how,
        },
      );
      return;
    }
    this.#channel.ack(this.#message);
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
      (async () => {
        try {
          await run();
        } catch (error) {
          // The channel closed under a synchronous ack/nack: the broker has the message back.
          if (!this.#channel.open) return this.#lost(how, error);
          // Nothing was settled: the delivery may be settled again.
          this.#settledBy = undefined;
          throw error;
        }
      })(),
    );
  }
}
