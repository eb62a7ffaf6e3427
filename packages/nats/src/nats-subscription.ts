/**
 * One consumer of one source: a durable JetStream pull consumer read through pull requests of its own on an inbox, so
 * that what is handed over is exactly bounded: never more than `prefetch` deliveries handed over and not yet settled.
 * The next messages are requested while those run: requested-and-not-received plus received-and-not-handed-over stay
 * within `prefetch` too, refilled (one request for them all) once a quarter of it is free. A message that arrives
 * while every slot is busy waits in a small buffer, kept locked (`+WPI`), and is handed over as slots free. A pull
 * request lives 30 s with an idle heartbeat every 5 s; a request that expired (408) or was ended (409) returns its
 * unfilled count and another is sent.
 *
 * Not handed over: a message not yet due (`hostwork-not-before`: a retry waiting out its backoff, a delayed publish)
 * goes back with `nak(delay)` for the time left, and a retry copy for another durable consumer of the stream is
 * acknowledged. After `stop()` every message still arriving is handed back (`nak()`), and the inbox is drained.
 *
 * After a reconnect (or two missed heartbeats) the consumer is checked (declared again where Hostwork declares it: a
 * memory stream does not survive a restart) and pulled from again. Every few seconds the consumer's ack-pending count
 * is read: a warning says when it nears `max_ack_pending`, where JetStream stops delivering to the consumer at all.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription as NatsInboxSubscription } from '@nats-io/transport-node';
import { createInbox } from '@nats-io/transport-node';
import type { Headers, SubscribeOptions, Subscription, SubscriptionEvents } from 'hostwork';
import { ID_HEADER, notBefore, RETRY_FOR_HEADER, readMessageHeaders } from './headers.ts';
import { ACK, type DeliveryServices, NAK, NatsDelivery, type SlotOwner, WORKING } from './nats-delivery.ts';
import type { ResolvedSource } from './nats-transport-options.ts';
import { ackPending, type ConsumerSettings } from './topology.ts';
import type { WarningListener } from './warnings.ts';

/** How long a pull request waits on the server for messages. */
const PULL_EXPIRES_MS = 30_000;
/** The server's heartbeat on a waiting pull request; two missed ones and the requests are presumed lost. */
const HEARTBEAT_MS = 5_000;
/** The longest `stop()` waits for the server to confirm the inbox is drained. */
const DRAIN_TIMEOUT_MS = 5_000;
/** The ack-pending share of `max_ack_pending` that warns before JetStream stalls the consumer. */
const ACK_PENDING_WARN_AT = 0.8;
const NS_PER_MS = 1_000_000;

/** What a subscription needs from its transport. */
export interface SubscriptionHost {
  readonly warn: WarningListener;
  /** The current connection, waiting through a reconnect; rejects once the transport closes. */
  connection(): Promise<NatsConnection>;
  /** The JetStream manager of the current connection. */
  manager(): Promise<JetStreamManager>;
  /** Declares (or checks) the source's streams and consumer; the consumer's settings. */
  ensureSource(source: ResolvedSource, prefetch: number): Promise<ConsumerSettings>;
  /** Writes `payload` to an ack subject without waiting for the server. */
  respondNow(reply: string, payload: string): void;
  /** Runs `pull` in the transport's next tick, before the PING of the settles written meanwhile (one socket write). */
  onNextTick(pull: () => void): void;
  /** Backoff before the `n`th consecutive attempt (1-based). */
  backoffMs(n: number): number;
  /** Resolves after `ms`, or at once when the transport closes. */
  sleep(ms: number): Promise<void>;
  isClosing(): boolean;
  /** How often the consumer's ack-pending count is read. */
  ackPendingCheckMs(): number;
  /** The services of this source's deliveries, given the consumer's settings. */
  services(source: ResolvedSource, settings: ConsumerSettings): DeliveryServices;
}

/** A message received and not yet handed over. */
interface Held {
  readonly msg: Msg;
  readonly headers: Record<string, string>;
  readonly msgId: string | undefined;
  /** When it was received, or last reported as being worked on (`+WPI`, which restarts its AckWait). */
  since: number;
}

/** A running pull consumer; see the module's comment. */
export class NatsSubscription implements Subscription {
  readonly #host: SubscriptionHost;
  readonly #source: ResolvedSource;
  readonly #prefetch: number;
  readonly #onDelivery: SubscribeOptions['onDelivery'];
  readonly #events: SubscriptionEvents | undefined;
  readonly #nextSubject: string;
  /** The free slots a pull waits for while requests are open. */
  readonly #refillAt: number;
  #services: DeliveryServices | undefined;
  #settings: ConsumerSettings | undefined;
  #connection: NatsConnection | undefined;
  #inbox = '';
  #sub: NatsInboxSubscription | undefined;
  /** Handed over, no settle call yet. */
  #handed = 0;
  /** Requested from the server and not yet received, expired or ended. */
  #outstanding = 0;
  readonly #held: Held[] = [];
  /** Keeps the held messages locked while they wait (see #keepHeld). */
  #heldTimer: NodeJS.Timeout | undefined;
  #lastActivity = Date.now();
  #pullScheduled = false;
  /** Received in this read of the socket, handed over in a moment (see #arrivedRead). */
  #arrived: Held[] = [];
  #stopped = false;
  #disconnected = false;
  #recovering: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];
  /** The last ack-pending warning given: none, nearing the limit, at it. */
  #ackPendingLevel: 'ok' | 'high' | 'full' = 'ok';

  constructor(host: SubscriptionHost, source: ResolvedSource, options: SubscribeOptions) {
    this.#host = host;
    this.#source = source;
    this.#prefetch = options.prefetch;
    this.#onDelivery = options.onDelivery;
    this.#events = options.events;
    this.#nextSubject = `$JS.API.CONSUMER.MSG.NEXT.${source.stream}.${source.durable}`;
    this.#refillAt = Math.max(1, Math.floor(options.prefetch / 4));
  }

  /** Declares, checks and starts pulling; errors (a missing stream...) reach the caller of `subscribe`. */
  async start(): Promise<void> {
    await this.#attach();
    this.#pull();
    this.#timers.push(setInterval(() => this.#checkHeartbeats(), HEARTBEAT_MS));
    this.#timers.push(setInterval(() => void this.#checkAckPending(), this.#host.ackPendingCheckMs()));
    for (const timer of this.#timers) timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    clearInterval(this.#heldTimer);
    this.#heldTimer = undefined;
    for (const held of this.#held.splice(0)) this.#handBack(held.msg);
    const sub = this.#sub;
    this.#sub = undefined;
    if (!sub || sub.isClosed()) return;
    if (this.#disconnected) {
      // Nothing can arrive: the server dropped this inbox's pull requests with the connection.
      sub.unsubscribe();
      return;
    }
    // Drain: the server hears the unsubscribe, and what it sent before that still arrives (and is handed back). A
    // server that does not answer is not waited for long: what it sends later comes back after its AckWait.
    const drained = sub.drain().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)))]);
    clearTimeout(timer);
    if (!sub.isClosed()) sub.unsubscribe();
  }

  /** The transport lost its connection (it reconnects by itself). */
  disconnected(error: unknown): void {
    if (this.#stopped || this.#disconnected) return;
    this.#disconnected = true;
    try {
      this.#events?.disconnected?.(error);
    } catch {
      // An event listener must not break the transport.
    }
  }

  /** The transport is connected again: check the consumer and pull again. */
  reconnected(): void {
    this.#recover();
  }

  /** Declares (or checks) the consumer and subscribes the inbox on the current connection; pulls nothing yet. */
  async #attach(): Promise<void> {
    const settings = await this.#host.ensureSource(this.#source, this.#prefetch);
    if (settings.maxAckPending !== -1 && settings.maxAckPending < this.#prefetch && !this.#settings)
      this.#host.warn(
        `NATS: consumer '${this.#source.durable}' of stream '${this.#source.stream}' has max_ack_pending ${settings.maxAckPending}, below this subscription's prefetch ${this.#prefetch}: at most ${settings.maxAckPending} messages are handled at once. Raise it (the source's 'maxAckPending' option, with declare: true).`,
        undefined,
        {
          warning: 'max-ack-pending-below-prefetch',
          stream: this.#source.stream,
          durable: this.#source.durable,
          maxAckPending: settings.maxAckPending,
          prefetch: this.#prefetch,
        },
      );
    this.#settings = settings;
    this.#services = this.#host.services(this.#source, settings);
    const connection = await this.#host.connection();
    if (this.#stopped) return;
    if (connection !== this.#connection || !this.#sub || this.#sub.isClosed()) {
      this.#sub?.unsubscribe();
      this.#connection = connection;
      this.#inbox = createInbox();
      this.#sub = connection.subscribe(this.#inbox, {
        callback: (error, msg) => this.#receive(error, msg),
      });
    }
    // Requests made before are gone with the old server, or answered into the buffer: count afresh.
    this.#outstanding = 0;
    this.#lastActivity = Date.now();
  }

  #receive(error: Error | null, msg: Msg): void {
    if (error) {
      // The server refused the inbox (permissions): nothing arrives on it any more.
      this.#host.warn(
        `NATS: the inbox of consumer '${this.#source.durable}' on stream '${this.#source.stream}' failed; subscribing again.`,
        error,
        { warning: 'inbox-failed', stream: this.#source.stream, durable: this.#source.durable },
      );
      this.#sub = undefined;
      this.#recover();
      return;
    }
    const now = Date.now();
    this.#lastActivity = now;
    // A message has its ack subject; a status message (heartbeat, 408, 409) has none, and comes on the inbox itself.
    const reply = msg.reply;
    if (!reply && msg.subject === this.#inbox) {
      this.#status(msg);
      return;
    }
    if (this.#outstanding > 0) this.#outstanding--;
    if (!reply) return;
    if (this.#stopped || this.#host.isClosing()) {
      this.#handBack(msg);
      return;
    }
    const { headers, msgId } = readMessageHeaders(msg);
    const retryFor = headers[RETRY_FOR_HEADER];
    if (retryFor !== undefined && retryFor !== this.#source.durable) {
      // Another consumer's retry copy: not for this one.
      this.#host.respondNow(reply, ACK);
      this.#schedulePull();
      return;
    }
    const due = notBefore(headers);
    const wait = due === undefined ? 0 : due - now;
    if (wait > 0) {
      // Not due yet: back to the consumer for the time left, no attempt counted (the headers are unchanged).
      this.#host.respondNow(reply, `${NAK} ${JSON.stringify({ delay: Math.ceil(wait) * NS_PER_MS })}`);
      this.#schedulePull();
      return;
    }
    // Handed over once the refill request for this read of the socket is written (see #arrivedRead).
    this.#arrived.push({ msg, headers, msgId, since: now });
    if (this.#arrived.length === 1) queueMicrotask(this.#arrivedRead);
  }

  /** A status message of a pull request: a heartbeat, a request that expired (408) or was ended (409). */
  #status(msg: Msg): void {
    const code = msg.headers?.code ?? 0;
    if (code === 100) return;
    const pending = msg.headers?.get('Nats-Pending-Messages');
    const unfilled = pending ? Number(pending) : Number.NaN;
    // Without the count the request's share is unknown: start afresh (a late answer waits in the buffer).
    this.#outstanding = Number.isInteger(unfilled) ? Math.max(0, this.#outstanding - unfilled) : 0;
    const description = msg.headers?.description ?? '';
    if (code === 408 || code === 404) {
      this.#schedulePull();
      return;
    }
    if (code === 409 && /consumer (is )?deleted/i.test(description)) {
      this.#host.warn(
        `NATS: consumer '${this.#source.durable}' of stream '${this.#source.stream}' was deleted; subscribing again.`,
        undefined,
        { warning: 'consumer-deleted', stream: this.#source.stream, durable: this.#source.durable },
      );
      this.#recover();
      return;
    }
    if (code === 409 && /leadership/i.test(description)) {
      this.#schedulePull();
      return;
    }
    this.#host.warn(
      `NATS: a pull request of consumer '${this.#source.durable}' on stream '${this.#source.stream}' ended with ${code} ${description}; pulling again in a second.`,
      undefined,
      {
        warning: 'pull-ended',
        stream: this.#source.stream,
        durable: this.#source.durable,
        code,
        description,
      },
    );
    const timer = setTimeout(() => this.#schedulePull(), 1_000);
    timer.unref();
  }

  #hand(msg: Msg, headers: Headers, msgId: string | undefined): void {
    const services = this.#services;
    if (!services) {
      this.#handBack(msg);
      return;
    }
    this.#handed++;
    const id = headers[ID_HEADER] ?? (msgId || `${this.#source.stream}-${streamSequence(msg.reply)}`);
    this.#onDelivery(
      new NatsDelivery(id, msg, headers, deliveredCount(msg.reply) - 1, services, this.#slots),
    );
  }

  /** What deliveries tell when their first settle call starts (one object, not a closure per delivery). */
  readonly #slots: SlotOwner = { freed: () => this.#freed() };

  /** A delivery's first settle call started: its slot is free. */
  #freed(): void {
    this.#handed--;
    if (!this.#stopped) {
      const next = this.#held.shift();
      if (next) this.#hand(next.msg, next.headers, next.msgId);
    }
    this.#schedulePull();
  }

  /**
   * While messages wait in the buffer, each is reported as being worked on (`+WPI`) every third of the AckWait, as
   * the engine extends a running delivery: a message waiting behind slow handlers is not delivered again elsewhere.
   */
  #keepHeld(): void {
    if (this.#heldTimer !== undefined) return;
    const every = Math.max(100, Math.floor((this.#settings?.ackWaitMs ?? this.#source.ackWaitMs) / 3));
    this.#heldTimer = setInterval(() => {
      if (this.#held.length === 0 || this.#stopped) {
        clearInterval(this.#heldTimer);
        this.#heldTimer = undefined;
        return;
      }
      const now = Date.now();
      for (const held of this.#held) {
        if (now - held.since < every || !held.msg.reply) continue;
        held.since = now;
        this.#host.respondNow(held.msg.reply, WORKING);
      }
    }, every);
    this.#heldTimer.unref();
  }

  /** Back to the consumer now, uncounted: received after stop() or while closing. */
  #handBack(msg: Msg): void {
    if (msg.reply) this.#host.respondNow(msg.reply, NAK);
  }

  /**
   * The messages of one read of the socket have arrived: the request refilling what they took leaves first (the
   * client writes it in the microtask it queues now), and they are handed over after it, so the next messages are on
   * their way while the handlers run (as with nats.js's consume(), which requests before its callbacks run).
   */
  readonly #arrivedRead = (): void => {
    this.#pull();
    queueMicrotask(this.#handArrived);
  };

  readonly #handArrived = (): void => {
    const arrived = this.#arrived;
    this.#arrived = [];
    for (const next of arrived) {
      if (this.#stopped || this.#host.isClosing()) this.#handBack(next.msg);
      else if (this.#handed >= this.#prefetch || this.#held.length > 0) {
        // Behind the ones waiting already: in order.
        this.#held.push(next);
        this.#keepHeld();
      } else this.#hand(next.msg, next.headers, next.msgId);
    }
  };

  /** One pull per turn of the event loop, for every slot freed in it. */
  #schedulePull(): void {
    if (this.#pullScheduled || this.#stopped) return;
    this.#pullScheduled = true;
    this.#host.onNextTick(() => {
      this.#pullScheduled = false;
      this.#pull();
    });
  }

  /** Received and not handed over: those in the buffer, and those just arrived that will wait there. */
  #waiting(): number {
    const free = this.#held.length > 0 ? 0 : Math.max(0, this.#prefetch - this.#handed);
    return this.#held.length + Math.max(0, this.#arrived.length - free);
  }

  #pull(): void {
    if (this.#stopped || this.#disconnected || this.#recovering || this.#host.isClosing()) return;
    const connection = this.#connection;
    if (!connection || !this.#sub || connection.isClosed()) return;
    // Requested and received-not-handed-over together stay within the prefetch, whatever is handed over: the next
    // messages are on their way while the handlers run (as the nats.js consume() loop keeps its batch requested), and
    // the handed-over ones never exceed the prefetch (what arrives beyond waits in the buffer, see #keepHeld).
    const batch = this.#prefetch - this.#waiting() - this.#outstanding;
    if (batch <= 0) return;
    // While requests are still open, wait for a quarter of the prefetch to be free: fewer, larger pull requests (each
    // costs the server as much as a message), as the nats.js consume() loop refills at 75%.
    if (this.#outstanding > 0 && batch < this.#refillAt) return;
    if (this.#outstanding === 0) this.#lastActivity = Date.now();
    this.#outstanding += batch;
    try {
      connection.publish(
        this.#nextSubject,
        JSON.stringify({
          batch,
          expires: PULL_EXPIRES_MS * NS_PER_MS,
          idle_heartbeat: HEARTBEAT_MS * NS_PER_MS,
        }),
        { reply: this.#inbox },
      );
    } catch {
      // The connection closed under it: the reconnect pulls again.
      this.#outstanding -= batch;
    }
  }

  /** Requests outstanding and neither a message nor a heartbeat for two heartbeats: they are gone; start afresh. */
  #checkHeartbeats(): void {
    if (this.#stopped || this.#disconnected || this.#recovering || this.#outstanding === 0) return;
    if (Date.now() - this.#lastActivity < HEARTBEAT_MS * 2 + 1_000) return;
    this.#recover();
  }

  /** Warns as the consumer's unacknowledged deliveries near `max_ack_pending`, where JetStream stalls it. */
  async #checkAckPending(): Promise<void> {
    if (this.#stopped || this.#disconnected || this.#host.isClosing()) return;
    let state: { pending: number; max: number } | undefined;
    try {
      state = await ackPending(await this.#host.manager(), this.#source);
    } catch {
      return; // Reported by the connection's own warnings.
    }
    if (!state || state.max < 1) return;
    const { pending, max } = state;
    const level = pending >= max ? 'full' : pending >= max * ACK_PENDING_WARN_AT ? 'high' : 'ok';
    const previous = this.#ackPendingLevel;
    // Calm again only once well below the mark: no warning flapping at the threshold.
    if (level === 'ok' && previous !== 'ok' && pending >= max * (ACK_PENDING_WARN_AT - 0.3)) return;
    this.#ackPendingLevel = level;
    if (level === 'ok' || level === previous || (level === 'high' && previous === 'full')) return;
    const fields = {
      stream: this.#source.stream,
      durable: this.#source.durable,
      numAckPending: pending,
      maxAckPending: max,
    };
    const fix = `Raise the source's 'maxAckPending' (with declare: true), shorten the backoff, or add processes.`;
    if (level === 'full')
      this.#host.warn(
        `NATS: consumer '${this.#source.durable}' of stream '${this.#source.stream}' is stalled: ${pending} deliveries are unacknowledged, its max_ack_pending is ${max}, and JetStream delivers it nothing more until some are settled (retries waiting out their backoff count too). ${fix}`,
        undefined,
        { warning: 'ack-pending-full', ...fields },
      );
    else
      this.#host.warn(
        `NATS: consumer '${this.#source.durable}' of stream '${this.#source.stream}' has ${pending} unacknowledged deliveries of its max_ack_pending ${max} (retries waiting out their backoff count too); at ${max} JetStream stops delivering to it. ${fix}`,
        undefined,
        { warning: 'ack-pending-high', ...fields },
      );
  }

  /** Checks (or declares) the consumer and pulls again, with backoff, until it works or the subscription stops. */
  #recover(): void {
    if (this.#recovering || this.#stopped) return;
    this.#recovering = (async () => {
      for (let attempt = 1; !this.#stopped && !this.#host.isClosing(); attempt++) {
        try {
          await this.#attach();
          if (this.#stopped || this.#host.isClosing()) return;
          if (this.#disconnected) {
            this.#disconnected = false;
            try {
              this.#events?.reconnected?.();
            } catch {
              // As above.
            }
          }
          return;
        } catch (failure) {
          if (this.#stopped || this.#host.isClosing()) return;
          this.#host.warn(
            `NATS: consuming '${this.#source.subject}' (consumer '${this.#source.durable}' of stream '${this.#source.stream}') again failed (attempt ${attempt}); trying again.`,
            failure,
            {
              warning: 'resubscribe-failed',
              stream: this.#source.stream,
              durable: this.#source.durable,
              attempt,
            },
          );
          await this.#host.sleep(this.#host.backoffMs(attempt));
        }
      }
    })().finally(() => {
      this.#recovering = undefined;
      // Pulling waits for the recovery to be over.
      this.#schedulePull();
    });
  }
}

/**
 * How many times the consumer delivered the message, this delivery included (the ack subject's `delivered` token):
 * JetStream counts AckWait expiries and `nak()`s. 1 when the subject cannot be read.
 */
function deliveredCount(reply: string | undefined): number {
  const tokens = (reply ?? '').split('.');
  const n = Number(tokens.length === 9 ? tokens[4] : tokens[6]);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** The stream sequence in an ack subject (`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...`, v1 or v2). */
function streamSequence(reply: string | undefined): string {
  const tokens = (reply ?? '').split('.');
  // v1: $JS.ACK.stream.consumer.delivered.sseq.dseq.ts.pending (9); v2 adds the domain and account hash.
  return (tokens.length === 9 ? tokens[5] : tokens[7]) ?? '?';
}
