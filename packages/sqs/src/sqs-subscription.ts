/**
 * Receiving from one queue: ceil(prefetch / 10) long-polling loops, each asking for no more than the room left
 * (prefetch minus deliveries handed over and unsettled, held, or asked for by another loop), waiting for room before
 * its next receive: backpressure. A failed receive (broker unreachable) is reported once per outage and tried again
 * with backoff until it succeeds. On a FIFO queue one message per group is handed over at a time; later messages of
 * a busy group that came in the same batch are held until the one before is settled.
 */
import { type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SubscribeOptions, Subscription } from 'hostwork';
import {
  attributeValue,
  BODY_ATTRIBUTE,
  decodeBody,
  decodeHeaders,
  NOT_BEFORE_ATTRIBUTE,
} from './attributes.ts';
import { BATCH_SIZE } from './settle-batcher.ts';
import { type DeliveryContext, SqsDelivery } from './sqs-delivery.ts';
import { MAX_VISIBILITY_MS } from './sqs-transport-options.ts';

/** What a subscription takes besides the consumer's options. */
export interface SubscriptionContext extends Omit<DeliveryContext, 'settled'> {
  readonly waitTimeSeconds: number;
  /** The visibility timeout asked for on receive, when one is configured (else the queue's). */
  readonly requestedVisibilityMs: number | undefined;
  /** The visibility timeout in effect. */
  readonly visibilityMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  warn(details: object, message: string, error?: unknown): void;
  info(details: object, message: string): void;
}

/** A held message must have at least this much of its lock left to be handed over. */
const MIN_LOCK_LEFT_MS = 1_000;

/** A running receive from one queue. */
export class SqsSubscription implements Subscription {
  readonly #context: SubscriptionContext;
  readonly #deliveryContext: DeliveryContext;
  readonly #options: SubscribeOptions;
  readonly #abort = new AbortController();
  #loops: Promise<void>[] = [];
  #stopped = false;
  /** Handed over and not yet settled. */
  #outstanding = 0;
  /** Room asked for by receive calls under way. */
  #reserved = 0;
  /** FIFO: groups with a delivery handed over, and later messages of those groups held back, in order. */
  readonly #busyGroups = new Set<string>();
  readonly #held = new Map<string, SqsDelivery[]>();
  #heldCount = 0;
  /** Waiting for room (loops) . */
  #roomWaiters: (() => void)[] = [];
  /** Whether receiving is failing (one warning and one `disconnected` per outage). */
  #down = false;

  constructor(context: SubscriptionContext, options: SubscribeOptions) {
    this.#context = context;
    this.#options = options;
    this.#deliveryContext = { ...context, settled: (delivery, outcome) => this.#settled(delivery, outcome) };
  }

  /** Starts the receive loops. */
  start(): void {
    const loops = Math.max(1, Math.ceil(this.#options.prefetch / BATCH_SIZE));
    for (let i = 0; i < loops; i++) this.#loops.push(this.#loop());
  }

  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#abort.abort();
      this.#wake();
    }
    await Promise.all(this.#loops);
    // Held messages were never handed over: back to the queue, last first so a FIFO group keeps its order.
    const held = [...this.#held.values()].flat();
    this.#held.clear();
    this.#heldCount = 0;
    await this.#releaseAll(held.map((d) => d.message));
  }

  get #room(): number {
    return this.#options.prefetch - this.#outstanding - this.#heldCount - this.#reserved;
  }

  #wake(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
  }

  async #loop(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      if (this.#room <= 0) {
        await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
        continue;
      }
      const asked = Math.min(BATCH_SIZE, this.#room);
      this.#reserved += asked;
      const requestedAt = Date.now();
      let messages: Message[];
      try {
        const result = await this.#context.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.#context.queue.url,
            MaxNumberOfMessages: asked,
            WaitTimeSeconds: this.#context.waitTimeSeconds,
            VisibilityTimeout:
              this.#context.requestedVisibilityMs === undefined
                ? undefined
                : this.#context.requestedVisibilityMs / 1000,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'MessageGroupId', 'SentTimestamp'],
          }),
          { abortSignal: this.#abort.signal },
        );
        messages = result.Messages ?? [];
      } catch (error) {
        this.#reserved -= asked;
        if (this.#stopped) break;
        failures++;
        this.#failed(error);
        await this.#sleep(this.#backoff(failures));
        continue;
      }
      this.#reserved -= asked;
      if (failures > 0 || this.#down) this.#recovered();
      failures = 0;
      // SQS starts a message's visibility when it hands it out: a long poll answers at once then, so that is just
      // before the answer arrived (up to a second allowed for the network), not when a 20-s poll began.
      const answeredAt = Date.now();
      await this.#take(messages, answeredAt - Math.min(answeredAt - requestedAt, 1_000));
    }
  }

  /** Hands over (or holds, or defers) what one receive returned, in SQS's order. */
  async #take(messages: readonly Message[], receivedAt: number): Promise<void> {
    if (this.#stopped) {
      await this.#releaseAll(messages);
      return;
    }
    const now = Date.now();
    for (const message of messages) {
      const notBefore = Number(attributeValue(message.MessageAttributes, NOT_BEFORE_ATTRIBUTE) ?? 0);
      if (notBefore > now + 1_000) {
        // A delay longer than SQS's 15 min: hidden again until it is due (at most 12 h per hop).
        this.#hide(message, Math.min(notBefore - now, MAX_VISIBILITY_MS));
        continue;
      }
      const delivery = new SqsDelivery(this.#deliveryContext, message, {
        body: decodeBody(message.Body ?? '', attributeValue(message.MessageAttributes, BODY_ATTRIBUTE)),
        headers: decodeHeaders(message.MessageAttributes),
        receivedAt,
        lockUntil: receivedAt + this.#context.visibilityMs,
      });
      const group = this.#context.queue.fifo ? delivery.key : undefined;
      if (group !== undefined && (this.#busyGroups.has(group) || this.#held.has(group))) {
        const held = this.#held.get(group) ?? [];
        held.push(delivery);
        this.#held.set(group, held);
        this.#heldCount++;
        continue;
      }
      this.#handOver(delivery);
    }
  }

  #handOver(delivery: SqsDelivery): void {
    this.#outstanding++;
    if (this.#context.queue.fifo && delivery.key !== undefined) this.#busyGroups.add(delivery.key);
    try {
      this.#options.onDelivery(delivery);
    } catch (error) {
      this.#context.warn(
        { queue: this.#context.queue.name, messageId: delivery.id },
        'sqs: onDelivery threw; the delivery stays unsettled until the consumer settles it.',
        error,
      );
    }
  }

  #settled(delivery: SqsDelivery, outcome: 'gone' | 'back'): void {
    this.#outstanding--;
    const group = this.#context.queue.fifo ? delivery.key : undefined;
    if (group !== undefined) {
      this.#busyGroups.delete(group);
      // The group's next message is handed over after the settle call returns, not inside it.
      if (this.#held.has(group)) queueMicrotask(() => this.#advance(group, outcome));
    }
    this.#wake();
  }

  /** Hands over the next held message of a group whose message was settled, or sends the held ones back. */
  #advance(group: string, outcome: 'gone' | 'back'): void {
    const held = this.#held.get(group);
    if (held === undefined || this.#busyGroups.has(group)) return;
    const next = held[0]!;
    // Back in the queue (retry, release), stopping, or the next one's lock too short to use: the held ones go back,
    // so SQS hands the group out again in its order.
    if (outcome === 'back' || this.#stopped || next.lockUntil - Date.now() < MIN_LOCK_LEFT_MS) {
      this.#held.delete(group);
      this.#heldCount -= held.length;
      void this.#context.track(this.#releaseAll(held.map((d) => d.message)));
    } else {
      held.shift();
      this.#heldCount--;
      if (held.length === 0) this.#held.delete(group);
      this.#handOver(next);
    }
    this.#wake();
  }

  /**
   * Makes messages not handed over visible again at once, last first (a FIFO group's order holds in emulators that
   * put a message back at the front of its group), in batched visibility changes.
   */
  async #releaseAll(messages: readonly Message[]): Promise<void> {
    await Promise.all([...messages].reverse().map((message) => this.#changeVisibility(message, 0)));
  }

  #hide(message: Message, ms: number): void {
    void this.#context.track(this.#changeVisibility(message, ms));
  }

  async #changeVisibility(message: Message, ms: number): Promise<void> {
    try {
      await this.#context.batcher.changeVisibility(
        this.#context.queue.url,
        message.ReceiptHandle ?? '',
        Math.ceil(ms / 1000),
        Date.now() + this.#context.visibilityMs,
      );
    } catch (error) {
      // It comes back when its visibility timeout runs out: nothing lost.
      this.#context.warn(
        { queue: this.#context.queue.name, messageId: message.MessageId },
        'sqs: changing the visibility of a message not handed over failed; it is delivered again after its visibility timeout.',
        error,
      );
    }
  }

  #failed(error: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.#context.warn(
      { queue: this.#context.queue.name },
      'sqs: receiving failed; trying again with backoff until the queue answers.',
      error,
    );
    try {
      this.#options.events?.disconnected?.(error);
    } catch {
      // A listener's failure must not stop receiving.
    }
  }

  #recovered(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#context.info({ queue: this.#context.queue.name }, 'sqs: receiving again.');
    try {
      this.#options.events?.reconnected?.();
    } catch {
      // A listener's failure must not stop receiving.
    }
  }

  #backoff(failures: number): number {
    const base = Math.min(this.#context.reconnectMaxMs, this.#context.reconnectMinMs * 2 ** (failures - 1));
    return base / 2 + Math.random() * (base / 2);
  }

  /** Waits `ms`, or less when the subscription stops. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#abort.signal.addEventListener('abort', done, { once: true });
    });
  }
}
