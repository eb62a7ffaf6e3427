/**
 * One message received in peek-lock mode, settled exactly once; a second settle call rejects with
 * HW_DELIVERY_SETTLED. Every settle resolves once the service confirmed it (a disposition on the receiving link, or,
 * when that link is gone, the `update-disposition` management operation with the lock token, which the SDK falls back
 * to by itself).
 *
 * - ack: complete.
 * - retry: a copy with the attempt header and history is scheduled on the source's queue or topic for `now + delay`
 *   (`schedule-message`; sent at once for no delay), then the original is completed. Service Bus's abandon has no
 *   delay, so it is not used for retries. A crash between the two leaves both: the original comes back once its lock
 *   runs out, with the same attempt (at-least-once).
 * - deadLetter: the native dead-letter sub-queue (`<path>/$DeadLetterQueue`), with `DeadLetterReason` = the reason
 *   (`poison`, `attempts-exhausted`), `DeadLetterErrorDescription` = the last error, and Hostwork's dead-letter
 *   headers written onto the message's application properties in the same operation.
 * - release: abandon (the service hands the message out again at once; its delivery count grows, and at the entity's
 *   MaxDeliveryCount the service dead-letters it with reason `MaxDeliveryCountExceeded`).
 * - extend: renews the lock (`renew-lock`) for another lock duration from now.
 */
import type { ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
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
import type { ResolvedSource } from './azure-service-bus-transport-options.ts';
import { ID_HEADER, RETRY_FOR_HEADER } from './header-names.ts';
import { bodyBytes, copyMessageId, messageIdOf, readHeaders } from './message-mapping.ts';

/** The longest `DeadLetterErrorDescription` (and reason) the service keeps. */
const MAX_DEAD_LETTER_TEXT = 4_096;
/** The lock duration assumed when the service reports none (its default LockDuration). */
const DEFAULT_LOCK_MS = 60_000;

/** What a delivery needs from its subscription and transport. */
export interface DeliveryServices {
  readonly source: ResolvedSource;
  readonly receiver: ServiceBusReceiver;
  /** Sends `message` to the source's queue or topic, scheduled for `at` when given; resolves once the service has it. */
  sendCopy(message: ServiceBusMessage, at: Date | undefined): Promise<void>;
  /** Runs `settle` as a pending operation `close()` waits for. */
  track<T>(settle: Promise<T>): Promise<T>;
}

/** Told once, when a delivery's first settle call starts: its slot is free. */
export interface SlotOwner {
  freed(): void;
}

type Settlement = 'ack' | 'retry' | 'deadLetter' | 'release';

/** A Service Bus peek-lock delivery; see the module's comment. */
export class AzureServiceBusDelivery implements Delivery {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly attempt: number;
  /**
   * The message's `deliveryCount` (the AMQP delivery-count: deliveries before this one that ended without a settle, a
   * lock that ran out or an abandon). Retries are scheduled copies, counted afresh.
   */
  readonly redeliveries?: number;
  readonly key?: string;
  /** The message's lock, renewed by {@link extend}; undefined in a session, whose lock the SDK renews. */
  readonly lockMs?: number;
  readonly #message: ServiceBusReceivedMessage;
  readonly #services: DeliveryServices;
  readonly #owner: SlotOwner;
  #settledBy: Settlement | undefined;
  #slotFreed = false;

  constructor(
    message: ServiceBusReceivedMessage,
    services: DeliveryServices,
    owner: SlotOwner,
    inSession = false,
  ) {
    this.#message = message;
    this.#services = services;
    this.#owner = owner;
    this.id = messageIdOf(message);
    this.body = bodyBytes(message);
    this.headers = readHeaders(message);
    this.attempt = deliveryAttempt(this.headers);
    if (Number.isInteger(message.deliveryCount) && message.deliveryCount! >= 0)
      this.redeliveries = message.deliveryCount!;
    if (message.sessionId !== undefined) this.key = message.sessionId;
    const reported = message.lockedUntilUtc ? message.lockedUntilUtc.getTime() - Date.now() : undefined;
    if (!inSession)
      this.lockMs = services.source.lockDurationMs ?? Math.max(1_000, reported ?? DEFAULT_LOCK_MS);
  }

  /** The received message (for tests and diagnostics). */
  get message(): ServiceBusReceivedMessage {
    return this.#message;
  }

  ack(): Promise<void> {
    return this.#settle('ack', () => this.#services.receiver.completeMessage(this.#message));
  }

  /** Abandon: back to the entity now, Hostwork's attempt header unchanged (a release is not an attempt). */
  release(): Promise<void> {
    return this.#settle('release', () => this.#services.receiver.abandonMessage(this.#message));
  }

  retry(delayMs: number, error: DeliveryError): Promise<void> {
    return this.#settle('retry', async () => {
      const { source } = this.#services;
      const original = this.#message;
      const properties: Record<string, string> = {
        ...retryHeaders(this.headers, error),
        [ID_HEADER]: this.id,
      };
      if (source.subscription !== undefined) properties[RETRY_FOR_HEADER] = source.path;
      const copy: ServiceBusMessage = {
        body: Buffer.from(this.body),
        messageId: copyMessageId(this.id, `retry-${error.attempt}`),
        applicationProperties: properties,
        ...(original.sessionId !== undefined ? { sessionId: original.sessionId } : {}),
        ...(original.contentType !== undefined ? { contentType: original.contentType } : {}),
        ...(original.subject !== undefined ? { subject: original.subject } : {}),
        ...(original.correlationId !== undefined ? { correlationId: original.correlationId } : {}),
      };
      await this.#services.sendCopy(copy, delayMs > 0 ? new Date(Date.now() + delayMs) : undefined);
      await this.#services.receiver.completeMessage(original);
    });
  }

  deadLetter(reason: DeadLetterReason, errors: readonly DeliveryError[]): Promise<void> {
    return this.#settle('deadLetter', () => {
      const headers = deadLetterHeaders(this.headers, reason, errors);
      // Only what changes is written: the service keeps the other properties as they are.
      const changed: Record<string, string> = {};
      for (const [key, value] of Object.entries(headers))
        if (this.headers[key] !== value) changed[key] = value;
      return this.#services.receiver.deadLetterMessage(this.#message, {
        ...changed,
        deadLetterReason: reason,
        deadLetterErrorDescription: (errors.at(-1)?.message ?? reason).slice(0, MAX_DEAD_LETTER_TEXT),
      });
    });
  }

  /** Renews the lock: it lasts another lock duration from now, whatever `ms` is (the service sets the length). */
  async extend(_ms: number): Promise<void> {
    if (this.#settledBy !== undefined) return;
    try {
      await this.#services.receiver.renewMessageLock(this.#message);
    } catch (error) {
      throw this.#failed('renew the lock of', error);
    }
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
          `Azure Service Bus: message '${this.id}' from '${this.#services.source.path}' was already settled by ${this.#settledBy}(); ${how}() cannot settle it again. Settle each delivery once.`,
        ),
      );
    }
    this.#settledBy = how;
    this.#freeSlot();
    return this.#services.track(
      run().catch((error: unknown) => {
        // Not settled for sure: it may be settled again (the service refuses a lock it no longer holds).
        this.#settledBy = undefined;
        throw this.#failed(how === 'ack' ? 'complete' : how, error);
      }),
    );
  }

  #failed(what: string, error: unknown): HostworkError {
    const code = (error as { code?: string })?.code;
    const lost = code === 'MessageLockLost';
    return new HostworkError(
      ErrorCodes.TRANSPORT_FAILED,
      lost
        ? `Azure Service Bus: could not ${what} message '${this.id}' from '${this.#services.source.path}': its lock was lost (it ran out, or the message was settled elsewhere); the service delivers it again. Renew locks before they run out, or raise the entity's LockDuration.`
        : `Azure Service Bus: could not ${what} message '${this.id}' from '${this.#services.source.path}': ${(error as Error)?.message ?? String(error)}.`,
      { cause: error },
    );
  }
}
