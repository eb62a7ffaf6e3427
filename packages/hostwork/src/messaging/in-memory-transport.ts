import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import { deadLetterHeaders, deliveryAttempt, retryHeaders } from './attempt-history.ts';
import type {
  ConsumerLag,
  DeadLetterReason,
  Delivery,
  DeliveryError,
  Destination,
  Headers,
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
  Transport,
} from './transport.ts';

/** A message held by an {@link InMemoryBroker}. */
export interface InMemoryMessage {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly key?: string;
}

/** A dead-lettered message, as {@link InMemoryBroker.deadLetters} lists it for assertions. */
export interface InMemoryDeadLetter extends InMemoryMessage {
  /** The source it was received from. */
  readonly source: string;
  readonly reason: DeadLetterReason;
  readonly errors: readonly DeliveryError[];
}

/** What a queue of an {@link InMemoryBroker} holds now. */
export interface InMemoryQueueDepth {
  /** Waiting to be delivered. */
  readonly ready: number;
  /** Waiting for their delay (a retry's backoff, a delayed send). */
  readonly delayed: number;
  /** Delivered and not yet settled. */
  readonly unacked: number;
}

interface Queue {
  readonly ready: InMemoryMessage[];
  /** When each ready message became ready (for {@link InMemoryTransport.lag}), by message object. */
  readonly readySince: WeakMap<InMemoryMessage, number>;
  readonly subscribers: InMemorySubscriber[];
  delayed: number;
  unacked: number;
  next: number;
  dispatching: boolean;
}

interface InMemorySubscriber {
  readonly source: string;
  readonly queue: Queue;
  readonly options: SubscribeOptions;
  readonly unsettled: Set<InMemoryDelivery>;
  stopped: boolean;
}

/** The broker's state and mechanics, kept off its public surface. */
class BrokerCore {
  readonly #queues = new Map<string, Queue>();
  readonly #deadLetters: InMemoryDeadLetter[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Lock of each delivery in ms, or undefined for locks lasting as long as the connection. */
  readonly lockMs: number | undefined;

  constructor(lockMs: number | undefined) {
    this.lockMs = lockMs;
  }

  /** Every message dead-lettered so far, oldest first (of one source when `source` is given). */
  deadLetters(source?: string): InMemoryDeadLetter[] {
    return this.#deadLetters.filter((d) => source === undefined || d.source === source);
  }

  /** How many messages `queue` holds, by state. */
  depth(queue: string): InMemoryQueueDepth {
    const q = this.#queues.get(queue);
    return { ready: q?.ready.length ?? 0, delayed: q?.delayed ?? 0, unacked: q?.unacked ?? 0 };
  }

  /**
   * What a broker restart does to its clients: every delivered, unsettled message returns to its queue (settling it
   * afterwards fails), subscriptions report `disconnected`, then `reconnected`, and receive again.
   */
  restart(): void {
    const error = new Error('the in-memory broker restarted');
    const subscribers = [...this.#queues.values()].flatMap((q) => q.subscribers);
    for (const s of subscribers) {
      for (const d of [...s.unsettled]) d.lose(error);
      s.options.events?.disconnected?.(error);
    }
    for (const s of subscribers) s.options.events?.reconnected?.();
    for (const q of this.#queues.values()) this.dispatch(q);
  }

  queue(name: string): Queue {
    let q = this.#queues.get(name);
    if (!q) {
      q = {
        ready: [],
        readySince: new WeakMap(),
        subscribers: [],
        delayed: 0,
        unacked: 0,
        next: 0,
        dispatching: false,
      };
      this.#queues.set(name, q);
    }
    return q;
  }

  /** Adds a message now, or after `delayMs` (a timer that does not keep the process alive). */
  enqueue(queue: string, message: InMemoryMessage, delayMs: number, front = false): void {
    const q = this.queue(queue);
    if (delayMs <= 0) {
      q.readySince.set(message, Date.now());
      if (front) q.ready.unshift(message);
      else q.ready.push(message);
      this.dispatch(q);
      return;
    }
    q.delayed++;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      q.delayed--;
      q.readySince.set(message, Date.now());
      q.ready.push(message);
      this.dispatch(q);
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }

  deadLetter(entry: InMemoryDeadLetter): void {
    this.#deadLetters.push(entry);
  }

  /** Hands ready messages to subscribers with room, round robin; never re-entered. */
  dispatch(q: Queue): void {
    if (q.dispatching) return;
    q.dispatching = true;
    queueMicrotask(() => {
      q.dispatching = false;
      for (;;) {
        if (q.ready.length === 0) return;
        const subscriber = this.#withRoom(q);
        if (!subscriber) return;
        const message = q.ready.shift()!;
        const delivery = new InMemoryDelivery(this, subscriber, message);
        subscriber.unsettled.add(delivery);
        q.unacked++;
        try {
          subscriber.options.onDelivery(delivery);
        } catch {
          // A throwing consumer callback must not stop the others: the delivery stays unsettled until its transport
          // closes, as with a broker.
        }
      }
    });
  }

  #withRoom(q: Queue): InMemorySubscriber | undefined {
    const n = q.subscribers.length;
    for (let i = 0; i < n; i++) {
      const s = q.subscribers[(q.next + i) % n]!;
      if (!s.stopped && s.unsettled.size < s.options.prefetch) {
        q.next = (q.next + i + 1) % n;
        return s;
      }
    }
    return undefined;
  }
}

/**
 * The queues behind one or more {@link inMemoryTransport}s, in this process's memory: like connections to one
 * broker, every transport made with the same broker sees the same queues. It keeps nothing across restarts of the
 * process. Read {@link deadLetters} and {@link depth} in tests.
 */
export class InMemoryBroker {
  /** Lock of each delivery in ms, or undefined for locks lasting as long as the connection. */
  readonly lockMs: number | undefined;

  /** `lockMs`: a lock per delivery, redelivered when it runs out unless extended (to test long handlers). */
  constructor(options: { readonly lockMs?: number } = {}) {
    assertKnownKeys('InMemoryBroker options', options, ['lockMs']);
    if (options.lockMs !== undefined && !(Number.isFinite(options.lockMs) && options.lockMs > 0)) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `inMemoryTransport: lockMs must be a number of ms > 0, got ${JSON.stringify(options.lockMs)}.`,
      );
    }
    this.lockMs = options.lockMs;
    cores.set(this, new BrokerCore(options.lockMs));
  }

  /** Every message dead-lettered so far, oldest first (of one source when `source` is given). */
  deadLetters(source?: string): InMemoryDeadLetter[] {
    return core(this).deadLetters(source);
  }

  /** How many messages `queue` holds, by state. */
  depth(queue: string): InMemoryQueueDepth {
    return core(this).depth(queue);
  }

  /**
   * What a broker restart does to its clients: every delivered, unsettled message returns to its queue (settling it
   * afterwards fails), subscriptions report `disconnected`, then `reconnected`, and receive again.
   */
  restart(): void {
    core(this).restart();
  }
}

const cores = new WeakMap<InMemoryBroker, BrokerCore>();

function core(broker: InMemoryBroker): BrokerCore {
  return cores.get(broker)!;
}

/** How many times each message went back to its queue unsettled (lost or released), as a broker counts. */
const redeliveries = new WeakMap<InMemoryMessage, number>();

/** One delivery: settled once; a second settle, or one after its loss, rejects. */
class InMemoryDelivery implements Delivery {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly attempt: number;
  readonly redeliveries: number;
  readonly key?: string;
  readonly lockMs?: number;
  readonly extend?: (ms: number) => Promise<void>;
  readonly #broker: BrokerCore;
  readonly #subscriber: InMemorySubscriber;
  readonly #message: InMemoryMessage;
  #done: Error | undefined;
  #lock: NodeJS.Timeout | undefined;

  constructor(broker: BrokerCore, subscriber: InMemorySubscriber, message: InMemoryMessage) {
    this.#broker = broker;
    this.#subscriber = subscriber;
    this.#message = message;
    this.id = message.id;
    this.body = message.body;
    this.headers = message.headers;
    this.attempt = deliveryAttempt(message.headers);
    this.redeliveries = redeliveries.get(message) ?? 0;
    if (message.key !== undefined) this.key = message.key;
    if (broker.lockMs !== undefined) {
      const lockMs = broker.lockMs;
      this.lockMs = lockMs;
      this.extend = async (ms) => {
        this.#settled('extend');
        this.#lockFor(ms);
      };
      this.#lockFor(lockMs);
    }
  }

  async ack(): Promise<void> {
    this.#finish('ack');
  }

  async retry(delayMs: number, error: DeliveryError): Promise<void> {
    this.#finish('retry');
    const copy = { ...this.#message, headers: retryHeaders(this.#message.headers, error) };
    this.#broker.enqueue(this.#source, copy, delayMs);
  }

  async deadLetter(reason: DeadLetterReason, errors: readonly DeliveryError[]): Promise<void> {
    this.#finish('deadLetter');
    this.#broker.deadLetter({
      ...this.#message,
      headers: deadLetterHeaders(this.#message.headers, reason, errors),
      source: this.#source,
      reason,
      errors: [...errors],
    });
  }

  async release(): Promise<void> {
    this.#finish('release');
    this.#redelivered();
    this.#broker.enqueue(this.#source, this.#message, 0, true);
  }

  /** The lock ran out, the connection closed or the broker restarted: back to the queue, settles fail from now. */
  lose(error: Error): void {
    if (this.#done) return;
    this.#end(error);
    this.#redelivered();
    this.#broker.enqueue(this.#source, this.#message, 0, true);
  }

  /** Counts a return of the message itself, as brokers count deliveries (retries are copies: counted afresh). */
  #redelivered(): void {
    redeliveries.set(this.#message, this.redeliveries + 1);
  }

  get #source(): string {
    return this.#subscriber.source;
  }

  #lockFor(ms: number): void {
    clearTimeout(this.#lock);
    this.#lock = setTimeout(
      () => this.lose(new Error(`the lock of message ${this.id} ran out (${ms} ms)`)),
      ms,
    );
    this.#lock.unref();
  }

  #settled(operation: string): void {
    if (this.#done) {
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        `Cannot ${operation} message ${this.id}: ${this.#done.message}.`,
      );
    }
  }

  #finish(operation: string): void {
    this.#settled(operation);
    this.#end(new Error('it was already settled'));
  }

  #end(reason: Error): void {
    this.#done = reason;
    clearTimeout(this.#lock);
    this.#subscriber.unsettled.delete(this);
    this.#subscriber.queue.unacked--;
    // A freed prefetch slot takes the next ready message.
    this.#broker.dispatch(this.#subscriber.queue);
  }
}

/**
 * A {@link Transport} in this process's memory, for development and for testing an application's consumers without a
 * broker (like the in-memory task queue): queues, delayed retries by timers, a dead-letter list readable for
 * assertions, release. Locks last as long as the connection unless the broker is made with `lockMs` (deliveries then
 * carry a lock that must be extended, to test long handlers). It keeps nothing across restarts: every message is lost
 * when the process ends.
 */
export class InMemoryTransport implements Transport {
  readonly kind = 'memory';
  /** The queues this transport reaches; give the same broker to several transports to share them. */
  readonly broker: InMemoryBroker;
  readonly #core: BrokerCore;
  readonly #subscribers = new Set<InMemorySubscriber>();
  #closed = false;

  constructor(broker: InMemoryBroker) {
    this.broker = broker;
    this.#core = core(broker);
  }

  async connect(): Promise<void> {
    this.#assertOpen('connect');
  }

  async subscribe(source: Destination, options: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen('subscribe');
    if (!(Number.isInteger(options.prefetch) && options.prefetch >= 1)) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `inMemoryTransport.subscribe: prefetch must be an integer >= 1, got ${JSON.stringify(options.prefetch)}.`,
      );
    }
    const queue = this.#core.queue(source.name);
    const subscriber: InMemorySubscriber = {
      source: source.name,
      queue,
      options,
      unsettled: new Set(),
      stopped: false,
    };
    this.#subscribers.add(subscriber);
    queue.subscribers.push(subscriber);
    this.#core.dispatch(queue);
    return {
      stop: async () => {
        subscriber.stopped = true;
        const i = queue.subscribers.indexOf(subscriber);
        if (i >= 0) queue.subscribers.splice(i, 1);
      },
    };
  }

  /**
   * The messages ready in the source's queue and not yet handed to a subscriber (delayed ones not counted), and how
   * long the first of them has been ready (released messages count from their release).
   */
  async lag(source: Destination): Promise<ConsumerLag> {
    this.#assertOpen('read the lag');
    const q = this.#core.queue(source.name);
    const first = q.ready[0];
    const since = first === undefined ? undefined : q.readySince.get(first);
    return {
      messages: q.ready.length,
      ...(since === undefined ? {} : { oldestAgeMs: Math.max(0, Date.now() - since) }),
    };
  }

  async publish(destination: Destination, messages: readonly OutgoingMessage[]): Promise<void> {
    this.#assertOpen('publish');
    for (const m of messages) {
      const message: InMemoryMessage = {
        id: m.id,
        body: m.body,
        headers: { ...m.headers },
        ...(m.key !== undefined ? { key: m.key } : {}),
      };
      this.#core.enqueue(destination.name, message, m.delayMs ?? 0);
    }
  }

  /** Closes: subscriptions end, and deliveries left unsettled return to their queues (as when a connection closes). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const error = new Error('its transport was closed');
    for (const s of this.#subscribers) {
      s.stopped = true;
      const i = s.queue.subscribers.indexOf(s);
      if (i >= 0) s.queue.subscribers.splice(i, 1);
      for (const d of [...s.unsettled]) d.lose(error);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(operation: string): void {
    if (this.#closed) {
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        `inMemoryTransport: cannot ${operation}, the transport is closed.`,
      );
    }
  }
}

/** What {@link inMemoryTransport} takes. */
export interface InMemoryTransportOptions {
  /** The queues to use; share one broker between transports (a publishing host and a consuming one). Default: new. */
  readonly broker?: InMemoryBroker;
  /** With a new broker: a lock per delivery of this many ms, redelivered when it runs out unless extended. */
  readonly lockMs?: number;
}

/**
 * An in-memory transport, for development and for testing an application's consumers without a broker. It keeps
 * nothing across restarts of the process; use a real broker for messages that must survive one.
 *
 * @example
 * ```ts
 * const memory = inMemoryTransport();
 * addMessaging(builder, { transports: { memory }, consumers: [ShipOrders] });
 * // ... after publishing a bad message:
 * assert.equal(memory.broker.deadLetters('orders')[0]?.reason, 'poison');
 * ```
 */
export function inMemoryTransport(options: InMemoryTransportOptions = {}): InMemoryTransport {
  assertKnownKeys('inMemoryTransport options', options, ['broker', 'lockMs']);
  if (options.broker && options.lockMs !== undefined) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      'inMemoryTransport: give lockMs to the shared broker (new InMemoryBroker({ lockMs })), not with broker.',
    );
  }
  return new InMemoryTransport(
    options.broker ?? new InMemoryBroker(options.lockMs !== undefined ? { lockMs: options.lockMs } : {}),
  );
}
