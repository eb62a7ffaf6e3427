import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'hostwork';
import { BackgroundService, JobClient, LoggerFactory } from 'hostwork';
import { ImportFile } from './jobs.ts';
import { ImportOptions } from './options.ts';

/**
 * The Worker: a BackgroundService whose `execute` runs for the life of the host. It looks for new files every
 * `Import:IntervalMs` and hands each to a durable job, so the work survives a crash of this process. When the host
 * stops, `signal` aborts and the loop ends.
 */
export class Worker extends BackgroundService {
  static readonly inject = [ImportOptions, JobClient, LoggerFactory] as const;
  readonly #options: ImportOptions;
  readonly #jobs: JobClient;
  readonly #log: Logger;
  #found = 0;

  constructor(options: ImportOptions, jobs: JobClient, loggers: LoggerFactory) {
    super();
    this.#options = options;
    this.#jobs = jobs;
    this.#log = loggers.create('Worker');
  }

  protected async execute(signal: AbortSignal): Promise<void> {
    this.#log.info(`Worker running: looking in ${this.#options.Source} every ${this.#options.IntervalMs} ms`);
    while (!signal.aborted) {
      const file = `file-${++this.#found}.csv`; // stands for a real listing of new files
      const { id } = await this.#jobs.enqueue(ImportFile, { file, source: this.#options.Source });
      this.#log.info({ jobId: id }, `Found ${file}; import job ${id} enqueued`);
      await sleep(this.#options.IntervalMs, undefined, { signal }).catch(() => {});
    }
    this.#log.info('Worker stopping');
  }
}
