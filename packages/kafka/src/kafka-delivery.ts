/**
 * One fetched Kafka record as a Hostwork delivery, settled exactly once. Kafka has no per-message ack or nack, only a
 * committed offset per partition, so:
 * - ack: the record is done; the promise resolves once a commit covers it (the lowest unfinished record of the
 *   partition has moved past it);
 * - retry: a copy to the retry topic with the attempt, the error history and a not-before header, confirmed by the
 *   broker, then done like an ack (a crash in between leaves a duplicate, never a loss);
 * - deadLetter: a copy with Hostwork's dead-letter headers to the dead-letter topic, then done like an ack;
 * - release: not done; the commit stays before it, so the group hands it out again (to this member at once when the
 *   subscription still runs, else after the next assignment).
 * There is no lock to extend: a partition stays with its member while the member heartbeats.
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
import type { Entry } from './partition-state.ts';

/** What a delivery needs of its subscription. */
export interface SettleTarget {
  /** The record is done (after any copy): resolves once committed past. */
  complete(entry: Entry): Promise<void>;
  /** Produces a copy of the record to `topic` (retry or dead letter); refused when the partition was revoked. */
  copy(entry: Entry, kind: 'retry' | 'dead', headers: Headers, notBefore?: number): Promise<void>;
  /** The record goes back, uncounted. */
  release(entry: Entry): void;
  /** Called once per delivery when its first settle call is made (a prefetch slot frees). */
  settling(entry: Entry): void;
}

/** A fetched record handed to the consumer. */
export class KafkaDelivery implements Delivery {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly attempt: number;
  readonly key?: string;
  /** The topic, partition and offset the record was read from. */
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly #entry: Entry;
  readonly #target: SettleTarget;
  #settled = false;

  constructor(target: SettleTarget, entry: Entry) {
    const { record } = entry;
    this.#target = target;
    this.#entry = entry;
    this.id = record.id;
    this.body = record.body;
    this.headers = record.headers;
    this.attempt = deliveryAttempt(record.headers);
    if (record.key !== undefined) this.key = record.key;
    this.topic = record.topic;
    this.partition = record.partition;
    this.offset = record.offset;
  }

  ack(): Promise<void> {
    return this.#settle('ack', () => this.#target.complete(this.#entry));
  }

  retry(delayMs: number, error: DeliveryError): Promise<void> {
    return this.#settle('retry', async () => {
      const due = Date.now() + Math.max(0, delayMs);
      await this.#target.copy(this.#entry, 'retry', retryHeaders(this.headers, error), due);
      await this.#target.complete(this.#entry);
    });
  }

  deadLetter(reason: DeadLetterReason, errors: readonly DeliveryError[]): Promise<void> {
    return this.#settle('deadLetter', async () => {
      await this.#target.copy(this.#entry, 'dead', deadLetterHeaders(this.headers, reason, errors));
      await this.#target.complete(this.#entry);
    });
  }

  release(): Promise<void> {
    return this.#settle('release', async () => this.#target.release(this.#entry));
  }

  #settle(kind: string, run: () => Promise<void>): Promise<void> {
    if (this.#settled)
      return Promise.reject(
        new HostworkError(
          ErrorCodes.DELIVERY_SETTLED,
          `Kafka record ${this.id} (${this.topic}/${this.partition}@${this.offset}) was already settled; ${kind} refused.`,
        ),
      );
    this.#settled = true;
    this.#target.settling(this.#entry);
    try {
      return run();
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
