/**
 * One message received from a JetStream pull consumer, settled exactly once. A second settle call rejects with
 * HW_DELIVERY_SETTLED. Every settle is written to the message's ack subject and resolves once it is written to the
 * socket (not confirmed by the server, as the RabbitMQ adapter resolves once its frame is written): an ack
 * lost on the way (a crash right after it) means a redelivery after the AckWait, never a loss, and the transport's
 * `close()` flushes every settle before it closes the connection. A retry or dead-letter copy is confirmed by its
 * stream before the original is acknowledged. While the connection is down a settle resolves once the server
 * confirmed it after the reconnect. An
 * ack subject outlives the connection that received the message: a delivery handed over before a reconnect is
 * settled on the next connection (one whose AckWait ran out meanwhile has been delivered again: a duplicate).
 */
import {
  type DeadLetterReason,
  type Delivery,
  type DeliveryError,
  deadLetterHeaders,
  deliveryAttempt,
  ErrorCodes,
  type Headers,
  HostworkError,
  retryHeaders,
} from 'hostwork';
import { ID_HEADER, NOT_BEFORE_HEADER, RETRY_FOR_HEADER, withoutRouting } from './headers.ts';
import type { ResolvedSource } from './nats-transport-options.ts';

/** JetStream's acknowledgement payloads. */
export const ACK = '+ACK';
export const NAK = '-NAK';
export const TERM = '+TERM';
export const WORKING = '+WPI';

/** The header naming the subject a dead letter was consumed from (to publish it again after a fix). */
export const DEAD_SUBJECT_HEADER = 'hostwork-dead-subject';
/** The header naming the stream and durable consumer a dead letter came from (`<stream>/<durable>`). */
export const DEAD_CONSUMER_HEADER = 'hostwork-dead-consumer';

/** What a delivery needs from its subscription and transport. */
export interface DeliveryServices {
  readonly source: ResolvedSource;
  /**
   * Writes `payload` to a message's ack subject: resolves once it is written to the socket, or, while the
   * connection is down, once the server has it after the reconnect.
   */
  respond(reply: string, payload: string): Promise<void>;
  /**
   * Writes `payload` to a message's ack subject in this turn when connected: what resolves once it is on the socket
   * (shared by the turn's settles); undefined when the connection is down: use {@link respond}.
   */
  respondNow(reply: string, payload: string): Promise<void> | undefined;
  /** Publishes a copy to `subject` with `headers` and the stream's duplicate id `msgId`, acknowledged by the stream. */
  publishCopy(subject: string, body: Uint8Array, headers: Headers, msgId: string): Promise<void>;
  /** Runs `settle` as a pending operation `close()` waits for. */
  track<T>(settle: Promise<T>): Promise<T>;
}

/** What a delivery is made from: the received message (the client's, whose subject is decoded only when read). */
export interface ReceivedMessage {
  readonly subject: string;
  /** The ack subject (always set on a message handed over). */
  readonly reply?: string | undefined;
  readonly data: Uint8Array;
}

/** Told once, when a delivery's first settle call starts: its slot is free. */
export interface SlotOwner {
  freed(): void;
}

type Settlement = 'ack' | 'retry' | 'deadLetter' | 'release';

/** A JetStream delivery; see the module's comment. */
export class NatsDelivery implements Delivery {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly attempt: number;
  /**
   * JetStream's delivered count of this stream message minus one: AckWait expiries (a consumer that died or hung) and
   * releases (`nak()`). Retries are new stream messages, so their count starts again at 0.
   */
  readonly redeliveries: number;
  /** The consumer's AckWait: the engine calls {@link extend} (JetStream's `working()`) before it runs out. */
  readonly lockMs: number;
  readonly #message: ReceivedMessage;
  /** The ack subject. */
  readonly #reply: string;
  readonly #services: DeliveryServices;
  /** Told once, when the first settle call starts: the subscription's slot is free again. */
  readonly #owner: SlotOwner;
  #settledBy: Settlement | undefined;
  #slotFreed = false;

  constructor(
    id: string,
    message: ReceivedMessage,
    headers: Headers,
    redeliveries: number,
    services: DeliveryServices,
    owner: SlotOwner,
  ) {
    this.#message = message;
    this.#reply = message.reply ?? '';
    this.#services = services;
    this.#owner = owner;
    this.id = id;
    this.body = message.data;
    this.headers = headers;
    this.attempt = deliveryAttempt(headers);
    this.redeliveries = redeliveries;
    this.lockMs = services.source.ackWaitMs;
  }

  ack(): Promise<void> {
    return this.#respond('ack', ACK);
  }

  /** Back to the consumer now (`nak()`), the attempt header unchanged: a release does not count as an attempt. */
  release(): Promise<void> {
    return this.#respond('release', NAK);
  }

  /**
   * A copy with the attempt header and history (and, for a delay, the time it is due) goes to the original's subject
   * for this consumer alone; once the stream has it, the original is acknowledged. A crash between the two leaves both
   * (the original comes back with the same attempt, and its next copy has the same `Nats-Msg-Id`, which the stream
   * drops as a duplicate within its duplicate window).
   */
  retry(delayMs: number, error: DeliveryError): Promise<void> {
    return this.#settle('retry', async () => {
      const { source } = this.#services;
      const headers: Record<string, string> = {
        ...retryHeaders(this.headers, error),
        [ID_HEADER]: this.id,
        [RETRY_FOR_HEADER]: source.durable,
      };
      if (delayMs > 0) headers[NOT_BEFORE_HEADER] = String(Date.now() + delayMs);
      else delete headers[NOT_BEFORE_HEADER];
      await this.#services.publishCopy(
        this.#message.subject,
        this.body,
        headers,
        `${this.id}~${source.durable}~retry-${error.attempt}`,
      );
      await this.#services.respond(this.#reply, ACK);
    });
  }

  /** A copy goes to the dead-letter stream; once the stream has it, the original is terminated (`term()`). */
  deadLetter(reason: DeadLetterReason, errors: readonly DeliveryError[]): Promise<void> {
    return this.#settle('deadLetter', async () => {
      const { source } = this.#services;
      const headers = {
        ...withoutRouting(deadLetterHeaders(this.headers, reason, errors)),
        [ID_HEADER]: this.id,
        [DEAD_SUBJECT_HEADER]: this.#message.subject,
        [DEAD_CONSUMER_HEADER]: `${source.stream}/${source.durable}`,
      };
      await this.#services.publishCopy(
        source.deadLetterSubject,
        this.body,
        headers,
        `${this.id}~${source.durable}~dead`,
      );
      await this.#services.respond(this.#reply, TERM);
    });
  }

  /**
   * Resets the AckWait timer (`working()`): the delivery stays locked for another AckWait from now, whatever `ms` is
   * (JetStream extends by the consumer's AckWait, which is {@link lockMs}, what the engine asks for).
   */
  extend(_ms: number): Promise<void> {
    if (this.#settledBy !== undefined) return Promise.resolve();
    return this.#services.respond(this.#reply, WORKING);
  }

  /** A settle that is one write to the ack subject: connected, it is written now, without a promise of its own. */
  #respond(how: Settlement, payload: string): Promise<void> {
    const written =
      this.#settledBy === undefined ? this.#services.respondNow(this.#reply, payload) : undefined;
    if (written !== undefined) {
      this.#settledBy = how;
      this.#freeSlot();
      return written;
    }
    return this.#settle(how, () => this.#services.respond(this.#reply, payload));
  }

  #freeSlot(): void {
    if (!this.#slotFreed) {
      this.#slotFreed = true;
      this.#owner.freed();
    }
  }

  #settle(how: Settlement, run: () => Promise<void>): Promise<void> {
    if (this.#settledBy !== undefined) {
      return Promise.reject(
        new HostworkError(
          ErrorCodes.DELIVERY_SETTLED,
          `NATS: message '${this.id}' from stream '${this.#services.source.stream}' was already settled by ${this.#settledBy}(); ${how}() cannot settle it again. Settle each delivery once.`,
        ),
      );
    }
    this.#settledBy = how;
    this.#freeSlot();
    return this.#services.track(
      run().catch((error: unknown) => {
        // Not settled for sure: it may be settled again (JetStream ignores an ack of a message it no longer holds).
        this.#settledBy = undefined;
        throw error;
      }),
    );
  }
}
