/**
 * One received SQS message as a Hostwork delivery, settled exactly once:
 * - ack: a DeleteMessageBatch entry (collected with others);
 * - retry, standard queue: a copy with the attempt and error history updated, delayed by DelaySeconds (longer delays
 *   chained through a not-before attribute), then the original deleted (a crash in between leaves a duplicate:
 *   at-least-once);
 * - retry, FIFO queue: the same message made visible again after the delay (ChangeMessageVisibility), so the group's
 *   order is kept; its attempt then comes from ApproximateReceiveCount;
 * - deadLetter: a copy with Hostwork's dead-letter attributes to the dead-letter queue, then the original deleted;
 * - release: visible again at once; extend: ChangeMessageVisibility from now.
 */
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import {
  ATTEMPT_HEADER,
  DEAD_LETTER_HEADERS,
  type DeadLetterReason,
  type Delivery,
  type DeliveryError,
  deadLetterHeaders,
  ErrorCodes,
  type Headers,
  HostworkError,
  historyHeader,
  readAttemptErrors,
} from 'hostwork';
import { attributeValue, BODY_ATTRIBUTE, ID_ATTRIBUTE } from './attributes.ts';
import type { QueueInfo } from './queues.ts';
import type { SendBatcher } from './send-batcher.ts';
import { fitHistory, type SendEntry, sendEntry } from './sending.ts';
import type { SettleBatcher } from './settle-batcher.ts';
import { MAX_VISIBILITY_MS } from './sqs-transport-options.ts';

/** What a delivery needs of its subscription. */
export interface DeliveryContext {
  readonly client: SQSClient;
  readonly queue: QueueInfo;
  readonly deadLetterUrl: string;
  readonly batcher: SettleBatcher;
  readonly sender: SendBatcher;
  readonly maxMessageBytes: number;
  /** Called when the delivery is settled: 'gone' (deleted or replaced by a copy) or 'back' (visible again later). */
  settled(delivery: SqsDelivery, outcome: 'gone' | 'back'): void;
  /** Keeps `close()` waiting for a settle under way. */
  track<T>(operation: Promise<T>): Promise<T>;
}

/** A received SQS message handed to the consumer. */
export class SqsDelivery implements Delivery {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly attempt: number;
  /**
   * Standard queue: ApproximateReceiveCount minus one (receives that ended without a settle: visibility run out,
   * releases; retries are copies, counted afresh). Undefined on a FIFO queue, where the receive count is already in
   * {@link attempt}.
   */
  readonly redeliveries?: number;
  readonly key?: string;
  readonly message: Message;
  readonly #context: DeliveryContext;
  /** When the message was received (its visibility started no earlier, within the margin the receive allows). */
  readonly #receivedAt: number;
  /** When its visibility runs out (epoch ms), moved by extend. */
  #lockUntil: number;
  #settled = false;

  constructor(
    context: DeliveryContext,
    message: Message,
    parts: { body: Uint8Array; headers: Headers; receivedAt: number; lockUntil: number },
  ) {
    this.#context = context;
    this.message = message;
    this.#receivedAt = parts.receivedAt;
    this.#lockUntil = parts.lockUntil;
    this.id = attributeValue(message.MessageAttributes, ID_ATTRIBUTE) ?? message.MessageId ?? '';
    this.body = parts.body;
    this.headers = parts.headers;
    const counted = Number.parseInt(parts.headers[ATTEMPT_HEADER] ?? '0', 10);
    const previous = Number.isFinite(counted) && counted > 0 ? counted : 0;
    // FIFO retries keep the same message (visibility), so SQS's receive count carries the attempts there.
    const receives = Number.parseInt(message.Attributes?.ApproximateReceiveCount ?? '1', 10) || 1;
    this.attempt = previous + (context.queue.fifo ? receives : 1);
    if (!context.queue.fifo) this.redeliveries = receives - 1;
    const group = message.Attributes?.MessageGroupId;
    if (group !== undefined) this.key = group;
  }

  /** What is left of the lock now (a held FIFO message is handed over later than it was received). */
  get lockMs(): number {
    return Math.max(0, this.#lockUntil - Date.now());
  }

  /** When the lock runs out (epoch ms). */
  get lockUntil(): number {
    return this.#lockUntil;
  }

  get #receipt(): string {
    return this.message.ReceiptHandle ?? '';
  }

  async ack(): Promise<void> {
    this.#settle('ack', 'gone');
    return this.#delete();
  }

  async retry(delayMs: number, error: DeliveryError): Promise<void> {
    if (this.#context.queue.fifo) {
      this.#settle('retry', 'back');
      // Same message, visible again after the delay: the group's order holds. At most 12 h after it was received.
      const most = MAX_VISIBILITY_MS - (Date.now() - this.#receivedAt);
      return this.#visibility(Math.max(0, Math.min(delayMs, most)));
    }
    this.#settle('retry', 'gone');
    const history = [...readAttemptErrors(this.headers), error];
    const entry = fitHistory(history, this.#context.maxMessageBytes, (kept) =>
      this.#copy(
        {
          ...this.headers,
          [ATTEMPT_HEADER]: String(this.attempt),
          [DEAD_LETTER_HEADERS.history]: historyHeader(kept),
        },
        this.#context.queue.name,
        delayMs,
      ),
    );
    return this.#context.track(this.#sendThenDelete(this.#context.queue.url, entry));
  }

  async deadLetter(reason: DeadLetterReason, errors: readonly DeliveryError[]): Promise<void> {
    this.#settle('deadLetter', 'gone');
    const entry = fitHistory(errors, this.#context.maxMessageBytes, (kept) =>
      this.#copy(
        // The same headers as every adapter writes: the reason, the last error's message, the history.
        {
          ...deadLetterHeaders(this.headers, reason, kept.length > 0 ? kept : errors),
          [ATTEMPT_HEADER]: String(this.attempt),
        },
        this.#context.deadLetterUrl,
        0,
      ),
    );
    return this.#context.track(this.#sendThenDelete(this.#context.deadLetterUrl, entry));
  }

  async release(): Promise<void> {
    this.#settle('release', 'back');
    return this.#visibility(0);
  }

  async extend(ms: number): Promise<void> {
    if (this.#settled) return;
    const most = MAX_VISIBILITY_MS - (Date.now() - this.#receivedAt);
    const wanted = Math.max(0, Math.min(ms, most));
    const started = Date.now();
    await this.#changeVisibility(wanted);
    this.#lockUntil = started + Math.ceil(wanted / 1000) * 1000;
  }

  /** Marks the delivery settled, refusing a second settle. */
  #settle(how: string, outcome: 'gone' | 'back'): void {
    if (this.#settled)
      throw new HostworkError(
        ErrorCodes.DELIVERY_SETTLED,
        `SQS message ${this.id} of ${this.#context.queue.name} was settled already; ${how}() cannot settle it again. Settle each delivery once.`,
      );
    this.#settled = true;
    this.#context.settled(this, outcome);
  }

  #delete(): Promise<void> {
    return this.#context.track(
      this.#context.batcher.delete(this.#context.queue.url, this.#receipt, this.#lockUntil),
    );
  }

  #visibility(ms: number): Promise<void> {
    return this.#context.track(this.#changeVisibility(ms));
  }

  /** Batched with other visibility changes of the queue (ChangeMessageVisibilityBatch). */
  #changeVisibility(ms: number): Promise<void> {
    return this.#context.batcher.changeVisibility(
      this.#context.queue.url,
      this.#receipt,
      Math.ceil(ms / 1000),
      this.#lockUntil,
    );
  }

  /** This message again with other headers, for `queue`, the body sent as it came. */
  #copy(headers: Headers, queue: string, delayMs: number): SendEntry {
    const fifo = queue.endsWith('.fifo');
    return sendEntry(queue, fifo, {
      id: this.id,
      text: this.message.Body ?? '',
      encoding: attributeValue(this.message.MessageAttributes, BODY_ATTRIBUTE),
      headers,
      // A FIFO dead-letter queue needs a group: the source's, else one for all.
      key: fifo ? (this.key ?? 'hostwork') : undefined,
      delayMs,
    });
  }

  /** The copy first (batched with other copies to that queue), then the original deleted (batched too). */
  async #sendThenDelete(url: string, entry: SendEntry): Promise<void> {
    await this.#context.sender.send(url, entry);
    await this.#context.batcher.delete(this.#context.queue.url, this.#receipt, this.#lockUntil);
  }
}
