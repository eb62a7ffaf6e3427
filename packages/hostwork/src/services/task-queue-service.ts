import { ScopeFactory } from '../di/scope.ts';
import { assertKnownKeys } from '../errors.ts';
import { BackgroundService, isStopAbort } from '../hosting/background-service.ts';
import type { HostServiceCollection } from '../hosting/host-services.ts';
import { type Logger, LoggerFactory } from '../logging/logger-factory.ts';
import {
  BackgroundTaskQueue,
  type BackgroundTaskQueueOptions,
  resolveTaskQueueOptions,
  type WorkItem,
} from './task-queue.ts';
import { assertInteger, assertObject, functionName } from './validate.ts';

/** Options of {@link TaskQueueService}. */
export interface TaskQueueServiceOptions {
  /** How many items run at the same time. Default: 1. */
  readonly concurrency?: number;
}

/** Options of {@link addTaskQueue}: the queue's and its consumer's. */
export interface TaskQueueOptions extends BackgroundTaskQueueOptions, TaskQueueServiceOptions {}

/**
 * The hosted consumer of the {@link BackgroundTaskQueue}: runs up to `concurrency` items at a time, each in its own
 * DI scope. A failing item is logged with its stack and the next one runs.
 *
 * On shutdown it closes the queue (new `enqueue` calls reject with HW_QUEUE_CLOSED), logs how many queued items it
 * drops without running, and waits for the running items to finish. If the host's shutdown budget runs out first,
 * it aborts the running items' signal. Since the host stops services in reverse registration order, register the
 * queue before the services that enqueue into it, so they stop first.
 */
export class TaskQueueService extends BackgroundService {
  /** The queue, the scope factory and the logger factory; `concurrency` comes from the options. */
  static readonly inject = [BackgroundTaskQueue, ScopeFactory, LoggerFactory] as const;

  readonly #queue: BackgroundTaskQueue;
  readonly #scopes: ScopeFactory;
  readonly #log: Logger;
  /** How many items may run at once. */
  readonly concurrency: number;
  // Items are not cancelled when stopping begins: they may finish. Only an exhausted shutdown budget aborts them.
  readonly #abortItems = new AbortController();
  #running = 0;
  #completed = 0;
  #failed = 0;

  constructor(
    queue: BackgroundTaskQueue,
    scopes: ScopeFactory,
    loggerFactory: LoggerFactory,
    options: TaskQueueServiceOptions = {},
  ) {
    super();
    this.concurrency = resolveConsumerOptions(options).concurrency;
    this.#queue = queue;
    this.#scopes = scopes;
    this.#log = loggerFactory.create('Hostwork.TaskQueueService');
  }

  /** How many items are running now. */
  get running(): number {
    return this.#running;
  }

  /** How many items finished without error. */
  get completed(): number {
    return this.#completed;
  }

  /** How many items threw or rejected (aborted ones included). */
  get failed(): number {
    return this.#failed;
  }

  protected async execute(signal: AbortSignal): Promise<void> {
    const worker = async (): Promise<void> => {
      for (;;) {
        const item = await this.#queue.dequeue(signal);
        if (!item) return;
        await this.#runItem(item);
      }
    };
    await Promise.all(Array.from({ length: this.concurrency }, worker));
  }

  /** Closes the queue, then waits for running items; aborts them if `signal` (the shutdown budget) fires. */
  override async stop(signal: AbortSignal): Promise<void> {
    const discarded = this.#queue.close();
    if (discarded > 0) {
      this.#log.warn(
        { dropped: discarded, running: this.#running },
        `Task queue closed: dropped ${discarded} queued work item(s) that had not started; waiting for ${this.#running} running item(s)`,
      );
    } else {
      this.#log.info(
        { dropped: 0, running: this.#running },
        `Task queue closed: no queued work item dropped; waiting for ${this.#running} running item(s)`,
      );
    }
    const abortItems = () => {
      if (this.#running > 0) {
        this.#log.warn(
          { running: this.#running },
          `Shutdown budget exhausted: aborting ${this.#running} running work item(s)`,
        );
      }
      this.#abortItems.abort(new Error('The shutdown timeout ran out while the work item was running'));
    };
    if (signal.aborted) abortItems();
    else signal.addEventListener('abort', abortItems, { once: true });
    try {
      await super.stop(signal);
    } finally {
      signal.removeEventListener('abort', abortItems);
    }
  }

  async #runItem(item: WorkItem): Promise<void> {
    const name = functionName(item);
    const logger = this.#log.child({ item: name });
    const signal = this.#abortItems.signal;
    this.#running++;
    try {
      await using scope = this.#scopes.createScope();
      await item({ services: scope.services, signal, logger });
      this.#completed++;
    } catch (error) {
      this.#failed++;
      const message = error instanceof Error ? error.message : String(error);
      if (isStopAbort(error, signal)) logger.warn(`Work item '${name}' was aborted by the shutdown timeout`);
      else logger.error({ err: error }, `Work item '${name}' failed: ${message}`);
    } finally {
      this.#running--;
    }
  }
}

/** Checks the consumer's options and applies the default (HW_UNKNOWN_OPTION / HW_INVALID_OPTION). */
function resolveConsumerOptions(options: TaskQueueServiceOptions): Required<TaskQueueServiceOptions> {
  assertObject('TaskQueueService', options);
  assertKnownKeys('the TaskQueueService options', options, ['concurrency']);
  const concurrency = options.concurrency ?? 1;
  assertInteger('TaskQueueService', 'concurrency', concurrency, 1);
  return { concurrency };
}

/**
 * Registers a {@link BackgroundTaskQueue} (a singleton, injectable by its class) and its hosted consumer
 * {@link TaskQueueService}. Options are validated here. One queue per host: a second call replaces the first.
 * The queue loses work on a crash; use durable jobs for anything important.
 *
 * @example
 * ```ts
 * addTaskQueue(builder.services, { capacity: 500, fullMode: 'wait', concurrency: 4 });
 * ```
 */
export function addTaskQueue(
  services: HostServiceCollection,
  options: TaskQueueOptions = {},
): HostServiceCollection {
  assertObject('addTaskQueue', options);
  assertKnownKeys('the addTaskQueue() options', options, ['capacity', 'fullMode', 'concurrency']);
  const { concurrency, ...queueOptions } = options;
  const consumerOptions: TaskQueueServiceOptions = concurrency === undefined ? {} : { concurrency };
  // Checked here, so a bad option fails at registration rather than when the host starts.
  resolveConsumerOptions(consumerOptions);
  resolveTaskQueueOptions(queueOptions);
  services.addSingleton(BackgroundTaskQueue, {
    factory: (sp) =>
      new BackgroundTaskQueue(queueOptions, sp.get(LoggerFactory).create('Hostwork.BackgroundTaskQueue')),
    deps: [LoggerFactory],
  });
  services.addHostedService(TaskQueueService, {
    factory: (sp) =>
      new TaskQueueService(
        sp.get(BackgroundTaskQueue),
        sp.get(ScopeFactory),
        sp.get(LoggerFactory),
        consumerOptions,
      ),
    deps: [BackgroundTaskQueue, ScopeFactory, LoggerFactory],
  });
  return services;
}
