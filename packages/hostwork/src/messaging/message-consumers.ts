import { ScopeFactory } from '../di/scope.ts';
import { ErrorCodes, HostworkError } from '../errors.ts';
import { HostOptions } from '../hosting/host-options.ts';
import type { HostedService } from '../hosting/hosted-service.ts';
import { shutdownGraceMs } from '../hosting/shutdown-grace.ts';
import type { JobStore } from '../jobs/job-store.ts';
import { describeThrown } from '../jobs/thrown-value.ts';
import type { Logger } from '../logging/logger-factory.ts';
import { LoggerFactory } from '../logging/logger-factory.ts';
import type { GaugeValue } from '../telemetry/metric-registry.ts';
import { Attr, messagingSystem, type Telemetry } from '../telemetry/telemetry.ts';
import type { ConsumerDefinition } from './consumer-definition.ts';
import { ConsumerRunner } from './consumer-runner.ts';
import { isInboxStore } from './inbox-store.ts';
import { MessageEvents } from './message-events.ts';
import { MessagingOptions } from './messaging-options.ts';
import { MessagingTransports } from './messaging-transports.ts';
import type { ConsumerLag } from './transport.ts';

/**
 * The hosted service running every consumer registered with `addMessaging`. On start it connects each transport
 * (once) and subscribes each consumer; on stop it stops them all at once, each in order (subscription, prefetched
 * deliveries released, running handlers waited for within the host's budget, aborted and released after it, every
 * settle call awaited). The transports close later, when the host disposes its singletons.
 */
export class MessageConsumers implements HostedService {
  static readonly inject = [
    MessagingTransports,
    MessageEvents,
    ScopeFactory,
    LoggerFactory,
    HostOptions,
    MessagingOptions,
  ] as const;

  readonly #transports: MessagingTransports;
  readonly #hostOptions: HostOptions;
  readonly #options: MessagingOptions;
  readonly #log: Logger;
  #env: ConstructorParameters<typeof ConsumerRunner>[2];
  #runners: ConsumerRunner[] = [];

  readonly #store: () => JobStore | undefined;
  readonly #telemetry: Telemetry | undefined;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #unwatchLag: (() => void) | undefined;

  /** `store` finds the host's job store, for consumers with an inbox (`addMessaging` gives the one of `addJobs`). */
  constructor(
    transports: MessagingTransports,
    events: MessageEvents,
    scopes: ScopeFactory,
    loggers: LoggerFactory,
    hostOptions: HostOptions,
    options: MessagingOptions,
    store: () => JobStore | undefined = () => undefined,
    telemetry?: Telemetry,
  ) {
    this.#store = store;
    this.#telemetry = telemetry;
    this.#transports = transports;
    this.#hostOptions = hostOptions;
    this.#options = options;
    this.#log = loggers.create('Hostwork.Messaging.Consumer');
    this.#env = {
      scopes,
      events,
      log: this.#log,
      messageLog: loggers.create('Hostwork.Messaging'),
      abortGraceMs: options.abortGraceMs,
      ...(telemetry ? { telemetry } : {}),
    };
  }

  /**
   * For the `consumers` health check: per consumer, its broker and whether its subscription has its connection
   * (a consumer reconnecting after a broker restart or a lost connection has not).
   */
  get connections(): Array<{
    readonly consumer: string;
    readonly transport: string;
    readonly connected: boolean;
    readonly since?: number;
    readonly error?: string;
  }> {
    return this.#runners.map((r) => ({
      consumer: r.definition.name,
      transport: r.definition.transport,
      ...r.connection,
    }));
  }

  /**
   * For the `consumer-lag:<consumer>` health checks: what the consumer's broker reports waiting for it that it has not
   * received yet (`Transport.lag`). `running: false` while the consumer is not running (before the start, after
   * the stop); `lag` undefined when its transport does not tell.
   */
  async lag(
    consumer: string,
  ): Promise<{ readonly running: boolean; readonly transport: string; readonly lag?: ConsumerLag }> {
    const runner = this.#runners.find((r) => r.definition.name === consumer);
    const definition = runner?.definition ?? this.#options.consumers.find((c) => c.name === consumer);
    if (definition === undefined)
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `MessageConsumers.lag(): no consumer is named '${consumer}' (registered: ${this.#options.consumers.map((c) => c.name).join(', ')}).`,
      );
    if (runner === undefined) return { running: false, transport: definition.transport };
    // Running: its transport is built and connected.
    const transport = this.#transports.get(definition.transport, `Consumer '${consumer}'`);
    const lag = transport.lag ? await transport.lag(definition.source) : undefined;
    return { running: true, transport: definition.transport, ...(lag === undefined ? {} : { lag }) };
  }

  /** Handlers running now, across consumers. */
  get runningCount(): number {
    return this.#runners.reduce((n, r) => n + r.runningCount, 0);
  }

  async start(): Promise<void> {
    const withInbox = this.#options.consumers.filter((c) => c.inbox !== undefined);
    if (withInbox.length > 0) {
      const store = this.#store();
      if (store === undefined || !isInboxStore(store)) {
        throw new HostworkError(
          ErrorCodes.INBOX_UNAVAILABLE,
          `Consumer '${withInbox[0]!.name}' has an inbox, which lives in the job store, and the host has ${store === undefined ? 'no job store' : `a job store ('${store.kind}') that keeps no inbox`}. Fix: add addJobs(builder, { store: ... }) with the SQLite or PostgreSQL store, or remove the consumer's inbox option.`,
        );
      }
      this.#env = { ...this.#env, inbox: store };
      this.#pruneTimer = setInterval(() => {
        store.pruneInbox(Date.now(), 1_000).catch((error: unknown) => {
          this.#log.warn(
            { err: error },
            `Pruning the consumers' inbox failed: ${describeThrown(error).message}`,
          );
        });
      }, 60_000);
      this.#pruneTimer.unref();
    }
    try {
      for (const definition of this.#options.consumers) await this.#startOne(definition);
      this.#unwatchLag = this.#telemetry?.watchConsumerLag(() => this.#lagValues());
    } catch (error) {
      // The host does not stop a service whose start failed: stop the consumers already receiving here.
      await this.stop(AbortSignal.timeout(this.#hostOptions.shutdownTimeout));
      throw error;
    }
  }

  async #startOne(definition: ConsumerDefinition): Promise<void> {
    const where = `Consumer '${definition.name}'`;
    const transport = await this.#transports.connected(definition.transport, where);
    const runner = new ConsumerRunner(definition, transport, this.#env);
    await runner.start();
    this.#runners.push(runner);
    this.#log.info(
      {
        consumer: definition.name,
        transport: definition.transport,
        source: definition.source.name,
        concurrency: definition.concurrency,
      },
      `Consumer '${definition.name}' started on ${transport.kind} '${definition.source.name}' (concurrency ${definition.concurrency})`,
    );
  }

  /** `messaging.consumer.lag`: each running consumer's lag where its transport reports one; a failed read, none. */
  async #lagValues(): Promise<GaugeValue[]> {
    const values = await Promise.all(
      this.#runners.map(async (runner): Promise<GaugeValue[]> => {
        const { name, transport: transportName, source } = runner.definition;
        const transport = this.#transports.get(transportName, `Consumer '${name}'`);
        if (!transport.lag) return [];
        const lag = await transport.lag(source).catch(() => undefined);
        if (lag === undefined) return [];
        const labels = {
          [Attr.system]: messagingSystem(transport.kind),
          [Attr.destination]: source.name,
          [Attr.consumerGroup]: name,
        };
        return [{ labels, value: lag.messages }];
      }),
    );
    return values.flat();
  }

  async stop(signal: AbortSignal): Promise<void> {
    this.#unwatchLag?.();
    this.#unwatchLag = undefined;
    if (this.#pruneTimer !== undefined) clearInterval(this.#pruneTimer);
    const graceMs = shutdownGraceMs(this.#hostOptions.shutdownTimeout);
    const runners = this.#runners;
    this.#runners = [];
    await Promise.all(runners.map((r) => r.stop(graceMs, signal)));
    if (runners.length > 0) this.#log.info(`Message consumers stopped (${runners.length})`);
  }
}
