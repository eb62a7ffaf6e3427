import { ScopeFactory } from '../di/scope.ts';
import { HostOptions } from '../hosting/host-options.ts';
import type { HostedService } from '../hosting/hosted-service.ts';
import { shutdownGraceMs } from '../hosting/shutdown-grace.ts';
import type { Logger } from '../logging/logger-factory.ts';
import { LoggerFactory } from '../logging/logger-factory.ts';
import type { ConsumerDefinition } from './consumer-definition.ts';
import { ConsumerRunner } from './consumer-runner.ts';
import { MessageEvents } from './message-events.ts';
import { MessagingOptions } from './messaging-options.ts';
import { MessagingTransports } from './messaging-transports.ts';

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
  readonly #env: ConstructorParameters<typeof ConsumerRunner>[2];
  #runners: ConsumerRunner[] = [];

  constructor(
    transports: MessagingTransports,
    events: MessageEvents,
    scopes: ScopeFactory,
    loggers: LoggerFactory,
    hostOptions: HostOptions,
    options: MessagingOptions,
  ) {
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
    };
  }

  /** Handlers running now, across consumers. */
  get runningCount(): number {
    return this.#runners.reduce((n, r) => n + r.runningCount, 0);
  }

  async start(): Promise<void> {
    try {
      for (const definition of this.#options.consumers) await this.#startOne(definition);
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

  async stop(signal: AbortSignal): Promise<void> {
    const graceMs = shutdownGraceMs(this.#hostOptions.shutdownTimeout);
    const runners = this.#runners;
    this.#runners = [];
    await Promise.all(runners.map((r) => r.stop(graceMs, signal)));
    if (runners.length > 0) this.#log.info(`Message consumers stopped (${runners.length})`);
  }
}
