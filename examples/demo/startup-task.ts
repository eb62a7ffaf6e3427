import type { HostedService, Logger } from 'hostwork';
import { LoggerFactory } from 'hostwork';

/** The seed's StartupTask: a plain hosted service that logs when it starts and stops. */
export class StartupTask implements HostedService {
  static readonly inject = [LoggerFactory] as const;
  readonly #log: Logger;

  constructor(loggers: LoggerFactory) {
    this.#log = loggers.create('StartupTask');
  }

  start(): void {
    this.#log.info('Startup task running.');
  }

  stop(): void {
    this.#log.info('Startup task stopping.');
  }
}
