import type { ServiceProvider } from '../di/service-provider.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import { type Backoff, defaultBackoff } from '../jobs/backoff.ts';
import { validateJobDefaults } from '../jobs/job-definition.ts';
import type { Logger } from '../logging/logger-factory.ts';
import { type LagThresholdOptions, validateLagThresholds } from './lag-thresholds.ts';
import { assertDestination, type MessageDefinition } from './message-definition.ts';
import type { Destination, Headers } from './transport.ts';

/** What a consumer's handler receives besides the message: shaped like a job's context. */
export interface MessageContext {
  /** The message id (the publisher's, or the broker's). */
  readonly id: string;
  /** The message definition's name (the `hostwork-type` header, or the consumer's only message). */
  readonly type: string;
  /** The consumer's name. */
  readonly consumer: string;
  /** 1 for the first delivery; counted in Hostwork's `hostwork-attempt` header. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Aborts on timeout and at the end of the shutdown grace. */
  readonly signal: AbortSignal;
  /** Every header the message carries, Hostwork's included. */
  readonly headers: Headers;
  /** The ordering key, when the broker carries one. */
  readonly key?: string;
  /** A logger bound to this delivery (message id, type, consumer, attempt). */
  readonly logger: Logger;
  /** A DI scope for this delivery, disposed when the handler ends. */
  readonly services: ServiceProvider;
  /**
   * Records this message in the consumer's inbox through the handler's own transaction `tx` (as for the outbox: a
   * PostgreSQL client after BEGIN or a postgres.js `tx`; SQLite, the application's `DatabaseSync` in a transaction),
   * so the record commits with the handler's effects: a redelivery then skips the handler. Resolves to false when
   * another delivery of the message recorded it first: roll back and return. Needs the consumer's `inbox` option.
   */
  completeWithin(tx: unknown): Promise<boolean>;
}

/** The consumer's inbox (`defineConsumer({ inbox })`). */
export interface InboxOptions {
  /** How long a processed message id is remembered, in ms. Default: 86,400,000 (24 h). */
  readonly windowMs?: number;
}

/**
 * This consumer's thresholds for its `consumer-lag:<consumer>` health check (`defineConsumer({ health })`): each key
 * given wins over `addMessaging({ health })`'s, and a key given nowhere takes its default (`messagingHealthDefaults`).
 */
export type ConsumerHealthOptions = LagThresholdOptions;

/** A consumer's work. Resolve to acknowledge the message; throw to fail the attempt (retried after the backoff). */
export type MessageHandler<Message> = (message: Message, ctx: MessageContext) => unknown;

/** The output type of a message definition. */
// biome-ignore lint/suspicious/noExplicitAny: any input type matches.
export type MessageOutput<M> = M extends MessageDefinition<any, infer Output> ? Output : never;

/** What {@link defineConsumer} takes: `message` for one type, or `messages` for several on one source. */
// biome-ignore lint/suspicious/noExplicitAny: definitions of every payload type.
export interface ConsumerDefinitionInput<M extends MessageDefinition<any, any>> {
  /** Unique name among the host's consumers (logs, events). */
  readonly name: string;
  /** The name of a transport registered with `addMessaging({ transports })`. */
  readonly transport: string;
  /** Where it receives from (a queue, a subscription...). */
  readonly source: Destination;
  readonly message?: M;
  readonly messages?: readonly M[];
  readonly handle: MessageHandler<MessageOutput<M>>;
  /** Handlers running at once; also the prefetch (deliveries held unsettled). Default: 1. */
  readonly concurrency?: number;
  /** Attempts before the message goes to the dead-letter destination. Default: 10. */
  readonly maxAttempts?: number;
  /**
   * Deliveries of one message that the broker may repeat without Hostwork settling it (the process died while
   * handling it, its lock ran out, a shutdown released it) before it is dead-lettered without running, with reason
   * `redeliveries-exhausted`. Read from the broker's own delivery count where it keeps one per message (NATS
   * JetStream, SQS, RabbitMQ quorum queues, Azure Service Bus); Redis Streams counts a dead consumer's lease as a
   * failed attempt instead. Default: {@link defaultMaxRedeliveries} (`max(10, 2 × maxAttempts)`).
   */
  readonly maxRedeliveries?: number;
  /** The delay before a retry; the same options as a job's. Default: exponential from 2 s with jitter. */
  readonly backoff?: Backoff;
  /** Per-attempt timeout in ms; 0 for none. Default: 0. */
  readonly timeout?: number;
  /**
   * Record processed message ids in the job store (`addJobs`), so a redelivered message (same id) runs its handler
   * once within the window; with `ctx.completeWithin(tx)`, the record commits with the handler's effects.
   */
  readonly inbox?: InboxOptions | true;
  /**
   * Thresholds of this consumer's `consumer-lag:<consumer>` health check, `{ maxLag, maxLagAgeMs }`: for a consumer
   * whose normal backlog differs from the others'. Keys not given come from `addMessaging({ health })`, then the
   * defaults (1,000 messages, 300,000 ms).
   */
  readonly health?: ConsumerHealthOptions;
}

/** A consumer definition, checked and with its defaults. */
export interface ConsumerDefinition<Message = unknown> {
  readonly name: string;
  readonly transport: string;
  readonly source: Destination;
  // biome-ignore lint/suspicious/noExplicitAny: definitions of every input type.
  readonly messages: readonly MessageDefinition<any, Message>[];
  readonly handle: MessageHandler<Message>;
  readonly concurrency: number;
  readonly maxAttempts: number;
  /** Unsettled redeliveries tolerated before the dead letter (see {@link ConsumerDefinitionInput.maxRedeliveries}). */
  readonly maxRedeliveries: number;
  readonly backoff: Backoff;
  readonly timeout: number;
  /** The inbox window, or undefined without an inbox. */
  readonly inbox?: { readonly windowMs: number };
  /** The lag thresholds this consumer sets itself (only the keys given), or undefined for addMessaging's. */
  readonly health?: ConsumerHealthOptions;
}

/**
 * The default of a consumer's `maxRedeliveries`: `max(10, 2 × maxAttempts)`. Shutdowns release prefetched messages
 * (each a redelivery the broker counts), so the limit leaves room for several restarts besides a crash per attempt.
 */
export function defaultMaxRedeliveries(maxAttempts: number): number {
  return Math.max(10, 2 * maxAttempts);
}

const KEYS = [
  'name',
  'transport',
  'source',
  'message',
  'messages',
  'handle',
  'concurrency',
  'maxAttempts',
  'maxRedeliveries',
  'backoff',
  'timeout',
  'inbox',
  'health',
];

/**
 * Defines a message consumer: where it receives from, which messages it takes, and its handler. Register it with
 * `addMessaging(builder, { transports, consumers: [...] })`; it runs as part of a hosted service.
 *
 * The handler's message is validated against its definition's schema first: a body that is not JSON, fails the
 * schema or carries an unknown `hostwork-type` goes to the dead-letter destination at once, never to the handler.
 *
 * @example
 * ```ts
 * export const ShipOrders = defineConsumer({
 *   name: 'ship-orders',
 *   transport: 'rabbit',
 *   source: { name: 'orders' },
 *   message: OrderPlaced,
 *   concurrency: 10,
 *   async handle(order, ctx) { await ctx.services.get(Shipping).ship(order.orderId, ctx.signal); },
 * });
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: definitions of every payload type.
export function defineConsumer<M extends MessageDefinition<any, any>>(
  input: ConsumerDefinitionInput<M>,
): ConsumerDefinition<MessageOutput<M>> {
  const where = `defineConsumer('${String(input?.name)}')`;
  assertKnownKeys(where, input, KEYS);
  const bad = (message: string) => new HostworkError(ErrorCodes.INVALID_OPTION, `${where}: ${message}`);
  if (typeof input.name !== 'string' || input.name === '') throw bad('name must be a non-empty string.');
  if (typeof input.transport !== 'string' || input.transport === '') {
    throw bad(
      `transport must name a transport registered with addMessaging({ transports: { <name>: ... } }), got ${JSON.stringify(input.transport)}.`,
    );
  }
  assertDestination(input.source, `${where}: source`);
  if ((input.message === undefined) === (input.messages === undefined)) {
    throw bad('give exactly one of message (one definition) or messages (several on one source).');
  }
  const messages = input.message !== undefined ? [input.message] : [...(input.messages ?? [])];
  if (messages.length === 0) throw bad('messages must list at least one message definition.');
  const names = new Set<string>();
  for (const m of messages) {
    const definition = m as Partial<MessageDefinition> | null;
    if (typeof definition !== 'object' || definition === null || typeof definition.name !== 'string') {
      throw bad('each message must be a definition made with defineMessage({ name, schema }).');
    }
    if (names.has(definition.name)) throw bad(`message '${definition.name}' is listed twice.`);
    names.add(definition.name);
  }
  if (typeof input.handle !== 'function') throw bad('handle must be a function (message, ctx) => ...');
  const concurrency = input.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw bad(`concurrency must be an integer >= 1, got ${JSON.stringify(input.concurrency)}.`);
  }
  const resolved = {
    maxAttempts: input.maxAttempts ?? 10,
    backoff: input.backoff ?? defaultBackoff,
    timeout: input.timeout ?? 0,
  };
  // The same checks, and messages, as a job's attempts, backoff and timeout.
  validateJobDefaults(resolved, where);
  const maxRedeliveries = input.maxRedeliveries ?? defaultMaxRedeliveries(resolved.maxAttempts);
  if (!(Number.isInteger(maxRedeliveries) && maxRedeliveries >= 1)) {
    throw bad(
      `maxRedeliveries must be an integer >= 1 (unsettled redeliveries before the dead letter), got ${JSON.stringify(input.maxRedeliveries)}.`,
    );
  }
  let inbox: { windowMs: number } | undefined;
  if (input.inbox !== undefined) {
    const given = input.inbox === true ? {} : input.inbox;
    if (typeof given !== 'object' || given === null) {
      throw bad(`inbox must be true or { windowMs }, got ${JSON.stringify(input.inbox)}.`);
    }
    assertKnownKeys(`${where} inbox`, given, ['windowMs']);
    const windowMs = given.windowMs ?? 86_400_000;
    if (!(Number.isFinite(windowMs) && windowMs > 0)) {
      throw bad(`inbox.windowMs must be a number of ms > 0, got ${JSON.stringify(given.windowMs)}.`);
    }
    inbox = { windowMs };
  }
  const health =
    input.health === undefined ? undefined : validateLagThresholds(input.health, `${where} health`);
  return {
    name: input.name,
    transport: input.transport,
    source: input.source,
    messages,
    handle: input.handle,
    concurrency,
    ...resolved,
    maxRedeliveries,
    ...(inbox ? { inbox } : {}),
    ...(health ? { health } : {}),
  };
}
