import { Configuration } from '../config/configuration.ts';
import { ScopeFactory } from '../di/scope.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import { healthChecksOf } from '../health/health-checks.ts';
import type { HostBuilder } from '../hosting/host-builder.ts';
import { HostOptions } from '../hosting/host-options.ts';
import { type Backoff, validateBackoff } from '../jobs/backoff.ts';
import { JobStore } from '../jobs/job-store.ts';
import { LoggerFactory } from '../logging/logger-factory.ts';
import { ensureTelemetry } from '../telemetry/add-telemetry.ts';
import { Telemetry } from '../telemetry/telemetry.ts';
import type { ConsumerDefinition } from './consumer-definition.ts';
import {
  addConsumerHealthChecks,
  type MessagingHealthOptions,
  resolveMessagingHealth,
} from './consumer-health-checks.ts';
import { MessageConsumers } from './message-consumers.ts';
import { MessageEvents } from './message-events.ts';
import { MessagePublisher } from './message-publisher.ts';
import { MessagingOptions } from './messaging-options.ts';
import { assertTransport, MessagingTransports, type TransportEntry } from './messaging-transports.ts';
import { OutboxRelay, type OutboxRelaySettings } from './outbox-relay.ts';

/** The outbox relay's settings (`addMessaging({ outbox })`). */
export interface OutboxSettings {
  /** Run the relay in this host. Default: true (idle in a host without a job store that keeps an outbox). */
  readonly relay?: boolean;
  /** Messages claimed and published per batch: also the most published twice after a relay crash. Default: 100. */
  readonly batchSize?: number;
  /** How long a claim holds its messages before another relay may take them over. Default: 60,000 ms. */
  readonly leaseMs?: number;
  /** The safety-net poll besides the store's wake-up after each commit. Default: 1,000 ms. */
  readonly pollIntervalMs?: number;
  /** Delay before publishing again after a failed publish. Default: exponential from 1 s, capped at 60 s, ±20 %. */
  readonly backoff?: Backoff;
  /** Sent messages are deleted after this long. Default: 3,600,000 ms (one hour). */
  readonly keepSentMs?: number;
}

const OUTBOX_KEYS = ['relay', 'batchSize', 'leaseMs', 'pollIntervalMs', 'backoff', 'keepSentMs'];

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
  /**
   * The transactional outbox's relay: it publishes what `send(..., { tx })` wrote to the job store's outbox, after
   * the commit. Runs by default in a host with the SQLite or PostgreSQL store of `addJobs`.
   */
  readonly outbox?: OutboxSettings;
  /**
   * The thresholds of the `consumer-lag:<consumer>` health checks: degraded past `maxLag` waiting messages (default
   * 1,000) or, where the broker reports it, past `maxLagAgeMs` for the oldest (default 300,000 ms). A consumer's own
   * `defineConsumer({ health })` wins over these, key by key.
   */
  readonly health?: MessagingHealthOptions;
}

const KEYS = ['transports', 'consumers', 'abortGraceMs', 'outbox', 'health'];

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
  const health = resolveMessagingHealth(setup.health);
  ensureTelemetry(builder);
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
        p.get(LoggerFactory),
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
  services.addSingleton(MessagePublisher, {
    factory: (p) =>
      new MessagePublisher(p.get(MessagingTransports), () => p.tryGet(JobStore), p.get(Telemetry)),
    deps: [MessagingTransports, Telemetry],
  });
  const outbox = resolveOutbox(setup.outbox);
  if (outbox !== undefined) {
    services.addHostedService(OutboxRelay, {
      factory: (p) =>
        new OutboxRelay({
          store: () => p.tryGet(JobStore),
          transports: p.get(MessagingTransports),
          log: p.get(LoggerFactory).create('Hostwork.Messaging.Outbox'),
          settings: outbox,
        }),
      deps: [MessagingTransports, LoggerFactory],
    });
  }
  if (consumers.length > 0) {
    services.addSingleton(MessagingOptions, { value: { consumers, abortGraceMs } });
    services.addHostedService(MessageConsumers, {
      factory: (p) =>
        new MessageConsumers(
          p.get(MessagingTransports),
          p.get(MessageEvents),
          p.get(ScopeFactory),
          p.get(LoggerFactory),
          p.get(HostOptions),
          p.get(MessagingOptions),
          () => p.tryGet(JobStore),
          p.get(Telemetry),
        ),
      deps: [
        MessagingTransports,
        MessageEvents,
        ScopeFactory,
        LoggerFactory,
        HostOptions,
        MessagingOptions,
        Telemetry,
      ],
    });
    addConsumerHealthChecks(healthChecksOf(builder), consumers, health);
  }
}

/** The relay's settings, or undefined when it is turned off. */
function resolveOutbox(outbox: OutboxSettings | undefined): OutboxRelaySettings | undefined {
  const given = outbox ?? {};
  if (typeof given !== 'object' || given === null) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addMessaging(): outbox must be an object of relay settings, got ${JSON.stringify(outbox)}.`,
    );
  }
  assertKnownKeys('addMessaging() outbox', given, OUTBOX_KEYS);
  if (given.relay === false) return undefined;
  const positive = (
    name: keyof OutboxSettings,
    value: unknown,
    fallback: number,
    integer = false,
  ): number => {
    if (value === undefined) return fallback;
    if (
      typeof value !== 'number' ||
      !(value > 0) ||
      !Number.isFinite(value) ||
      (integer && !Number.isInteger(value))
    ) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `addMessaging(): outbox.${name} must be a positive ${integer ? 'integer' : 'number of ms'}, got ${JSON.stringify(value)}.`,
      );
    }
    return value;
  };
  const backoff = given.backoff ?? { type: 'exponential', base: 1_000, max: 60_000, jitter: 0.2 };
  validateBackoff(backoff, 'addMessaging(): outbox');
  return {
    batchSize: positive('batchSize', given.batchSize, 100, true),
    leaseMs: positive('leaseMs', given.leaseMs, 60_000),
    pollIntervalMs: positive('pollIntervalMs', given.pollIntervalMs, 1_000),
    keepSentMs: positive('keepSentMs', given.keepSentMs, 3_600_000),
    backoff,
  };
}
