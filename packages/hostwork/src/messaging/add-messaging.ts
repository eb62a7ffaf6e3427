import { Configuration } from '../config/configuration.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { HostBuilder } from '../hosting/host-builder.ts';
import { LoggerFactory } from '../logging/logger-factory.ts';
import type { ConsumerDefinition } from './consumer-definition.ts';
import { MessageConsumers } from './message-consumers.ts';
import { MessageEvents } from './message-events.ts';
import { MessagePublisher } from './message-publisher.ts';
import { MessagingOptions } from './messaging-options.ts';
import { assertTransport, MessagingTransports, type TransportEntry } from './messaging-transports.ts';

/** What {@link addMessaging} sets up. */
export interface MessagingSetup {
  /**
   * The brokers, by a name of your choosing that consumers (`transport: 'rabbit'`) and messages refer to: a transport,
   * or a function building it from configuration. Each is connected once, shared, and closed once when the host has
   * stopped every hosted service.
   */
  readonly transports: Readonly<Record<string, TransportEntry>>;
  /** Consumers made with `defineConsumer`, run by one hosted service. Default: none (a process that only publishes). */
  // biome-ignore lint/suspicious/noExplicitAny: consumers of every message type live in one list.
  readonly consumers?: readonly ConsumerDefinition<any>[];
  /**
   * How long a handler that ignores its signal after a timeout is waited for before its slot is freed and the attempt
   * settled as failed. Default: 5,000 ms (as the job worker's `abortGraceMs`).
   */
  readonly abortGraceMs?: number;
}

const KEYS = ['transports', 'consumers', 'abortGraceMs'];

/**
 * Adds messaging to a host: the transports ({@link MessagingTransports}, disposed after every hosted service stopped),
 * the {@link MessagePublisher}, {@link MessageEvents}, and, when consumers are given, the {@link MessageConsumers}
 * hosted service. Bad option keys, unknown transport names and duplicate consumer names fail here, before the host
 * is built.
 *
 * @example
 * ```ts
 * addMessaging(builder, {
 *   transports: { rabbit: (config) => rabbitmqTransport({ url: String(config.get('Rabbit:Url')) }) },
 *   consumers: [ShipOrders],
 * });
 * ```
 */
export function addMessaging(builder: HostBuilder, setup: MessagingSetup): void {
  assertKnownKeys('addMessaging() setup', setup, KEYS);
  const services = builder.services;
  if (services.has(MessagingTransports)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      'addMessaging() was called twice on this host builder. Fix: pass every transport and consumer in one call.',
    );
  }
  const transports = setup.transports;
  if (typeof transports !== 'object' || transports === null || Object.keys(transports).length === 0) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      'addMessaging(): transports must name at least one transport, e.g. { transports: { memory: inMemoryTransport() } }.',
    );
  }
  for (const [name, entry] of Object.entries(transports)) {
    if (typeof entry !== 'function') assertTransport(entry, `addMessaging(): transports.${name}`);
  }
  const consumers = setup.consumers ?? [];
  const names = new Set<string>();
  for (const [i, consumer] of consumers.entries()) {
    if (typeof consumer !== 'object' || consumer === null || typeof consumer.handle !== 'function') {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `addMessaging(): consumers[${i}] must be a consumer made with defineConsumer({ ... }).`,
      );
    }
    if (names.has(consumer.name)) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `addMessaging(): two consumers are named '${consumer.name}'. Fix: give each consumer its own name.`,
      );
    }
    names.add(consumer.name);
    if (!Object.hasOwn(transports, consumer.transport)) {
      throw new HostworkError(
        ErrorCodes.TRANSPORT_NOT_REGISTERED,
        `Consumer '${consumer.name}' names transport '${consumer.transport}', which addMessaging does not register (registered: ${Object.keys(transports).join(', ')}). Fix: add it to transports: { ${consumer.transport}: ... } or name one of those.`,
      );
    }
  }
  const abortGraceMs = setup.abortGraceMs ?? 5_000;
  if (!(Number.isFinite(abortGraceMs) && abortGraceMs >= 0)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addMessaging(): abortGraceMs must be a number of ms >= 0, got ${JSON.stringify(setup.abortGraceMs)}.`,
    );
  }
  services.addSingleton(MessagingTransports, {
    factory: (p) =>
      new MessagingTransports(
        transports,
        p.get(Configuration),
        p.get(LoggerFactory).create('Hostwork.Messaging.Consumer'),
      ),
    deps: [Configuration, LoggerFactory],
  });
  services.addSingleton(MessageEvents, {
    factory: (provider) => {
      const log = provider.get(LoggerFactory).create('Hostwork.Messaging.Events');
      return new MessageEvents((error, event) =>
        log.error({ err: error, event }, `A '${event}' event listener threw`),
      );
    },
    deps: [LoggerFactory],
  });
  services.addSingleton(MessagePublisher);
  if (consumers.length > 0) {
    services.addSingleton(MessagingOptions, { value: { consumers, abortGraceMs } });
    services.addHostedService(MessageConsumers);
  }
}
