import { randomUUID } from 'node:crypto';
import type { Span } from '@opentelemetry/api';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import { delayProblem } from '../jobs/handler-values.ts';
import { formatIssues } from '../jobs/job-definition.ts';
import type { JobStore } from '../jobs/job-store.ts';
import { describeThrown } from '../jobs/thrown-value.ts';
import { Attr, messagingSystem, Telemetry } from '../telemetry/telemetry.ts';
import { TRACEPARENT } from '../telemetry/trace-context.ts';
import { assertDestination, type MessageDefinition } from './message-definition.ts';
import { MessagingTransports } from './messaging-transports.ts';
import { isOutboxStore, type OutboxMessage } from './outbox-store.ts';
import { type Destination, type OutgoingMessage, TYPE_HEADER } from './transport.ts';

/** Per-message options of {@link MessagePublisher.send}. */
export interface SendOptions {
  /** Ordering key (SQS FIFO group, Kafka key, Service Bus session); ignored where the broker has none. */
  readonly key?: string;
  /** Deliver no earlier than this many ms from now. */
  readonly delayMs?: number;
  /** The message id; a random UUID when not given. */
  readonly id?: string;
  /** Extra headers (string values). Names starting with `hostwork-` are Hostwork's own and refused. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Overrides the definition's destination. */
  readonly destination?: Destination;
  /** Overrides the definition's transport (a name registered with `addMessaging`). */
  readonly transport?: string;
  /**
   * The application's open transaction: the message goes to the job store's outbox through it instead of to the
   * broker, exists if and only if that transaction commits, and is published by the outbox relay after the commit
   * (at least once, with this id; a key's messages in order). PostgreSQL: a node-postgres client after BEGIN or a
   * postgres.js `tx`. SQLite: your own `DatabaseSync` on the store's file, inside its transaction. Needs the job
   * store of `addJobs` in the host.
   */
  readonly tx?: unknown;
}

/** One message of {@link MessagePublisher.sendMany}. */
export interface SendItem<Input> extends Omit<SendOptions, 'destination' | 'transport' | 'tx'> {
  readonly payload: Input;
}

const SEND_KEYS = ['key', 'delayMs', 'id', 'headers', 'destination', 'transport', 'tx'];
const ITEM_KEYS = ['payload', 'key', 'delayMs', 'id', 'headers'];
const MANY_KEYS = ['destination', 'transport', 'tx'];
const encoder = new TextEncoder();

/**
 * Publishes typed messages through the transports registered with `addMessaging`. Each payload is validated with its
 * definition's schema first: an invalid one throws HW_MESSAGE_INVALID_PAYLOAD naming the failing fields, and nothing
 * is published. The body is the schema's output as JSON; the `hostwork-type` header carries the definition's name.
 * A send resolves once the broker has the messages for good (publisher confirms, a 200 from the API...).
 *
 * @example
 * ```ts
 * const publisher = host.services.get(MessagePublisher);
 * const id = await publisher.send(OrderPlaced, { orderId: 'o-1', total: 42 }, { key: 'customer-7' });
 * ```
 */
export class MessagePublisher {
  static readonly inject = [MessagingTransports] as const;
  readonly #transports: MessagingTransports;
  readonly #store: () => JobStore | undefined;
  readonly #telemetry: Telemetry | undefined;

  /**
   * `store` finds the host's job store, for `send(..., { tx })` (`addMessaging` gives the one of `addJobs`);
   * `telemetry`: a send span per message, its context in the `traceparent`/`tracestate` headers, and the sent count.
   */
  constructor(
    transports: MessagingTransports,
    store: () => JobStore | undefined = () => undefined,
    telemetry?: Telemetry,
  ) {
    this.#transports = transports;
    this.#store = store;
    this.#telemetry = telemetry;
  }

  /** Validates and publishes one message; resolves to its id. */
  async send<Input, Output>(
    message: MessageDefinition<Input, Output>,
    payload: NoInfer<Input>,
    options: SendOptions = {},
  ): Promise<string> {
    assertKnownKeys(`send('${message.name}') options`, options, SEND_KEYS);
    const { destination, transport, tx } = options;
    const [id] = await this.#publish(message, [{ ...withoutRoute(options), payload }], {
      destination,
      transport,
      tx,
    });
    return id!;
  }

  /** Validates every payload, then publishes them in one call (nothing is published if one is invalid); their ids. */
  async sendMany<Input, Output>(
    message: MessageDefinition<Input, Output>,
    items: readonly SendItem<NoInfer<Input>>[],
    options: Pick<SendOptions, 'destination' | 'transport' | 'tx'> = {},
  ): Promise<string[]> {
    assertKnownKeys(`sendMany('${message.name}') options`, options, MANY_KEYS);
    for (const [i, item] of items.entries()) {
      assertKnownKeys(`sendMany('${message.name}') item ${i}`, item, ITEM_KEYS);
    }
    return this.#publish(message, items, options);
  }

  async #publish<Input, Output>(
    message: MessageDefinition<Input, Output>,
    items: readonly SendItem<Input>[],
    route: Pick<SendOptions, 'destination' | 'transport' | 'tx'>,
  ): Promise<string[]> {
    const name = message.name;
    const destination = route.destination ?? message.destination;
    if (destination === undefined) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `Message '${name}' has no destination. Fix: give defineMessage({ ..., destination: { name: '<queue>' } }) or send(..., { destination }).`,
      );
    }
    assertDestination(destination, `send('${name}'): destination`);
    const transportName = route.transport ?? message.transport ?? this.#onlyTransport(name);
    const outgoing: OutgoingMessage[] = [];
    for (const [i, item] of items.entries()) {
      outgoing.push(await this.#outgoing(message, item, items.length > 1 ? ` (item ${i})` : ''));
    }
    // A transport the relay will find (with tx), and its kind for telemetry.
    const system = messagingSystem(this.#transports.get(transportName, `send('${name}')`).kind);
    const spans = this.#telemetry?.tracing
      ? this.#trace(outgoing, system, destination.name, name)
      : undefined;
    try {
      if (route.tx !== undefined) {
        await this.#outbox(name).appendOutbox(
          outgoing.map((m) => toOutboxMessage(m, transportName, destination)),
          { tx: route.tx },
        );
      } else {
        const transport = await this.#transports.connected(transportName, `send('${name}')`);
        await transport.publish(destination, outgoing);
      }
    } catch (error) {
      if (spans) {
        for (const span of spans) {
          Telemetry.recordError(span, describeThrown(error));
          span.end();
        }
      }
      throw error;
    }
    if (spans) for (const span of spans) span.end();
    if (this.#telemetry?.metricsEnabled)
      this.#telemetry.destination(system, destination.name).sent.add(outgoing.length);
    return outgoing.map((m) => m.id);
  }

  /**
   * A send span per message, its context written into the message's `traceparent`/`tracestate` headers (a message
   * whose caller set `traceparent` keeps the caller's). With `tx`, the headers are stored in the outbox, so the
   * consumer's span continues this trace whenever the relay publishes it.
   */
  #trace(outgoing: OutgoingMessage[], system: string, destination: string, type: string): Span[] {
    const spans: Span[] = [];
    for (let i = 0; i < outgoing.length; i++) {
      const m = outgoing[i]!;
      const span = this.#telemetry!.startSend(system, destination, {
        [Attr.messageId]: m.id,
        [Attr.messageType]: type,
      });
      if (span === undefined) continue;
      spans.push(span);
      const carrier = this.#telemetry!.carrierOf(span);
      if (carrier && m.headers[TRACEPARENT] === undefined)
        outgoing[i] = { ...m, headers: { ...m.headers, ...carrier } };
    }
    return spans;
  }

  async #outgoing<Input, Output>(
    message: MessageDefinition<Input, Output>,
    item: SendItem<Input>,
    which: string,
  ): Promise<OutgoingMessage> {
    const name = message.name;
    const invalid = (text: string) =>
      new HostworkError(
        ErrorCodes.MESSAGE_INVALID_PAYLOAD,
        `Message '${name}'${which}: ${text}; nothing was published.`,
      );
    let result: StandardSchemaV1.Result<Output>;
    try {
      const validated = message.schema['~standard'].validate(item.payload);
      result = validated instanceof Promise ? await validated : validated;
    } catch (error) {
      throw invalid(`validating the payload threw (${(error as Error)?.message ?? String(error)})`);
    }
    if (result.issues)
      throw invalid(`the payload does not match the schema:\n${formatIssues(result.issues)}\n`);
    let json: string | undefined;
    try {
      json = JSON.stringify(result.value);
    } catch (error) {
      throw invalid(`the payload cannot be sent as JSON (${(error as Error).message})`);
    }
    if (json === undefined) throw invalid('the payload cannot be sent as JSON (it has no JSON value)');
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(item.headers ?? {})) {
      if (key.toLowerCase().startsWith('hostwork-')) {
        throw new HostworkError(
          ErrorCodes.INVALID_OPTION,
          `send('${name}')${which}: header '${key}' is Hostwork's own (names starting with hostwork- are reserved); use another name.`,
        );
      }
      if (typeof value !== 'string') {
        throw new HostworkError(
          ErrorCodes.INVALID_OPTION,
          `send('${name}')${which}: header '${key}' must be a string, got ${JSON.stringify(value)}.`,
        );
      }
      headers[key] = value;
    }
    headers[TYPE_HEADER] = name;
    if (item.id !== undefined && (typeof item.id !== 'string' || item.id === '')) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `send('${name}')${which}: id must be a non-empty string, got ${JSON.stringify(item.id)}.`,
      );
    }
    if (item.key !== undefined && typeof item.key !== 'string') {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `send('${name}')${which}: key must be a string, got ${JSON.stringify(item.key)}.`,
      );
    }
    const problem = item.delayMs === undefined ? undefined : delayProblem(item.delayMs, Date.now());
    if (problem !== undefined) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `send('${name}')${which}: delayMs ${problem}; got ${String(item.delayMs)}.`,
      );
    }
    const delayMs = Math.max(0, item.delayMs ?? 0);
    return {
      id: item.id ?? randomUUID(),
      body: encoder.encode(json),
      headers,
      ...(item.key !== undefined ? { key: item.key } : {}),
      ...(delayMs > 0 ? { delayMs } : {}),
    };
  }

  #outbox(message: string) {
    const store = this.#store();
    if (store === undefined) {
      throw new HostworkError(
        ErrorCodes.OUTBOX_UNAVAILABLE,
        `send('${message}', ..., { tx }): the host has no job store, which keeps the outbox. Fix: add addJobs(builder, { store: ... }) with the SQLite or PostgreSQL store, or send without tx.`,
      );
    }
    if (!isOutboxStore(store)) {
      throw new HostworkError(
        ErrorCodes.OUTBOX_UNAVAILABLE,
        `send('${message}', ..., { tx }): the job store '${store.kind}' keeps no outbox. Fix: use the SQLite store or @hostwork/postgres, or send without tx.`,
      );
    }
    return store;
  }

  #onlyTransport(message: string): string {
    const names = this.#transports.names();
    if (names.length === 1) return names[0]!;
    throw new HostworkError(
      ErrorCodes.TRANSPORT_NOT_REGISTERED,
      `send('${message}'): ${names.length === 0 ? 'no transport is registered' : `several transports are registered (${names.join(', ')})`}, and neither the message nor the call names one. Fix: defineMessage({ ..., transport: '<name>' }) or send(..., { transport: '<name>' }).`,
    );
  }
}

function withoutRoute(options: SendOptions): Omit<SendOptions, 'destination' | 'transport' | 'tx'> {
  const { destination: _d, transport: _t, tx: _x, ...rest } = options;
  return rest;
}

function toOutboxMessage(m: OutgoingMessage, transport: string, destination: Destination): OutboxMessage {
  return {
    id: m.id,
    transport,
    destination: JSON.stringify({
      name: destination.name,
      ...(destination.options ? { options: destination.options } : {}),
    }),
    key: m.key ?? null,
    headers: JSON.stringify(m.headers),
    body: m.body,
    delayMs: m.delayMs ?? 0,
    createdAt: Date.now(),
  };
}
