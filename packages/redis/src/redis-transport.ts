/**
 * The Redis Streams transport: one command connection (publishes, settles, lease claims of the scheduled set) and one
 * reading connection per subscription (XREADGROUP blocks its connection). A source is a stream read through a
 * consumer group; see the package's README for the keys it uses, the fields of an entry and the guarantees.
 */
import { randomUUID } from 'node:crypto';
import {
  type ConsumerLag,
  type Destination,
  ErrorCodes,
  HostworkError,
  type LoggerFactory,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from 'hostwork';
import type { RedisArgument } from 'redis';
import { isReplyError, RedisConnection } from './connection.ts';
import { toFields, trimArguments } from './fields.ts';
import { groupLag } from './lag.ts';
import { ensureGroup, RedisSubscription, type SubscriptionHost } from './redis-subscription.ts';
import {
  type RedisTransportOptions,
  type ResolvedOptions,
  type ResolvedStream,
  redact,
  resolveOptions,
  resolveStream,
} from './redis-transport-options.ts';
import { SCRIPTS } from './scripts.ts';
import { WarningRoute } from './warnings.ts';

/** How many times a command is sent again when connections keep being lost under it. */
const MAX_SEND_ATTEMPTS = 10;

const noop = () => {};

/** Creates a {@link RedisTransport}; nothing connects until `connect()`, `subscribe()` or `publish()`. */
export function redisTransport(options: RedisTransportOptions): RedisTransport {
  return new RedisTransport(options);
}

/** The Redis Streams {@link Transport}; see the module's comment and the package's README. */
export class RedisTransport implements Transport {
  readonly kind = 'redis';
  readonly #options: ResolvedOptions;
  readonly #warnings: WarningRoute;
  readonly #connection: RedisConnection;
  readonly #subscriptions = new Set<RedisSubscription>();
  readonly #pending = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;
  /** Set once close() has given up waiting: nothing is sent again. */
  #final = false;
  /** Wakes sleeping retries when the transport closes. */
  readonly #closed = Promise.withResolvers<void>();
  readonly #subscriptionHost: SubscriptionHost;
  /** The eviction check, once per transport. */
  #checked: Promise<void> | undefined;
  /** Destinations resolved before: by name (no options), by options object. */
  readonly #byName = new Map<string, ResolvedStream>();
  readonly #byOptions = new WeakMap<object, ResolvedStream>();

  constructor(options: RedisTransportOptions) {
    this.#options = resolveOptions(options);
    this.#warnings = new WarningRoute(this.#options.onWarning);
    const url = redact(this.#options.url);
    this.#connection = new RedisConnection(this.#options, this.#options.connectionName, {
      lost: (error) =>
        this.#warnings.warn(`Redis: the connection to ${url} was lost; reconnecting.`, error, {
          warning: 'connection-lost',
        }),
      reconnectFailed: (error, attempt) =>
        this.#warnings.warn(
          `Redis: reconnecting to ${url} failed (attempt ${attempt}); trying again.`,
          error,
          { warning: 'reconnect-failed', attempt },
        ),
      reconnected: (attempts) =>
        this.#warnings.warn(`Redis: reconnected to ${url} after ${attempts} attempt(s).`, undefined, {
          warning: 'reconnected',
          attempts,
        }),
    });
    this.#subscriptionHost = {
      warn: (message, error, details) => this.#warnings.warn(message, error, details),
      connection: this.#connection,
      readerConnection: (name) => new RedisConnection(this.#options, name),
      connectionName: this.#options.connectionName,
      blockMs: this.#options.blockMs,
      schedulePollMs: this.#options.schedulePollMs,
      backoffMs: (n) => this.#backoffMs(n),
      persist: (what, command, onDone) => this.#persist(what, command, onDone),
    };
  }

  /** Sends the transport's warnings to the host's logger, category `Hostwork.Redis` (unless `onWarning` was given). */
  attachLogger(loggers: LoggerFactory): void {
    this.#warnings.attach(loggers.create('Hostwork.Redis'));
  }

  /** Whether the command connection is up now (false while reconnecting and after close). */
  get connected(): boolean {
    return this.#connection.ready;
  }

  async connect(): Promise<void> {
    this.#assertOpen();
    try {
      await this.#connection.open();
    } catch (error) {
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        `redisTransport: ${(error as Error).message}. Check the url, that the server runs, and the credentials.`,
        { cause: error },
      );
    }
    this.#checked ??= this.#checkEviction();
  }

  /**
   * Warns once when the server may evict keys (a `maxmemory` with a policy other than `noeviction`): it would delete a
   * stream or the scheduled set when memory runs short, and the messages in it with them. A server that does not let
   * CONFIG GET be run (managed services) is not checked.
   */
  async #checkEviction(): Promise<void> {
    try {
      const [policy, limit] = await Promise.all([
        this.#connection.send(['CONFIG', 'GET', 'maxmemory-policy']),
        this.#connection.send(['CONFIG', 'GET', 'maxmemory']),
      ]);
      const value = (reply: unknown) => (Array.isArray(reply) ? String(reply[1] ?? '') : '');
      if (value(policy) !== '' && value(policy) !== 'noeviction' && Number(value(limit)) > 0)
        this.#warnings.warn(
          `Redis: the server at ${redact(this.#options.url)} may evict keys (maxmemory ${value(limit)}, maxmemory-policy ${value(policy)}): a stream or scheduled set evicted loses its messages. Set maxmemory-policy noeviction for the database Hostwork uses.`,
          undefined,
          { warning: 'eviction-policy', maxmemoryPolicy: value(policy), maxmemory: Number(value(limit)) },
        );
    } catch {
      // Not allowed to read the configuration: nothing to tell.
    }
  }

  async subscribe(source: Destination, options: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen();
    const resolved = resolveStream(source.name, source.options, this.#options);
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1)
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `redisTransport: the prefetch of stream '${resolved.stream}' must be a whole number >= 1, got ${options.prefetch}.`,
      );
    await this.connect();
    const subscription = new RedisSubscription(this.#subscriptionHost, resolved, options);
    await subscription.start();
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async publish(destination: Destination, messages: readonly OutgoingMessage[]): Promise<void> {
    this.#assertOpen();
    const target = this.#resolve(destination);
    // Every message checked before any is sent.
    const fields = messages.map((message) => toFields(message, `stream '${target.stream}'`));
    if (!this.#connection.ready) await this.connect();
    if (messages.length === 1) return this.#publishOne(target, messages[0]!, fields[0]!);
    await Promise.all(messages.map((message, i) => this.#publishOne(target, message, fields[i]!)));
  }

  /** XADD (or, with a delay, the scheduled set), sent again after a lost connection: a reply lost may add it twice. */
  #publishOne(target: ResolvedStream, message: OutgoingMessage, fields: RedisArgument[]): Promise<void> {
    const connection = this.#connection;
    const delayMs = Math.ceil(message.delayMs ?? 0);
    return this.#persist(
      () => `publishing message '${message.id}' to stream '${target.stream}'`,
      delayMs >= 1
        ? () =>
            SCRIPTS.schedule.run(
              connection,
              [target.scheduledKey],
              [String(delayMs), `${message.id}/${randomUUID()}`, ...fields],
            )
        : () => connection.send(['XADD', target.stream, ...trimArguments(target.trim), '*', ...fields]),
    );
  }

  /** A destination's stream and options, checked once per Destination options object (or name, without options). */
  #resolve(destination: Destination): ResolvedStream {
    const options = destination.options;
    const known = options === undefined ? this.#byName.get(destination.name) : this.#byOptions.get(options);
    if (known !== undefined && known.stream === destination.name) return known;
    const resolved = resolveStream(destination.name, options, this.#options);
    if (options === undefined) {
      // Bounded: an application publishing to ever new stream names must not grow it for ever.
      if (this.#byName.size >= 1_000) this.#byName.clear();
      this.#byName.set(destination.name, resolved);
    } else this.#byOptions.set(options, resolved);
    return resolved;
  }

  /**
   * Creates the consumer group of `source` (and the stream) when missing, as `subscribe` does: for publishing to a
   * stream before its first consumer subscribed when the group starts at '$'. Resolves to whether it created it.
   */
  async declare(source: Destination): Promise<boolean> {
    this.#assertOpen();
    await this.connect();
    return ensureGroup(this.#connection, resolveStream(source.name, source.options, this.#options));
  }

  /**
   * The entries of the source's stream its consumer group has not been delivered yet (XINFO GROUPS `lag`, Redis 7),
   * and the first one's age from its id; retries waiting in the scheduled set are not counted. Undefined when the
   * group does not exist or Redis cannot count (see lag.ts).
   */
  async lag(source: Destination): Promise<ConsumerLag | undefined> {
    this.#assertOpen();
    await this.connect();
    return groupLag(this.#connection, resolveStream(source.name, source.options, this.#options));
  }

  /**
   * Deletes the keys Hostwork uses for `source`: the stream (with its groups), its scheduled set and its dead-letter
   * stream. For tests and for tearing a consumer down for good.
   */
  async deleteKeys(source: Destination): Promise<void> {
    this.#assertOpen();
    const resolved = resolveStream(source.name, source.options, this.#options);
    await this.connect();
    await this.#connection.send(['DEL', resolved.stream, resolved.scheduledKey, resolved.deadLetterStream]);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#closing)
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        'redisTransport: the transport is closed; create a new one to connect again.',
      );
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

  /**
   * Runs `command`, and again after a lost connection (a command written before the loss fails; its reply may have
   * been lost after it ran, so commands sent this way are safe to repeat), with backoff, until it succeeds, Redis
   * refuses it, or close() gives up. Tracked: close() waits for it; `onDone` runs when it ended, either way.
   */
  #persist(what: () => string, command: () => Promise<unknown>, onDone?: () => void): Promise<void> {
    let first: Promise<unknown>;
    try {
      first = command();
    } catch (error) {
      first = Promise.reject(error);
    }
    // The common case, a reply at once, costs this one promise (this is the path of every ack).
    const run = first.then(noop, (error: unknown) => this.#sendAgain(what, command, error));
    this.#pending.add(run);
    const done = () => {
      this.#pending.delete(run);
      onDone?.();
    };
    run.then(done, done);
    return run;
  }

  async #sendAgain(what: () => string, command: () => Promise<unknown>, error: unknown): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (isReplyError(error) || this.#final || attempt >= MAX_SEND_ATTEMPTS) throw error;
      if (attempt === 1)
        this.#warnings.warn(
          `Redis: ${what()} failed with the connection; sending it again once reconnected.`,
          error,
          { warning: 'send-retried' },
        );
      await this.#sleep(this.#backoffMs(attempt));
      try {
        await command();
        return;
      } catch (failure) {
        error = failure;
      }
    }
  }

  async #close(): Promise<void> {
    const deadline = Promise.withResolvers<'timeout'>();
    const timer = setTimeout(() => deadline.resolve('timeout'), this.#options.closeTimeoutMs);
    const bounded = (work: Promise<unknown>) =>
      Promise.race([work.then(() => 'done' as const), deadline.promise]);
    const subscriptions = [...this.#subscriptions];
    try {
      // Nothing more is read; then every settle and publish made before close reaches the server.
      let outcome = await bounded(Promise.allSettled(subscriptions.map((s) => s.stop())));
      if (outcome === 'done')
        outcome = await bounded(Promise.allSettled([...this.#pending, this.#checked ?? Promise.resolve()]));
      if (outcome === 'done')
        outcome = await bounded(Promise.allSettled(subscriptions.map((s) => s.retire())));
      this.#final = true;
      this.#closed.resolve();
      if (outcome === 'done') {
        const left = Math.max(1, this.#options.closeTimeoutMs);
        outcome = (await this.#connection.close(left)) === 'closed' ? 'done' : 'timeout';
      }
      if (outcome === 'timeout') {
        this.#warnings.warn(
          `Redis: close() gave up after ${this.#options.closeTimeoutMs} ms (closeTimeoutMs) waiting for the server; unsettled entries stay pending and are claimed by another consumer once their lease runs out.`,
          undefined,
          { warning: 'close-timeout', closeTimeoutMs: this.#options.closeTimeoutMs },
        );
        this.#connection.destroy();
      }
    } finally {
      clearTimeout(timer);
      this.#final = true;
      this.#closed.resolve();
    }
  }
}
