import type { Span } from '@opentelemetry/api';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { ScopeFactory } from '../di/scope.ts';
import { ErrorCodes, HostworkError } from '../errors.ts';
import { waitWithin } from '../hosting/shutdown-grace.ts';
import { backoffDelay, defaultBackoff } from '../jobs/backoff.ts';
import { delayProblem } from '../jobs/handler-values.ts';
import { formatIssues } from '../jobs/job-definition.ts';
import { describeThrown } from '../jobs/thrown-value.ts';
import type { Logger } from '../logging/logger-factory.ts';
import {
  Attr,
  type DestinationMetrics,
  messagingSystem,
  NOOP_DESTINATION,
  type ProcessTrace,
  Telemetry,
} from '../telemetry/telemetry.ts';
import { readTraceContext, TRACEPARENT, TRACESTATE } from '../telemetry/trace-context.ts';
import { deliveryError, readAttemptErrors } from './attempt-history.ts';
import type { ConsumerDefinition } from './consumer-definition.ts';
import { DeliveryContext } from './delivery-context.ts';
import type { MessageDefinition } from './message-definition.ts';
import type { MessageEventBase, MessageEvents } from './message-events.ts';
import {
  type DeadLetterReason,
  type Delivery,
  type DeliveryError,
  type Subscription,
  type Transport,
  TYPE_HEADER,
} from './transport.ts';

/** What every consumer of a host shares. */
export interface ConsumerEnvironment {
  readonly scopes: ScopeFactory;
  /** The engine's own log (`Hostwork.Messaging.Consumer`). */
  readonly log: Logger;
  /** The parent of handlers' loggers and of per-message lines (`Hostwork.Messaging`). */
  readonly messageLog: Logger;
  readonly events: MessageEvents;
  /** How long a handler that ignores its aborted signal (timeout) is waited for before its slot is freed. */
  readonly abortGraceMs: number;
  /** The job store's inbox, for consumers with `inbox` (checked present at start). */
  readonly inbox?: InboxStore;
  /** Spans and metrics; none when absent. */
  readonly telemetry?: Telemetry;
}

/** A delivery being handled. */
interface Running {
  readonly delivery: Delivery;
  readonly startedAt: number;
  ctx: DeliveryContext | undefined;
  type: string | undefined;
  finished: boolean;
  /** The timeout and its grace, when the consumer has a timeout. */
  timers: NodeJS.Timeout[] | undefined;
  /**
   * Deliveries with an expiring lock: when to extend it next (a `performance.now()` time), how often, and by how much
   * (ms); `lockEvery` 0 when the delivery has no such lock.
   */
  lockAt: number;
  lockEvery: number;
  lockMs: number;
  /** When tracing: the process span and the context the handler runs in. */
  readonly trace: ProcessTrace | undefined;
  /** Its place in the runner's list of running deliveries (removal swaps the last one in: no hashing per message). */
  slot: number;
}

/** Deliveries whose settle calls returned the same promise, and each one's settle kind. */
interface SettleGroup {
  readonly promise: Promise<void>;
  readonly deliveries: Delivery[];
  readonly kinds: string[];
}

/** The `hostwork.outcome` label and settle operation of each outcome kind. */
const OUTCOME_LABEL = { ack: 'completed', retry: 'retry', dead: 'dead', release: 'released' } as const;
const SETTLE_OPERATION = { ack: 'ack', retry: 'retry', dead: 'dead_letter', release: 'release' } as const;

/** How a handled delivery ends. */
type Outcome =
  | { readonly kind: 'ack' }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly error: DeliveryError }
  | {
      readonly kind: 'dead';
      readonly reason: DeadLetterReason;
      readonly error: DeliveryError;
      /** The history to send when `error` is already its last entry (else the headers' history and `error`). */
      readonly history?: readonly DeliveryError[];
    }
  | { readonly kind: 'release' };

/** The outcome of every success (one object for all). */
const ACK: Outcome = { kind: 'ack' };

/** The lock is extended every third of its length: a failed extension leaves another try before it runs out. */
const EXTEND_AT = 1 / 3;

import type { InboxStore } from './inbox-store.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A delivery's definition and validated body, or why it is poison. */
type Read = { readonly type: string; readonly value: unknown } | { readonly problem: string };

function validationResult(name: string, result: StandardSchemaV1.Result<unknown>): Read {
  if (result.issues)
    return {
      problem: `The body does not match the schema of message '${name}':\n${formatIssues(result.issues)}`,
    };
  return { type: name, value: result.value };
}

function validationThrew(name: string, error: unknown): Read {
  return { problem: `Validating a '${name}' message threw: ${describeThrown(error).message}` };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}

/**
 * Runs one consumer: subscribes with prefetch = concurrency, runs at most `concurrency` handlers, settles each delivery
 * exactly once (ack, retry, dead letter, release), extends locks while handlers run, and stops in order: the
 * subscription first, then prefetched deliveries handed back, then running handlers waited for within the grace,
 * aborted and released after it, and every settle call awaited.
 */
export class ConsumerRunner {
  readonly definition: ConsumerDefinition;
  readonly #transport: Transport;
  readonly #env: ConsumerEnvironment;
  readonly #byType: ReadonlyMap<string, MessageDefinition>;
  /** The deliveries being handled, in no order (see Running.slot). */
  readonly #running: Running[] = [];
  /** Handed over while every slot was busy (an adapter delivering past the prefetch): run as slots free. */
  readonly #waiting: Delivery[] = [];
  readonly #settling = new Set<Promise<void>>();
  /** The last settle promise tracked, with the deliveries waiting on it (see #track). */
  #settleGroup: SettleGroup | undefined;
  #subscription: Subscription | undefined;
  #stopping = false;
  /** Read once at start: whether per-message debug lines are written. */
  #debug = false;
  #idle: PromiseWithResolvers<void> | undefined;
  /** Since when the subscription has been without its connection (reconnecting), or undefined while connected. */
  #disconnectedSince: number | undefined;
  /** The sweep that extends the locks of running deliveries (see #keepLocked), and its period. */
  #lockSweep: NodeJS.Timeout | undefined;
  #lockTickMs = Number.POSITIVE_INFINITY;
  #lastError: string | undefined;
  /** `messaging.system` of the transport. */
  readonly #system: string;
  readonly #metrics: DestinationMetrics;
  readonly #tracing: boolean;
  /** The name of the process spans (`process <source>`), built once. */
  readonly #spanName: string;

  constructor(definition: ConsumerDefinition, transport: Transport, env: ConsumerEnvironment) {
    this.definition = definition;
    this.#transport = transport;
    this.#env = env;
    this.#byType = new Map(definition.messages.map((m) => [m.name, m as MessageDefinition]));
    this.#system = messagingSystem(transport.kind);
    this.#metrics = env.telemetry?.destination(this.#system, definition.source.name) ?? NOOP_DESTINATION;
    this.#tracing = env.telemetry?.tracing === true;
    this.#spanName = `process ${definition.source.name}`;
  }

  /** Handlers running now. */
  get runningCount(): number {
    return this.#running.length;
  }

  /** For health checks: whether the subscription has its connection, and since when not. */
  get connection(): { readonly connected: boolean; readonly since?: number; readonly error?: string } {
    const since = this.#disconnectedSince;
    return since === undefined
      ? { connected: this.#subscription !== undefined }
      : { connected: false, since, ...(this.#lastError === undefined ? {} : { error: this.#lastError }) };
  }

  async start(): Promise<void> {
    const { name, source, concurrency } = this.definition;
    this.#debug = this.#env.messageLog.isLevelEnabled('debug');
    const log = this.#env.log;
    // Prefetch = concurrency: nothing waits in memory for a slot while its lock or visibility runs out, and a
    // shutdown has next to nothing to hand back. A delivery's settle round trip leaves its slot idle meanwhile.
    this.#subscription = await this.#transport.subscribe(source, {
      prefetch: concurrency,
      onDelivery: (delivery) => this.#onDelivery(delivery),
      events: {
        disconnected: (error) => {
          this.#disconnectedSince ??= Date.now();
          this.#lastError = describeThrown(error).message;
          log.warn(
            { consumer: name, error: describeThrown(error).message },
            `Consumer '${name}' lost its connection to ${this.#transport.kind} (${describeThrown(error).message}); reconnecting`,
          );
        },
        reconnected: () => {
          this.#disconnectedSince = undefined;
          this.#lastError = undefined;
          log.info({ consumer: name }, `Consumer '${name}' is receiving again`);
        },
      },
    });
  }

  /**
   * Stops: no new delivery starts; prefetched ones are released; running handlers get `graceMs` (or until `signal`
   * aborts), then are aborted and released; resolves once every settle call has returned.
   */
  async stop(graceMs: number, signal: AbortSignal): Promise<void> {
    this.#stopping = true;
    const { name } = this.definition;
    try {
      await this.#subscription?.stop();
    } catch (error) {
      this.#env.log.error(
        { consumer: name, error: describeThrown(error).message },
        `Stopping the subscription of consumer '${name}' failed: ${describeThrown(error).message}`,
      );
    }
    for (const delivery of this.#waiting.splice(0)) this.#release(delivery, undefined);
    if (this.#running.length > 0) {
      this.#env.log.info(
        { consumer: name, running: this.#running.length, graceMs },
        `Consumer '${name}' waiting up to ${graceMs} ms for ${this.#running.length} running handler(s)`,
      );
      this.#idle ??= Promise.withResolvers<void>();
      await waitWithin(this.#idle.promise, graceMs, signal);
    }
    if (this.#running.length > 0) {
      const left = this.#running.slice();
      for (const r of left) {
        r.ctx?.abort('shutdown', 'the host is stopping');
        this.#finish(r, { kind: 'release' });
      }
      this.#env.log.warn(
        { consumer: name, messages: left.map((r) => r.delivery.id) },
        `Consumer '${name}' handed ${left.length} unfinished message(s) back to ${this.#transport.kind} (attempt not counted)`,
      );
    }
    clearInterval(this.#lockSweep);
    this.#lockSweep = undefined;
    while (this.#settling.size > 0) await Promise.all(this.#settling);
  }

  #onDelivery(delivery: Delivery): void {
    if (this.#stopping) {
      this.#release(delivery, undefined);
      return;
    }
    if (this.#running.length >= this.definition.concurrency) {
      this.#waiting.push(delivery);
      return;
    }
    this.#start(delivery);
  }

  #start(delivery: Delivery): void {
    const r: Running = {
      delivery,
      startedAt: performance.now(),
      ctx: undefined,
      type: undefined,
      finished: false,
      timers: undefined,
      lockAt: 0,
      lockEvery: 0,
      lockMs: 0,
      trace: this.#tracing ? this.#startTrace(delivery) : undefined,
      slot: this.#running.length,
    };
    this.#metrics.consumed.add();
    this.#running.push(r);
    try {
      this.#run(r);
    } catch (error) {
      this.#unexpected(r, error);
    }
  }

  /** A bug of the engine, not of the handler (whose errors are settled): never leave the delivery unsettled. */
  #unexpected(r: Running, error: unknown): void {
    const thrown = describeThrown(error);
    this.#env.log.error(
      {
        consumer: this.definition.name,
        messageId: r.delivery.id,
        error: thrown.message,
        stack: thrown.stack,
      },
      `Handling message ${r.delivery.id} failed unexpectedly: ${thrown.message}`,
    );
    this.#finish(r, this.#failure(r, error));
  }

  /** The process span, a child of (and linked to) the publisher's span carried in the message's headers. */
  #startTrace(delivery: Delivery): Running['trace'] {
    const parent = readTraceContext(delivery.headers[TRACEPARENT], delivery.headers[TRACESTATE]);
    // At the start, in one literal (the SDK copies it as it is): what a sampler may decide on.
    const trace = this.#env.telemetry?.startProcess(this.#spanName, parent, {
      [Attr.system]: this.#system,
      [Attr.destination]: this.definition.source.name,
      [Attr.operationType]: 'process',
      [Attr.operationName]: 'process',
      [Attr.consumerGroup]: this.definition.name,
    });
    // The rest only on a recorded span: a sampled-out delivery then costs the SDK two attributes less to check.
    if (trace?.span.isRecording()) {
      trace.span.setAttribute(Attr.messageId, delivery.id);
      trace.span.setAttribute(Attr.messageAttempt, delivery.attempt);
    }
    return trace;
  }

  /**
   * Handles a delivery. Synchronously as far as it can: with a synchronous schema, no inbox and a handler that returns
   * no promise, no promise is made at all (an async function and its catch cost a tenth of the engine's CPU per
   * message); otherwise it goes on in {@link #runAsync} or {@link #awaitHandler}.
   */
  #run(r: Running): void {
    const { delivery } = r;
    const def = this.definition;
    const events = this.#env.events;
    if (events.has('received')) events.emit('received', this.#base(r));
    // No attempt left: a transport counted an attempt that ended without a settle (Redis: the consumer died while
    // handling it). Dead-lettered without running, so a message that kills its consumer is not delivered for ever.
    if (delivery.attempt > def.maxAttempts) {
      this.#finish(r, this.#noAttemptLeft(delivery));
      return;
    }
    // Delivered again and again without a settle (the broker's own count: NATS, SQS, RabbitMQ quorum queues, Service
    // Bus; the RabbitMQ transport's own on classic queues): the process likely dies handling it. Dead-lettered without
    // running, for the same reason.
    if (delivery.redeliveries !== undefined && delivery.redeliveries > def.maxRedeliveries) {
      this.#finish(r, this.#tooManyRedeliveries(delivery, delivery.redeliveries));
      return;
    }
    if (delivery.lockMs !== undefined && delivery.extend) this.#keepLocked(r, delivery.lockMs);
    // Most schemas validate synchronously: no promise or microtask hop per message for those.
    const reading = this.#read(delivery);
    if (reading instanceof Promise || (def.inbox && this.#env.inbox)) {
      this.#runAsync(r, reading).catch((error: unknown) => this.#unexpected(r, error));
      return;
    }
    const ctx = this.#prepare(r, reading);
    if (ctx === undefined) return;
    const read = reading as { readonly type: string; readonly value: unknown };
    this.#startTimeout(r, ctx);
    let handled: unknown;
    try {
      handled = r.trace
        ? Telemetry.run(r.trace.context, () => def.handle(read.value, ctx))
        : def.handle(read.value, ctx);
    } catch (error) {
      this.#end(r, ctx, ctx.abortCause === 'timeout' ? this.#timedOut(r, error) : this.#failure(r, error));
      return;
    }
    // A synchronous handler's result is not awaited: one microtask hop less per message.
    if (isThenable(handled)) {
      this.#awaitHandler(r, ctx, handled).catch((error: unknown) => this.#unexpected(r, error));
      return;
    }
    this.#end(r, ctx, ctx.abortCause === 'timeout' ? this.#timedOut(r, undefined) : ACK);
  }

  /** The rest of {@link #run} for an asynchronous schema or a consumer with an inbox. */
  async #runAsync(r: Running, reading: Read | Promise<Read>): Promise<void> {
    const { delivery } = r;
    const def = this.definition;
    const read = reading instanceof Promise ? await reading : reading;
    // Released meanwhile (an asynchronous schema still validating when the shutdown grace ended): never start it.
    if (r.finished) return;
    const ctx = this.#prepare(r, read);
    if (ctx === undefined) return;
    const value = (read as { readonly value: unknown }).value;
    const inbox = def.inbox ? this.#env.inbox : undefined;
    const windowMs = def.inbox?.windowMs ?? 0;
    if (inbox) {
      // A message this consumer already processed (a redelivery, a duplicate of the outbox): ack, skip the handler.
      let seen: boolean;
      try {
        seen = await inbox.inboxHas(def.name, delivery.id, Date.now());
      } catch (error) {
        return this.#finish(r, this.#failure(r, error));
      }
      if (r.finished) return;
      if (seen) {
        this.#env.messageLog.debug(
          this.#fields(r),
          `${this.#label(r)} was already processed by consumer '${def.name}' (inbox); acknowledged without running the handler`,
        );
        return this.#finish(r, ACK);
      }
    }
    this.#startTimeout(r, ctx);
    let outcome: Outcome;
    try {
      const handled = r.trace
        ? Telemetry.run(r.trace.context, () => def.handle(value, ctx))
        : def.handle(value, ctx);
      if (isThenable(handled)) await handled;
      outcome = ctx.abortCause === 'timeout' ? this.#timedOut(r, undefined) : ACK;
      if (outcome.kind === 'ack' && inbox && !ctx.recordedWithin) {
        const now = Date.now();
        await inbox.recordInbox(def.name, delivery.id, now, now + windowMs);
      }
    } catch (error) {
      outcome = ctx.abortCause === 'timeout' ? this.#timedOut(r, error) : this.#failure(r, error);
    }
    this.#end(r, ctx, outcome);
  }

  /** The rest of {@link #run} for a handler that returned a promise. */
  async #awaitHandler(r: Running, ctx: DeliveryContext, handled: PromiseLike<unknown>): Promise<void> {
    let outcome: Outcome;
    try {
      await handled;
      outcome = ctx.abortCause === 'timeout' ? this.#timedOut(r, undefined) : ACK;
    } catch (error) {
      outcome = ctx.abortCause === 'timeout' ? this.#timedOut(r, error) : this.#failure(r, error);
    }
    this.#end(r, ctx, outcome);
  }

  /**
   * After the read: dead-letters poison, or makes the handler's context and starts the timeout. Returns the context,
   * or undefined when the delivery is finished (poison).
   */
  #prepare(r: Running, read: Read): DeliveryContext | undefined {
    const { delivery } = r;
    const def = this.definition;
    if ('problem' in read) {
      const error: DeliveryError = {
        attempt: delivery.attempt,
        message: read.problem,
        name: 'PoisonMessage',
        at: Date.now(),
      };
      this.#finish(r, { kind: 'dead', reason: 'poison', error });
      return undefined;
    }
    r.type = read.type;
    r.trace?.span.setAttribute(Attr.messageType, read.type);
    const inbox = def.inbox ? this.#env.inbox : undefined;
    const windowMs = def.inbox?.windowMs ?? 0;
    const ctx = new DeliveryContext(
      delivery,
      read.type,
      def.name,
      def.maxAttempts,
      this.#env.messageLog,
      this.#env.scopes,
      inbox
        ? (tx) => {
            const now = Date.now();
            return inbox.recordInbox(def.name, delivery.id, now, now + windowMs, { tx });
          }
        : undefined,
    );
    r.ctx = ctx;
    return ctx;
  }

  /** Starts the handler's timeout, when the consumer has one. */
  #startTimeout(r: Running, ctx: DeliveryContext): void {
    const timeout = this.definition.timeout;
    if (timeout > 0)
      this.#addTimer(
        r,
        setTimeout(() => this.#timeout(r, ctx), timeout),
      );
  }

  /** Keeps a timer of the delivery, cleared when it finishes. */
  #addTimer(r: Running, timer: NodeJS.Timeout): void {
    if (r.timers === undefined) r.timers = [timer];
    else r.timers.push(timer);
  }

  /** Disposes the handler's scope (waited for only when it has one to dispose), then finishes the delivery. */
  #end(r: Running, ctx: DeliveryContext, outcome: Outcome): void {
    let disposing: Promise<void> | undefined;
    try {
      disposing = ctx.dispose();
    } catch (error) {
      this.#disposeFailed(r, error);
    }
    if (disposing === undefined) {
      this.#finish(r, outcome);
      return;
    }
    disposing.then(
      () => this.#finish(r, outcome),
      (error: unknown) => {
        this.#disposeFailed(r, error);
        this.#finish(r, outcome);
      },
    );
  }

  #disposeFailed(r: Running, error: unknown): void {
    const thrown = describeThrown(error);
    const { delivery } = r;
    const name = this.definition.name;
    this.#env.messageLog.error(
      { consumer: name, messageId: delivery.id, error: thrown.message, stack: thrown.stack },
      `Disposing the scope of message ${delivery.id} (consumer '${name}') failed: ${thrown.message}`,
    );
  }

  #typeOf(type: string): MessageDefinition | undefined {
    const messages = this.definition.messages;
    if (messages.length <= 4) {
      for (const m of messages) if (m.name === type) return m as MessageDefinition;
      return undefined;
    }
    return this.#byType.get(type);
  }

  /** The delivery's definition and validated body, or why it is poison. */
  #read(delivery: Delivery): Read | Promise<Read> {
    const def = this.definition;
    const type = delivery.headers[TYPE_HEADER];
    let message: MessageDefinition | undefined;
    if (type !== undefined) {
      // Compared with each name before a map lookup: the type header is a fresh string per message, and hashing it
      // costs more than comparing it with the few names a consumer takes.
      message = this.#typeOf(type);
      if (!message) {
        return {
          problem: `Unknown message type '${type}' (${TYPE_HEADER} header); consumer '${def.name}' takes ${[...this.#byType.keys()].join(', ')}`,
        };
      }
    } else if (this.#byType.size === 1) {
      // A publisher that is not Hostwork sets no type: a consumer of one message reads it as that message.
      message = def.messages[0] as MessageDefinition;
    } else {
      return {
        problem: `The message has no ${TYPE_HEADER} header; consumer '${def.name}' takes several types (${[...this.#byType.keys()].join(', ')}) and cannot tell which`,
      };
    }
    let body: unknown;
    try {
      body = JSON.parse(utf8.decode(delivery.body));
    } catch (error) {
      return {
        problem: `The body of a '${message.name}' message is not JSON: ${describeThrown(error).message}`,
      };
    }
    let validated: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>;
    try {
      validated = message.schema['~standard'].validate(body);
    } catch (error) {
      return validationThrew(message.name, error);
    }
    if (validated instanceof Promise) {
      const name = message.name;
      return validated.then(
        (result) => validationResult(name, result),
        (error: unknown) => validationThrew(name, error),
      );
    }
    return validationResult(message.name, validated);
  }

  /** Aborts a handler that ran past the timeout; one that ignores its signal is settled anyway after the grace. */
  #timeout(r: Running, ctx: DeliveryContext): void {
    ctx.abort('timeout', `timed out after ${this.definition.timeout} ms`);
    const grace = setTimeout(() => {
      if (r.finished) return;
      this.#env.messageLog.warn(
        { consumer: this.definition.name, messageId: r.delivery.id },
        `Message ${r.delivery.id} (consumer '${this.definition.name}') ignored its abort signal for ${this.#env.abortGraceMs} ms; settling it without waiting`,
      );
      this.#finish(r, this.#timedOut(r, undefined));
    }, this.#env.abortGraceMs);
    this.#addTimer(r, grace);
  }

  #timedOut(r: Running, error: unknown): Outcome {
    const message = `Timed out after ${this.definition.timeout} ms`;
    return this.#failure(r, error ?? new Error(message), message);
  }

  /** Extends the lock at a third of it while the handler runs, so it never runs out under a live handler. */
  /**
   * Keeps a delivery's lock while its handler runs: extended every third of its length. One sweep timer per runner,
   * ticking at a quarter of that period, serves every locked delivery (a timer per delivery cost about a tenth of the
   * engine's CPU per message); an extension is thus due at a third of the lock and made by five twelfths at the latest.
   */
  #keepLocked(r: Running, lockMs: number): void {
    const every = Math.max(10, Math.floor(lockMs * EXTEND_AT));
    // From the start time already taken: no clock read, no object per delivery.
    r.lockAt = r.startedAt + every;
    r.lockEvery = every;
    r.lockMs = lockMs;
    const tick = Math.max(5, Math.floor(every / 4));
    if (tick < this.#lockTickMs) {
      clearInterval(this.#lockSweep);
      this.#lockTickMs = tick;
      this.#lockSweep = setInterval(() => this.#extendDueLocks(), tick);
    }
  }

  #extendDueLocks(): void {
    const now = performance.now();
    let locked = false;
    for (const r of this.#running) {
      if (r.lockEvery === 0 || r.finished) continue;
      locked = true;
      if (now < r.lockAt) continue;
      r.lockAt = now + r.lockEvery;
      r.delivery.extend?.(r.lockMs).catch((error: unknown) => {
        this.#env.log.warn(
          { consumer: this.definition.name, messageId: r.delivery.id, error: describeThrown(error).message },
          `Extending the lock of message ${r.delivery.id} failed (${describeThrown(error).message}); it may be delivered again while its handler runs`,
        );
      });
    }
    if (!locked) {
      // Nothing locked runs: no timer until the next locked delivery starts.
      clearInterval(this.#lockSweep);
      this.#lockSweep = undefined;
      this.#lockTickMs = Number.POSITIVE_INFINITY;
    }
  }

  /** A failed attempt: retried after the backoff while attempts are left, else dead-lettered. */
  #failure(r: Running, thrown: unknown, message?: string): Outcome {
    const error = deliveryError(r.delivery.attempt, thrown, message);
    if (r.delivery.attempt >= this.definition.maxAttempts)
      return { kind: 'dead', reason: 'attempts-exhausted', error };
    return { kind: 'retry', delayMs: this.#retryDelay(r, thrown), error };
  }

  /** The dead letter of a delivery past `maxAttempts`: the last error its history holds is why. */
  #noAttemptLeft(delivery: Delivery): Outcome {
    const history = readAttemptErrors(delivery.headers);
    const last = history.at(-1);
    if (last !== undefined) return { kind: 'dead', reason: 'attempts-exhausted', error: last, history };
    const error: DeliveryError = {
      attempt: delivery.attempt,
      name: 'AttemptsExhausted',
      message: `Attempt ${delivery.attempt} is past maxAttempts (${this.definition.maxAttempts}); not run`,
      at: Date.now(),
    };
    return { kind: 'dead', reason: 'attempts-exhausted', error };
  }

  /** The dead letter of a delivery redelivered past `maxRedeliveries`: an error that says so ends its history. */
  #tooManyRedeliveries(delivery: Delivery, redeliveries: number): Outcome {
    const error: DeliveryError = {
      attempt: delivery.attempt,
      name: 'RedeliveriesExhausted',
      message: `Delivered ${redeliveries + 1} times without being settled (more than maxRedeliveries ${this.definition.maxRedeliveries} redeliveries): the consumer process likely died while handling it; not run again`,
      at: Date.now(),
    };
    return { kind: 'dead', reason: 'redeliveries-exhausted', error };
  }

  /** The backoff before the next attempt; a backoff that throws or returns nonsense falls back to the default. */
  #retryDelay(r: Running, thrown: unknown): number {
    const attempt = r.delivery.attempt;
    try {
      const delay = backoffDelay(this.definition.backoff, attempt, thrown);
      const problem = delayProblem(delay, Date.now());
      if (problem === undefined) return delay;
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `the backoff returned ${String(delay)}; a backoff ${problem}`,
      );
    } catch (failure) {
      const text = describeThrown(failure).message;
      this.#env.messageLog.error(
        { consumer: this.definition.name, messageId: r.delivery.id, error: text },
        `Computing the backoff of consumer '${this.definition.name}' failed (${text}); using the default backoff`,
      );
      return backoffDelay(defaultBackoff, attempt, thrown);
    }
  }

  /** Ends a delivery (once): frees its slot, settles it with the transport, reports it, starts a waiting one. */
  #finish(r: Running, outcome: Outcome): void {
    if (r.finished) return;
    r.finished = true;
    if (r.timers !== undefined) for (const t of r.timers) clearTimeout(t);
    const last = this.#running.pop() as Running;
    if (last !== r) {
      this.#running[r.slot] = last;
      last.slot = r.slot;
    }
    const elapsed = performance.now() - r.startedAt;
    this.#metrics.duration(OUTCOME_LABEL[outcome.kind]).observe(elapsed / 1000);
    this.#settle(r, outcome, Math.round(elapsed), r.trace ? this.#endTrace(r, outcome) : undefined);
    if (!this.#stopping) {
      const next = this.#waiting.shift();
      if (next) this.#start(next);
    }
    if (this.#running.length === 0 && this.#idle) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
  }

  /**
   * Ends the process span with the outcome; returns the settle span, ended when the broker has the settlement (none
   * under a process span that was sampled out: it would not be recorded either).
   */
  #endTrace(r: Running, outcome: Outcome): Span | undefined {
    const span = r.trace!.span;
    if (!span.isRecording()) {
      span.end();
      return undefined;
    }
    span.setAttribute(Attr.outcome, OUTCOME_LABEL[outcome.kind]);
    if (outcome.kind === 'retry' || outcome.kind === 'dead') {
      const e = outcome.error;
      Telemetry.recordError(span, { message: e.message, ...(e.name ? { name: e.name } : {}) });
    }
    span.end();
    return this.#env.telemetry?.startSettle(
      this.#system,
      this.definition.source.name,
      SETTLE_OPERATION[outcome.kind],
      1,
      [span.spanContext()],
      r.delivery.id,
    );
  }

  #settle(r: Running, outcome: Outcome, durationMs: number, span: Span | undefined): void {
    const { delivery } = r;
    const events = this.#env.events;
    switch (outcome.kind) {
      case 'ack':
        // The common path: no log line or event object unless asked for.
        this.#track(() => delivery.ack(), delivery, 'ack', span);
        if (events.has('completed'))
          events.emit('completed', {
            consumer: this.definition.name,
            id: delivery.id,
            type: r.type,
            attempt: delivery.attempt,
            durationMs,
          });
        if (this.#debug)
          this.#env.messageLog.debug(
            { ...this.#fields(r), durationMs },
            `${this.#label(r)} handled in ${durationMs} ms`,
          );
        return;
      case 'retry': {
        const { delayMs, error } = outcome;
        this.#metrics.retries.add();
        this.#track(() => delivery.retry(delayMs, error), delivery, 'retry', span);
        if (events.has('failed'))
          events.emit('failed', { ...this.#base(r), durationMs, error, retryInMs: delayMs });
        this.#env.messageLog.warn(
          { ...this.#fields(r), error: error.message, retryInMs: delayMs },
          `${this.#label(r)} failed attempt ${delivery.attempt}/${this.definition.maxAttempts}: ${error.message}; retrying in ${delayMs} ms`,
        );
        return;
      }
      case 'dead': {
        const { reason, error } = outcome;
        const history = outcome.history ?? [...readAttemptErrors(delivery.headers), error];
        this.#metrics.deadLetters.add();
        this.#track(() => delivery.deadLetter(reason, history), delivery, 'deadLetter', span);
        if (events.has('dead')) events.emit('dead', { ...this.#base(r), durationMs, reason, error });
        this.#env.messageLog.error(
          { ...this.#fields(r), reason, error: error.message },
          reason === 'poison'
            ? `${this.#label(r)} is poison, dead-lettered without retrying: ${error.message}`
            : `${this.#label(r)} is dead-lettered after attempt ${error.attempt}/${this.definition.maxAttempts}: ${error.message}`,
        );
        return;
      }
      case 'release':
        this.#release(delivery, r.type, span);
        return;
    }
  }

  /** Hands a delivery back to the broker, uncounted. */
  #release(delivery: Delivery, type: string | undefined, span?: Span): void {
    this.#track(() => delivery.release(), delivery, 'release', span);
    const events = this.#env.events;
    if (events.has('released'))
      events.emit('released', {
        consumer: this.definition.name,
        id: delivery.id,
        type,
        attempt: delivery.attempt,
      });
  }

  /** Makes a settle call and keeps it until it returns (stop waits for them all); a failure is logged, never thrown. */
  #track(settle: () => Promise<void>, delivery: Delivery, kind: string, span?: Span): void {
    let settling: Promise<void>;
    try {
      settling = settle();
    } catch (error) {
      // An adapter throwing instead of rejecting is handled the same way.
      settling = Promise.reject(error);
    }
    if (span === undefined) {
      // Adapters that send settles together (Redis, one XACK per turn) return one promise for the batch: one
      // reaction for all of them, not one promise and two closures per delivery.
      const group = this.#settleGroup;
      if (group !== undefined && group.promise === settling) {
        group.deliveries.push(delivery);
        group.kinds.push(kind);
        return;
      }
      this.#trackGroup({ promise: settling, deliveries: [delivery], kinds: [kind] });
      return;
    }
    const tracked: Promise<void> = settling.then(
      () => {
        this.#settling.delete(tracked);
        span?.end();
      },
      (error: unknown) => {
        this.#settling.delete(tracked);
        const text = describeThrown(error).message;
        if (span) {
          Telemetry.recordError(span, describeThrown(error));
          span.end();
        }
        this.#env.log.error(
          { consumer: this.definition.name, messageId: delivery.id, settle: kind, error: text },
          `Settling message ${delivery.id} (${kind}) with ${this.#transport.kind} failed: ${text}; the broker delivers it again`,
        );
      },
    );
    this.#settling.add(tracked);
  }

  /** Keeps a settle promise shared by the deliveries of `group` until it returns; a failure is logged for each. */
  #trackGroup(group: SettleGroup): void {
    this.#settleGroup = group;
    const done = () => {
      this.#settling.delete(tracked);
      // Settled: a later call returning the same promise (a shared resolved one) starts a group of its own.
      if (this.#settleGroup === group) this.#settleGroup = undefined;
    };
    const tracked: Promise<void> = group.promise.then(done, (error: unknown) => {
      done();
      const text = describeThrown(error).message;
      group.deliveries.forEach((delivery, i) => {
        const kind = group.kinds[i];
        this.#env.log.error(
          { consumer: this.definition.name, messageId: delivery.id, settle: kind, error: text },
          `Settling message ${delivery.id} (${kind}) with ${this.#transport.kind} failed: ${text}; the broker delivers it again`,
        );
      });
    });
    this.#settling.add(tracked);
  }

  #fields(r: Running): Record<string, unknown> {
    return {
      consumer: this.definition.name,
      messageId: r.delivery.id,
      message: r.type,
      attempt: r.delivery.attempt,
    };
  }

  #label(r: Running): string {
    return `Message ${r.type ?? '(unread)'}#${r.delivery.id} (consumer '${this.definition.name}')`;
  }

  #base(r: Running): MessageEventBase {
    return { consumer: this.definition.name, id: r.delivery.id, type: r.type, attempt: r.delivery.attempt };
  }
}
