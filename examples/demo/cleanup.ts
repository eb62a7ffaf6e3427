import type { HostBuilder, Logger } from 'hostwork';
import { addPeriodicService, LoggerFactory } from 'hostwork';

/**
 * A scoped service, like a DbContext: one per cleanup cycle, disposed when the cycle ends.
 * Injecting it into the (singleton) worker directly would fail at build: the periodic service creates a scope per run.
 */
export class CleanupService implements Disposable {
  static readonly inject = [LoggerFactory] as const;
  static #instances = 0;
  readonly #log: Logger;
  readonly instance = ++CleanupService.#instances;

  constructor(loggers: LoggerFactory) {
    this.#log = loggers.create('CleanupService');
  }

  async deleteExpiredRecords(signal: AbortSignal): Promise<number> {
    signal.throwIfAborted();
    const deleted = Math.floor(Math.random() * 5);
    this.#log.info({ instance: this.instance, deleted }, `Deleted ${deleted} expired record(s)`);
    return deleted;
  }

  [Symbol.dispose](): void {
    this.#log.debug({ instance: this.instance }, 'Cleanup service disposed');
  }
}

/** The seed's CleanupWorker loop done right: no overlap, a fresh scope per cycle, errors logged and counted. */
export function addCleanupWorker(builder: HostBuilder): void {
  builder.services.addScoped(CleanupService);
  const interval = Number(builder.configuration.get('Demo:CleanupIntervalMs') ?? 15_000);
  addPeriodicService(builder.services, 'cleanup', {
    interval,
    run: async ({ services, signal, logger }) => {
      logger.info('Cleanup cycle started.');
      await services.get(CleanupService).deleteExpiredRecords(signal);
    },
  });
}
