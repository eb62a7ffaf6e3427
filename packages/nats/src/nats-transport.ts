/**
 * The NATS JetStream transport: one connection (`@nats-io/transport-node`), a durable pull consumer per subscription,
 * and JetStream publishes, each resolving once the stream acknowledged it. The client reconnects by itself after a
 * loss, with backoff (100 ms doubling to 5 s by default), forever; every subscription then checks its consumer and
 * pulls again. See the package's README for the mapping to streams and consumers and the guarantees.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import {
  type ConsumerLag,
  type Destination,
  ErrorCodes,
  type Headers,
  HostworkError,
  type LoggerFactory,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from 'hostwork';
import { NOT_BEFORE_HEADER, writeHeaders } from './headers.ts';
import { ACK, type DeliveryServices, NAK, TERM, WORKING } from './nats-delivery.ts';
import { NatsSubscription, type SubscriptionHost } from './nats-subscription.ts';
import {
  type NatsTransportOptions,
  type ResolvedOptions,
  type ResolvedSource,
  resolveOptions,
  resolveSource,
} from './nats-transport-options.ts';
import {
  type ConsumerSettings,
  consumerInfo,
  ensureConsumer,
  ensureDeadLetterStream,
  ensureStream,
} from './topology.ts';
import { WarningRoute } from './warnings.ts';

/** How many times a publish is tried when the stream's acknowledgement does not come (a lost connection). */
const MAX_PUBLISH_ATTEMPTS = 10;
/** The settle payloads without a delay, encoded once. */
const ENCODED = new Map<string, Uint8Array>(
  [ACK, NAK, TERM, WORKING].map((p) => [p, new TextEncoder().encode(p)]),
);

/** A settle payload as bytes (the common ones encoded once). */
function payloadBytes(payload: string): Uint8Array | string {
  return ENCODED.get(payload) ?? payload;
}

/** A connection with its JetStream client and manager. */
interface Connected {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
}

/** Creates a {@link NatsTransport}; nothing connects until `connect()`, `subscribe()` or `publish()`. */
export function natsTransport(options: NatsTransportOptions = {}): NatsTransport {
  return new NatsTransport(options);
}

/** The NATS JetStream {@link Transport}; see the module's comment and the package's README. */
export class NatsTransport implements Transport {
  readonly kind = 'nats';
  readonly #options: ResolvedOptions;
  readonly #warnings: WarningRoute;
  #connected: Connected | undefined;
  #connecting: Promise<Connected> | undefined;
  readonly #subscriptions = new Set<NatsSubscription>();
  readonly #pending = new Set<Promise<unknown>>();
  /** Streams checked (or declared) before publishing to them, by stream and subject. */
  readonly #publishDeclared = new Map<string, Promise<void>>();
  /** When the connection was lost (the reconnect backoff grows with the time since). */
  #lostAt: number | undefined;
  /** A flush (PING/PONG) collecting every ack written before it is sent. */
  #nextFlush: (PromiseWithResolvers<void> & { readonly nc: NatsConnection }) | undefined;
  /** Pull requests to send in the next tick (see #scheduleTick). */
  readonly #pulls: (() => void)[] = [];
  /** Settles to write in the next tick: ack subject, payload, ack subject, payload... */
  #writes: string[] = [];
  /** Resolved once the next tick has handed #writes to the client, which writes them to the socket at once after. */
  #written: PromiseWithResolvers<void> | undefined;
  #tickScheduled = false;
  #closing: Promise<void> | undefined;
  /** Wakes sleeping retry loops when the transport closes. */
  readonly #closed = Promise.withResolvers<void>();
  #final = false;

  constructor(options: NatsTransportOptions = {}) {
    this.#options = resolveOptions(options);
    this.#warnings = new WarningRoute(this.#options.onWarning);
  }

  /** Sends the transport's warnings to the host's logger, category `Hostwork.NATS` (unless `onWarning` was given). */
  attachLogger(loggers: LoggerFactory): void {
    this.#warnings.attach(loggers.create('Hostwork.NATS'));
  }

  /** Whether the transport is connected now (false while reconnecting and after close). */
  get connected(): boolean {
    return this.#connected !== undefined && this.#lostAt === undefined && !this.#connected.nc.isClosed();
  }

  connect(): Promise<void> {
    return this.#connection().then(() => undefined);
  }

  async subscribe(source: Destination, options: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen();
    const resolved = resolveSource(source.name, source.options, this.#options);
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1 || options.prefetch > 10_000)
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `natsTransport: the prefetch of '${resolved.subject}' must be a whole number from 1 to 10000, got ${options.prefetch}.`,
      );
    const subscription = new NatsSubscription(this.#subscriptionHost, resolved, options);
    await subscription.start();
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async publish(destination: Destination, messages: readonly OutgoingMessage[]): Promise<void> {
    this.#assertOpen();
    const target = resolveSource(destination.name, destination.options, this.#options, 'destination');
    const run = (async () => {
      if (target.declare) await this.#declaredForPublishRetrying(target);
      await Promise.all(
        messages.map((message) => {
          const headers: Record<string, string> = { ...message.headers };
          if (message.delayMs !== undefined && message.delayMs >= 1)
            headers[NOT_BEFORE_HEADER] = String(Date.now() + message.delayMs);
          return this.#publishOne(target.subject, message.body, headers, message.id);
        }),
      );
    })();
    return this.#track(run);
  }

  /**
   * The messages of the source's stream, on its subject, that its durable consumer has not delivered yet (the
   * consumer's `num_pending`, one JetStream API request); deliveries awaiting their ack are not counted, nor the few
   * (within its prefetch) a running subscription has pulled ahead of its free slots. Undefined when the consumer does
   * not exist.
   */
  async lag(source: Destination): Promise<ConsumerLag | undefined> {
    this.#assertOpen();
    const resolved = resolveSource(source.name, source.options, this.#options);
    const { jsm } = await this.#connection();
    const info = await consumerInfo(jsm, resolved.stream, resolved.durable);
    return info === undefined ? undefined : { messages: info.num_pending };
  }

  /**
   * Deletes what Hostwork declared for `source`: its consumer and dead-letter stream, and its stream when `stream` is
   * true. For tests and for tearing a consumer down for good.
   */
  async deleteTopology(source: Destination, options: { readonly stream?: boolean } = {}): Promise<void> {
    const resolved = resolveSource(source.name, source.options, this.#options);
    const { jsm } = await this.#connection();
    const ignoreMissing = (error: unknown) => {
      if (!/not found/i.test((error as Error)?.message ?? '')) throw error;
    };
    await jsm.consumers.delete(resolved.stream, resolved.durable).catch(ignoreMissing);
    await jsm.streams.delete(resolved.deadLetterStream).catch(ignoreMissing);
    if (options.stream) await jsm.streams.delete(resolved.stream).catch(ignoreMissing);
    for (const key of [...this.#publishDeclared.keys()])
      if (key.startsWith(`${resolved.stream}\0`)) this.#publishDeclared.delete(key);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- connection ---------------------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closing)
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        'natsTransport: the transport is closed; create a new one to connect again.',
      );
  }

  /** The connection: the current one (the client reconnects it by itself), or the first being opened. */
  #connection(): Promise<Connected> {
    if (this.#final)
      return Promise.reject(
        new HostworkError(ErrorCodes.HOST_STATE, 'natsTransport: the transport is closed; create a new one.'),
      );
    const current = this.#connected;
    if (current && !current.nc.isClosed()) return Promise.resolve(current);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<Connected> {
    const servers = this.#options.servers.join(', ');
    let nc: NatsConnection;
    try {
      nc = await connect({
        ...(this.#options.connectionOptions as NodeConnectionOptions),
        servers: this.#options.servers,
        name: this.#options.connectionName,
        // The client reconnects for as long as the transport is open, waiting longer the longer the server is away.
        maxReconnectAttempts: -1,
        reconnectDelayHandler: () => this.#reconnectDelay(),
      });
    } catch (error) {
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `natsTransport: cannot connect to NATS at ${servers}: ${(error as Error).message}. Check 'servers', that nats-server runs, and the credentials.`,
        { cause: error },
      );
    }
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: this.#options.publishTimeoutMs });
    } catch (error) {
      await nc.close().catch(() => {});
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `natsTransport: JetStream is not available on ${servers}: ${(error as Error).message}. Start nats-server with JetStream (-js), or enable it for the account.`,
        { cause: error },
      );
    }
    if (this.#final) {
      await nc.close().catch(() => {});
      throw new HostworkError(ErrorCodes.HOST_STATE, 'natsTransport: the transport closed while connecting.');
    }
    const connected: Connected = { nc, jsm, js: jetstream(nc, { timeout: this.#options.publishTimeoutMs }) };
    this.#connected = connected;
    this.#lostAt = undefined;
    this.#publishDeclared.clear();
    void this.#watch(connected);
    void nc.closed().then(() => this.#reopen(connected));
    return connected;
  }

  /** Reports the connection's losses and reconnects, and has every subscription pull again after one. */
  async #watch(connected: Connected): Promise<void> {
    const { nc } = connected;
    let attempts = 0;
    for await (const status of nc.status()) {
      if (this.#closing) continue;
      switch (status.type) {
        case 'disconnect':
          this.#lostAt ??= Date.now();
          attempts = 0;
          this.#warn(
            `NATS: the connection to ${status.server} was lost; reconnecting.`,
            new Error('disconnected'),
            {
              warning: 'connection-lost',
              server: status.server,
            },
          );
          for (const s of this.#subscriptions)
            s.disconnected(new Error(`disconnected from ${status.server}`));
          break;
        case 'reconnecting':
          attempts++;
          break;
        case 'reconnect':
          this.#lostAt = undefined;
          this.#publishDeclared.clear();
          this.#warn(`NATS: reconnected to ${status.server} after ${attempts} attempt(s).`, undefined, {
            warning: 'reconnected',
            server: status.server,
            attempts,
          });
          for (const s of this.#subscriptions) s.reconnected();
          break;
        case 'error':
          this.#warn('NATS: the connection reported an error.', status.error, {
            warning: 'connection-error',
          });
          break;
        case 'slowConsumer':
          this.#warn(
            `NATS: this client is too slow for subscription ${status.sub.getSubject()}; the server may drop its messages.`,
            undefined,
            { warning: 'slow-consumer' },
          );
          break;
        default:
          break;
      }
    }
  }

  /** The connection closed for good (the client gave up, or the server refused it): connect again, with backoff. */
  async #reopen(connected: Connected): Promise<void> {
    if (this.#closing || this.#connected !== connected) return;
    this.#connected = undefined;
    this.#warn('NATS: the connection closed; connecting again.', undefined, { warning: 'connection-closed' });
    for (const s of this.#subscriptions) s.disconnected(new Error('connection closed'));
    for (let attempt = 1; !this.#closing; attempt++) {
      await this.#sleep(this.#backoffMs(attempt));
      if (this.#closing) return;
      try {
        await this.#connection();
        for (const s of this.#subscriptions) s.reconnected();
        return;
      } catch (error) {
        this.#warn(`NATS: connecting again failed (attempt ${attempt}); trying again.`, error, {
          warning: 'reconnect-failed',
          attempt,
        });
      }
    }
  }

  /** The wait before the next reconnect attempt: as long as the server has been away, within the bounds. */
  #reconnectDelay(): number {
    const away = this.#lostAt === undefined ? 0 : Date.now() - this.#lostAt;
    return Math.min(Math.max(this.#options.reconnectDelayMs, away), this.#options.maxReconnectDelayMs);
  }

  #backoffMs(attempt: number): number {
    return Math.min(
      this.#options.reconnectDelayMs * 2 ** Math.min(attempt - 1, 30),
      this.#options.maxReconnectDelayMs,
    );
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      void this.#closed.promise.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #warn(message: string, error: unknown, details: { warning: string; [key: string]: unknown }): void {
    this.#warnings.warn(message, error, details);
  }

  // --- topology -----------------------------------------------------------------------------------------------

  async #ensureSource(source: ResolvedSource, prefetch: number): Promise<ConsumerSettings> {
    const { jsm } = await this.#connection();
    await ensureStream(jsm, source, this.#options);
    // Independent once the stream is there: one round trip instead of two.
    const [, settings] = await Promise.all([
      ensureDeadLetterStream(jsm, source, this.#options),
      ensureConsumer(jsm, source, prefetch, this.#options),
    ]);
    return settings;
  }

  /** Makes sure the destination's stream exists before its first publish on this connection (memoised). */
  async #declaredForPublish(target: ResolvedSource): Promise<void> {
    const key = `${target.stream}\0${target.subject}`;
    let declared = this.#publishDeclared.get(key);
    if (declared === undefined) {
      declared = this.#connection().then(({ jsm }) => ensureStream(jsm, target, this.#options));
      this.#publishDeclared.set(key, declared);
      declared.catch(() => this.#publishDeclared.delete(key));
    }
    await declared;
  }

  /**
   * {@link #declaredForPublish}, tried again (as a publish is) when the server does not answer: right after a restart
   * its JetStream API may time out for a moment.
   */
  async #declaredForPublishRetrying(target: ResolvedSource): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#declaredForPublish(target);
      } catch (error) {
        const text = `${(error as Error)?.name ?? ''} ${(error as Error)?.message ?? ''}`;
        if (
          !/timeout|disconnect|closed|reconnect/i.test(text) ||
          this.#final ||
          attempt >= MAX_PUBLISH_ATTEMPTS
        )
          throw error;
        await sleep(this.#backoffMs(attempt));
      }
    }
  }

  // --- publishing and settling --------------------------------------------------------------------------------

  /**
   * Publishes one message with `Nats-Msg-Id` = `msgId`, resolving once the stream acknowledged it. Without an answer
   * (a lost connection, a server restarting) it is published again with the same id, which the stream drops as a
   * duplicate if the first one got through (within its duplicate window, 2 minutes by default).
   */
  async #publishOne(subject: string, body: Uint8Array, headers: Headers, msgId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { js } = await this.#connection();
      try {
        await js.publish(subject, body, { msgID: msgId, headers: writeHeaders(headers) });
        return;
      } catch (error) {
        const message = (error as Error)?.message ?? '';
        if (/jetstream is not enabled|no responders/i.test(message) && this.#lostAt === undefined)
          throw new HostworkError(
            ErrorCodes.TRANSPORT_FAILED,
            `natsTransport: publishing message '${msgId}' to '${subject}' failed: no stream captures subject '${subject}'. Declare its stream (publish with declare: true, the default, or subscribe first), or add the subject to a stream.`,
            { cause: error },
          );
        const retriable = /timeout|disconnect|closed|reconnect|no responders|not enabled/i.test(
          `${(error as Error)?.name ?? ''} ${message}`,
        );
        if (!retriable || this.#final || attempt >= MAX_PUBLISH_ATTEMPTS)
          throw new HostworkError(
            ErrorCodes.TRANSPORT_FAILED,
            `natsTransport: publishing message '${msgId}' to '${subject}' failed: ${message}.`,
            { cause: error },
          );
        this.#warn(
          `NATS: publishing message '${msgId}' to '${subject}' got no acknowledgement (${message}); publishing it again.`,
          error,
          { warning: 'publish-retried', subject, attempt },
        );
        await sleep(this.#backoffMs(attempt));
      }
    }
  }

  /**
   * Writes `payload` to an ack subject; resolves once it is written to the connection's socket (as the RabbitMQ
   * adapter resolves once its frame is written; the kernel sends it even if the process dies next), not confirmed by
   * the server: a settle lost on the way means a redelivery
   * after the AckWait (at-least-once), never a loss, and `close()` flushes before closing the connection. While the
   * connection is down it resolves once the server confirmed it after the reconnect (a flush), written again if a
   * flush is cut: an ack, a term or a progress report given twice is the same as once; a nak is not written again (a
   * second one could hand back a later delivery of the same message).
   */
  #respond(reply: string, payload: string): Promise<void> {
    return this.#respondNow(reply, payload) ?? this.#respondAgain(reply, payload, undefined);
  }

  /**
   * Queues `payload` for the next tick's write when connected, and returns what resolves once it is written (shared
   * by every settle of the tick); undefined when the connection is down. The settles of a turn of the event loop then
   * leave in one socket write with the pull requests (written one by one, each turn of the client's microtask flush
   * would be a write of its own).
   */
  #respondNow(reply: string, payload: string): Promise<void> | undefined {
    const current = this.#connected;
    if (current === undefined || this.#lostAt !== undefined || current.nc.isClosed()) return undefined;
    this.#writes.push(reply, payload);
    this.#written ??= Promise.withResolvers<void>();
    this.#scheduleTick();
    return this.#written.promise;
  }

  /** Writes the queued settles to the client's outbound buffer (one socket write with what follows in this turn). */
  #writeSettles(): void {
    if (this.#writes.length === 0) return;
    const writes = this.#writes;
    this.#writes = [];
    const nc = this.#connected?.nc;
    // No connection any more: the server delivers these again after their AckWait (at-least-once).
    if (nc === undefined || nc.isClosed()) return;
    for (let i = 0; i < writes.length; i += 2) {
      try {
        nc.publish(writes[i] as string, payloadBytes(writes[i + 1] as string));
      } catch {
        // Closed meanwhile: as above.
      }
    }
  }

  /** {@link #respond} after a failed flush (`error`), or without a connection: written again once reconnected. */
  async #respondAgain(reply: string, payload: string, failed: unknown): Promise<void> {
    for (let attempt = failed === undefined ? 1 : 2; ; attempt++) {
      if (attempt > 1) {
        if (this.#final || attempt > MAX_PUBLISH_ATTEMPTS)
          throw new HostworkError(
            ErrorCodes.TRANSPORT_FAILED,
            `natsTransport: the server did not confirm '${payload}' on ${reply}: ${(failed as Error)?.message}; it delivers the message again once its AckWait runs out.`,
            { cause: failed },
          );
        await this.#sleep(this.#backoffMs(attempt - 1));
      }
      try {
        const { nc } = await this.#connection();
        if (attempt === 1 || !payload.startsWith(NAK)) nc.publish(reply, payload);
        await this.#flushed(nc);
        return;
      } catch (error) {
        failed = error;
      }
    }
  }

  /**
   * One PING/PONG for every ack written in the same turn of the event loop: the server reads a connection's
   * messages in order, so once the PONG is back it has every ack written before the PING.
   */
  #flushed(nc: NatsConnection): Promise<void> {
    if (!this.#nextFlush) {
      const flush = Promise.withResolvers<void>();
      this.#nextFlush = { nc, ...flush };
      this.#scheduleTick();
    }
    return this.#nextFlush.promise;
  }

  /**
   * Once per turn of the event loop: the subscriptions' pull requests, then the PING of the settles written in it,
   * so that both leave in one write to the socket.
   */
  #scheduleTick(): void {
    if (this.#tickScheduled) return;
    this.#tickScheduled = true;
    setImmediate(() => {
      this.#tickScheduled = false;
      // Settles first: the server frees their slots of max_ack_pending before it reads the pull requests.
      this.#writeSettles();
      for (const pull of this.#pulls.splice(0)) pull();
      // The client's write to the socket is a microtask queued by the first publish above: the settles' callers,
      // resumed after it, see their settles on the socket (a SIGKILL from then on does not lose them).
      const written = this.#written;
      this.#written = undefined;
      written?.resolve();
      const flush = this.#nextFlush;
      this.#nextFlush = undefined;
      flush?.nc.flush().then(flush.resolve, flush.reject);
    });
  }

  #track<T>(operation: Promise<T>): Promise<T> {
    this.#pending.add(operation);
    const done = () => this.#pending.delete(operation);
    operation.then(done, done);
    return operation;
  }

  readonly #subscriptionHost: SubscriptionHost = {
    warn: (message, error, details) => this.#warnings.warn(message, error, details),
    connection: async () => (await this.#connection()).nc,
    manager: async () => (await this.#connection()).jsm,
    ensureSource: (source, prefetch) => this.#ensureSource(source, prefetch),
    respondNow: (reply, payload) => {
      const current = this.#connected;
      if (!current || current.nc.isClosed()) return;
      try {
        current.nc.publish(reply, payload);
      } catch {
        // Closed meanwhile: the server delivers the message again after its AckWait.
      }
    },
    onNextTick: (pull) => {
      this.#pulls.push(pull);
      this.#scheduleTick();
    },
    backoffMs: (n) => this.#backoffMs(n),
    sleep: (ms) => this.#sleep(ms),
    isClosing: () => this.#closing !== undefined,
    ackPendingCheckMs: () => this.#options.ackPendingCheckMs,
    services: (source: ResolvedSource, settings: ConsumerSettings): DeliveryServices => ({
      source: { ...source, ackWaitMs: settings.ackWaitMs },
      respond: (reply, payload) => this.#respond(reply, payload),
      respondNow: (reply, payload) => this.#respondNow(reply, payload),
      publishCopy: (subject, body, headers, msgId) => this.#publishOne(subject, body, headers, msgId),
      track: (settle) => this.#track(settle),
    }),
  };

  // --- close --------------------------------------------------------------------------------------------------

  async #close(): Promise<void> {
    const deadline = Promise.withResolvers<'timeout'>();
    const timer = setTimeout(() => deadline.resolve('timeout'), this.#options.closeTimeoutMs);
    const bounded = (work: Promise<unknown>) =>
      Promise.race([work.then(() => 'done' as const), deadline.promise]);
    const connected = this.#connected;
    try {
      // Nothing more is delivered; then every settle and publish made before close reaches the server.
      let outcome = await bounded(Promise.allSettled([...this.#subscriptions].map((s) => s.stop())));
      if (outcome === 'done') outcome = await bounded(Promise.allSettled([...this.#pending]));
      this.#final = true;
      this.#closed.resolve();
      const opening = this.#connecting;
      const nc = connected?.nc ?? (await opening?.catch(() => undefined))?.nc;
      if (nc && !nc.isClosed()) {
        // Settles queued for the next tick, and hand-backs written by stop(), reach the server before it goes.
        this.#writeSettles();
        if (outcome === 'done') outcome = await bounded(nc.flush().catch(() => {}));
        await bounded(nc.close().catch(() => {}));
      }
      if (outcome === 'timeout')
        this.#warn(
          `NATS: close() gave up after ${this.#options.closeTimeoutMs} ms (closeTimeoutMs) waiting for the server; unsettled deliveries are delivered again once their AckWait runs out.`,
          undefined,
          { warning: 'close-timeout', closeTimeoutMs: this.#options.closeTimeoutMs },
        );
    } finally {
      clearTimeout(timer);
      this.#final = true;
      this.#closed.resolve();
      this.#connected = undefined;
    }
  }
}
