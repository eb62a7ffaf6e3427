import type { Logger } from '../logging/logger-factory.ts';
import type { JobRegistry } from './job-registry.ts';
import type { JobStore } from './job-store.ts';

/** How {@link QueueConsumers} times its checks. */
export interface QueueConsumersTiming {
  /**
   * After a first check finds no consumer, how long to wait before checking again and warning: a worker starting
   * at the same time as this process (a deploy) announces itself within this time. Default: 10,000 ms.
   */
  readonly graceMs: number;
  /** How long a queue found consumed is not checked again. Default: 60,000 ms. */
  readonly recheckMs: number;
}

/** The default timing. */
export const queueConsumersDefaults: QueueConsumersTiming = { graceMs: 10_000, recheckMs: 60_000 };

/** How long one answer of the store serves checks of several queues (a burst of enqueues to new queues). */
const LIVE_QUEUES_FRESH_MS = 1_000;

type QueueState =
  | { readonly state: 'checking' }
  | { readonly state: 'consumed'; readonly at: number }
  | { readonly state: 'warned' };

/**
 * Warns, once per queue and process, when jobs are enqueued to a queue that no live worker consumes (they would stay
 * pending silently). Workers announce their queues in the store (`JobStore.announceWorker`, on their maintenance
 * cadence); on the first enqueue to each queue, this asks the store for the live queues in the background, after the
 * enqueue has resolved, never adding a round trip to it, and checks again after a grace period before warning. A
 * queue the process's own worker consumes is never checked. With a store that does not implement `liveQueues`,
 * nothing is checked.
 */
export class QueueConsumers implements Disposable {
  readonly #store: JobStore;
  readonly #log: Logger;
  readonly #local: ReadonlySet<string>;
  readonly #timing: QueueConsumersTiming;
  readonly #queues = new Map<string, QueueState>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #live: { readonly at: number; readonly queues: Promise<ReadonlySet<string>> } | undefined;
  /** Set once disposed: no check starts after the host stopped (its store is closing). */
  #closed = false;

  /** `local`: the queues this process's own worker consumes. */
  constructor(
    store: JobStore,
    log: Logger,
    local: Iterable<string>,
    timing: Partial<QueueConsumersTiming> = {},
  ) {
    this.#store = store;
    this.#log = log;
    this.#local = new Set(local);
    this.#timing = { ...queueConsumersDefaults, ...timing };
  }

  /** Notes an enqueue to `queue`: synchronous and cheap; a check, when one is due, runs in the background. */
  enqueued(queue: string): void {
    if (this.#local.has(queue) || this.#closed || this.#store.liveQueues === undefined) return;
    const known = this.#queues.get(queue);
    if (known !== undefined) {
      if (known.state !== 'consumed' || Date.now() - known.at < this.#timing.recheckMs) return;
    }
    this.#queues.set(queue, { state: 'checking' });
    // After the enqueue's promise settles: the check never delays it.
    setImmediate(() => void this.#check(queue, true));
  }

  /** Stops pending re-checks (the host is stopping; its container disposes this). */
  [Symbol.dispose](): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  async #check(queue: string, first: boolean): Promise<void> {
    if (this.#closed) return;
    let live: ReadonlySet<string>;
    try {
      live = await this.#liveQueues(!first);
    } catch (error) {
      // The store is unreachable or closed: forget the queue, so a later enqueue checks it again.
      this.#queues.delete(queue);
      this.#log.debug({ err: error, queue }, `Could not check whether a worker consumes queue '${queue}'`);
      return;
    }
    if (live.has(queue)) {
      this.#queues.set(queue, { state: 'consumed', at: Date.now() });
      return;
    }
    if (first) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        void this.#check(queue, false);
      }, this.#timing.graceMs);
      timer.unref();
      this.#timers.add(timer);
      return;
    }
    this.#queues.set(queue, { state: 'warned' });
    const consumed = [...live].sort();
    this.#log.warn(
      { queue, liveQueues: consumed },
      `Jobs enqueued to queue '${queue}' stay pending: no running worker consumes it (the live workers consume: ${consumed.join(', ') || 'none'}). Fix: add '${queue}' to worker.queues of a worker (addJobs(builder, { worker: { queues: { '${queue}': { concurrency: 10 } } } })), or run a worker for it.`,
    );
  }

  /** The live queues, one store query serving the checks of a second (or a fresh one when `fresh`). */
  #liveQueues(fresh: boolean): Promise<ReadonlySet<string>> {
    const now = Date.now();
    if (!fresh && this.#live !== undefined && now - this.#live.at < LIVE_QUEUES_FRESH_MS) {
      return this.#live.queues;
    }
    const queues = this.#store.liveQueues!(now).then((list) => new Set(list) as ReadonlySet<string>);
    this.#live = { at: now, queues };
    queues.catch(() => {
      if (this.#live?.queues === queues) this.#live = undefined;
    });
    return queues;
  }
}

/**
 * The warnings of a worker at start: one per registered job definition (with a handler) whose default queue the
 * worker does not consume, so its jobs would wait for another worker.
 */
export function unconsumedDefinitions(
  registry: JobRegistry,
  queues: readonly string[],
): { readonly job: string; readonly queue: string; readonly message: string }[] {
  const consumed = new Set(queues);
  return registry
    .contracts()
    .filter((c) => c.hasHandler && !consumed.has(c.contract.defaults.queue))
    .map(({ contract }) => {
      const queue = contract.defaults.queue;
      return {
        job: contract.name,
        queue,
        message: `Job '${contract.name}' goes to queue '${queue}', which this worker does not consume (it consumes: ${queues.join(', ')}). Its jobs wait for a worker of '${queue}'. Fix: add '${queue}' to worker.queues, or run a worker for it.`,
      };
    });
}
