import type { ServiceProvider } from '../di/service-provider.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { Logger } from '../logging/logger-factory.ts';
import { assertFunction, assertInteger, assertObject, describe, functionName } from './validate.ts';

/** What a queued work item receives when it runs. */
export interface WorkItemContext {
  /** The item's own DI scope, disposed when the item ends. */
  readonly services: ServiceProvider;
  /** Aborts when the host's shutdown budget runs out while the item is still running. */
  readonly signal: AbortSignal;
  /** A logger for the item's lines. */
  readonly logger: Logger;
}

/** A unit of background work. A throw or rejection is logged with its stack; the queue goes on. */
export type WorkItem = (ctx: WorkItemContext) => Promise<void> | void;

/**
 * What {@link BackgroundTaskQueue.enqueue} does when the queue is full (the .NET BoundedChannelFullMode names):
 * - `'wait'`: the returned promise resolves once there is room (backpressure on the producer).
 * - `'dropOldest'`: the oldest queued item is dropped to make room.
 * - `'dropNewest'`: the most recently queued item is dropped to make room.
 * - `'reject'`: the promise rejects with HW_QUEUE_FULL.
 */
export type TaskQueueFullMode = 'wait' | 'dropOldest' | 'dropNewest' | 'reject';

/** Options of {@link BackgroundTaskQueue}. */
export interface BackgroundTaskQueueOptions {
  /** How many items may wait to run (items already running do not count). Default: 100. */
  readonly capacity?: number;
  /** What `enqueue` does when the queue is full. Default: `'wait'`. */
  readonly fullMode?: TaskQueueFullMode;
}

/** Options of {@link BackgroundTaskQueue.enqueue}. */
export interface EnqueueOptions {
  /** With fullMode `'wait'`: stop waiting for room when this aborts (the promise rejects with its reason). */
  readonly signal?: AbortSignal;
}

/** The defaults of {@link BackgroundTaskQueueOptions}. */
export const taskQueueDefaults = {
  capacity: 100,
  fullMode: 'wait',
} as const satisfies Required<BackgroundTaskQueueOptions>;

const KNOWN_OPTIONS = ['capacity', 'fullMode'] as const;
const FULL_MODES: readonly TaskQueueFullMode[] = ['wait', 'dropOldest', 'dropNewest', 'reject'];

/** A producer blocked by fullMode 'wait', holding its item until there is room. */
interface Writer {
  readonly item: WorkItem;
  readonly admit: () => void;
  readonly reject: (error: unknown) => void;
}

/** A consumer waiting for an item; `undefined` means the queue closed or its wait was aborted. */
type Taker = (item: WorkItem | undefined) => void;

/**
 * A bounded, in-memory queue of background work, consumed by the hosted {@link TaskQueueService}
 * (the counterpart of .NET's `IBackgroundTaskQueue` sample). Register both with `addTaskQueue`, then inject it:
 * `static inject = [BackgroundTaskQueue] as const`.
 *
 * **It loses work.** Queued items live only in this process's memory: a crash, a kill or a deploy loses every item
 * not yet finished, and a graceful stop drops the items that have not started. Use it for best-effort work
 * (warming a cache, sending a metric); use durable jobs for anything important (an email, a payment, an export).
 *
 * @example
 * ```ts
 * await queue.enqueue(async ({ services, signal }) => {
 *   await services.get(Thumbnails).render(imageId, signal);
 * });
 * ```
 */
export class BackgroundTaskQueue implements Disposable {
  /** How many items may wait to run. */
  readonly capacity: number;
  /** What `enqueue` does when the queue is full. */
  readonly fullMode: TaskQueueFullMode;
  readonly #log: Logger;
  // A growable array with a moving head: shift() on a large array is O(n), and capacity may be large.
  #items: WorkItem[] = [];
  #head = 0;
  readonly #writers: Writer[] = [];
  readonly #takers: Taker[] = [];
  #closed = false;
  #dropped = 0;

  /** `logger` receives a warning for every dropped item. Options are validated here (HW_INVALID_OPTION). */
  constructor(options: BackgroundTaskQueueOptions, logger: Logger) {
    const resolved = resolveTaskQueueOptions(options);
    this.capacity = resolved.capacity;
    this.fullMode = resolved.fullMode;
    this.#log = logger;
  }

  /** How many items are waiting to run. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** How many accepted items were dropped without running: to make room (dropOldest/dropNewest) or at close. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Whether the queue has closed (the host is stopping); `enqueue` then rejects with HW_QUEUE_CLOSED. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds an item. Resolves once the item is queued (or handed to an idle consumer); with fullMode `'wait'` that may
   * be later, when there is room. Rejects with HW_QUEUE_FULL (fullMode `'reject'`) or HW_QUEUE_CLOSED (the host is
   * stopping). Always await it, or a rejection becomes an unhandled one.
   */
  async enqueue(item: WorkItem, options: EnqueueOptions = {}): Promise<void> {
    assertFunction('BackgroundTaskQueue.enqueue()', 'item', item);
    if (this.#closed) throw closedError();
    const taker = this.#takers.shift();
    if (taker) {
      // An idle consumer means the queue is empty: hand the item over directly.
      taker(item);
      return;
    }
    if (this.size < this.capacity) {
      this.#items.push(item);
      return;
    }
    switch (this.fullMode) {
      case 'wait':
        return this.#waitForRoom(item, options.signal);
      case 'dropOldest':
        this.#drop(this.#shift()!, 'the oldest');
        this.#items.push(item);
        return;
      case 'dropNewest':
        this.#drop(this.#items.pop()!, 'the newest');
        this.#items.push(item);
        return;
      case 'reject':
        throw new HostworkError(
          ErrorCodes.QUEUE_FULL,
          `The background task queue is full (capacity ${this.capacity}, fullMode 'reject'). Fix: raise 'capacity' or 'concurrency' in addTaskQueue(), use fullMode 'wait' for backpressure, or retry later.`,
        );
    }
  }

  /**
   * Takes the next item, waiting for one if the queue is empty. Resolves `undefined` once the queue has closed or
   * `signal` aborts. The {@link TaskQueueService} calls it; applications normally do not.
   */
  dequeue(signal?: AbortSignal): Promise<WorkItem | undefined> {
    const item = this.#shift();
    if (item) return Promise.resolve(item);
    if (this.#closed || signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = () => {
        const i = this.#takers.indexOf(taker);
        if (i >= 0) this.#takers.splice(i, 1);
        resolve(undefined);
      };
      const taker: Taker = (given) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(given);
      };
      this.#takers.push(taker);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Stops accepting work: later `enqueue` calls, and producers still waiting for room, reject with HW_QUEUE_CLOSED;
   * waiting consumers get `undefined`. Drops the queued items and returns how many. Idempotent (0 the second time).
   */
  close(): number {
    if (this.#closed) return 0;
    this.#closed = true;
    const discarded = this.size;
    this.#dropped += discarded;
    this.#items = [];
    this.#head = 0;
    for (const writer of this.#writers.splice(0)) writer.reject(closedError());
    for (const taker of this.#takers.splice(0)) taker(undefined);
    return discarded;
  }

  /** Closes the queue when the container disposes it, so nobody waits on a queue whose consumer is gone. */
  [Symbol.dispose](): void {
    this.close();
  }

  #waitForRoom(item: WorkItem, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#writers.indexOf(writer);
        if (i >= 0) this.#writers.splice(i, 1);
        reject(signal?.reason);
      };
      const writer: Writer = {
        item,
        admit: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.#writers.push(writer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Removes the oldest item; taking one makes room, so the first blocked producer's item moves in. */
  #shift(): WorkItem | undefined {
    if (this.size === 0) return undefined;
    const item = this.#items[this.#head]!;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    const writer = this.#writers.shift();
    if (writer) {
      this.#items.push(writer.item);
      writer.admit();
    }
    return item;
  }

  #drop(item: WorkItem, which: string): void {
    this.#dropped++;
    this.#log.warn(
      { item: functionName(item), capacity: this.capacity, fullMode: this.fullMode, dropped: this.#dropped },
      `The background task queue is full (capacity ${this.capacity}): dropped ${which} queued work item '${functionName(item)}' (fullMode '${this.fullMode}')`,
    );
  }
}

/**
 * Checks queue options and applies the defaults. Throws HW_UNKNOWN_OPTION for a key it does not know and
 * HW_INVALID_OPTION for a value out of range.
 */
export function resolveTaskQueueOptions(
  options: BackgroundTaskQueueOptions,
): Required<BackgroundTaskQueueOptions> {
  const where = 'BackgroundTaskQueue';
  assertObject(where, options);
  assertKnownKeys('the BackgroundTaskQueue options', options, KNOWN_OPTIONS);
  const capacity = options.capacity ?? taskQueueDefaults.capacity;
  const fullMode = options.fullMode ?? taskQueueDefaults.fullMode;
  assertInteger(where, 'capacity', capacity, 1);
  if (!FULL_MODES.includes(fullMode)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: 'fullMode' must be one of ${FULL_MODES.map((m) => `'${m}'`).join(', ')}, got ${describe(fullMode)}.`,
    );
  }
  return { capacity, fullMode };
}

function closedError(): HostworkError {
  return new HostworkError(
    ErrorCodes.QUEUE_CLOSED,
    'The background task queue is closed: the host is stopping and accepts no new work. Use durable jobs for work that must survive a stop or a crash.',
  );
}
