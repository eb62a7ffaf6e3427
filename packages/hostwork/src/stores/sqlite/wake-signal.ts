/**
 * The wake-up signal behind `JobStore.onWake` for a store without notifications.
 *
 * In this process, a write that may make work ready calls {@link WakeSignal.notifySoon}: listeners run on the next
 * microtask, so an idle worker starts well under a millisecond later, and a burst of writes wakes them once.
 * Other processes are noticed by polling a cheap "did anyone else write?" check every `intervalMs`, only while
 * someone listens; the timer is unref'd so it never keeps the process alive.
 */
export class WakeSignal {
  readonly #intervalMs: number;
  readonly #changedElsewhere: () => boolean;
  /** One entry per subscription, so the same function subscribed twice is two subscriptions. */
  readonly #subscriptions = new Set<{ readonly listener: () => void }>();
  #queued = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /**
   * @param intervalMs how often to poll while someone listens.
   * @param changedElsewhere true when another process may have written since the previous call; must not throw.
   */
  constructor(intervalMs: number, changedElsewhere: () => boolean) {
    this.#intervalMs = intervalMs;
    this.#changedElsewhere = changedElsewhere;
  }

  /** Whether the poll timer is running (for tests and diagnostics). */
  get polling(): boolean {
    return this.#timer !== undefined;
  }

  /** Adds a listener (listeners must not throw); returns its unsubscribe function. */
  subscribe(listener: () => void): () => void {
    if (this.#closed) return () => {};
    const subscription = { listener };
    this.#subscriptions.add(subscription);
    if (this.#timer === undefined) {
      this.#changedElsewhere(); // take the current version as the baseline, so a first poll is not a false wake
      this.#timer = setInterval(this.#poll, this.#intervalMs);
      this.#timer.unref();
    }
    return () => {
      this.#subscriptions.delete(subscription);
      if (this.#subscriptions.size === 0) this.#stopPolling();
    };
  }

  /** Wakes the listeners on the next microtask (once, however many calls before it runs). */
  notifySoon(): void {
    if (this.#queued || this.#subscriptions.size === 0) return;
    this.#queued = true;
    queueMicrotask(this.#fire);
  }

  /**
   * Stops polling and drops every listener; with `notify`, after calling each of them once more (so a listener that
   * reads the store learns it is closed instead of waiting for a signal that will never come).
   */
  close(notify = false): void {
    if (notify && !this.#closed) this.#fire();
    this.#closed = true;
    this.#subscriptions.clear();
    this.#stopPolling();
  }

  #poll = (): void => {
    if (this.#changedElsewhere()) this.#fire();
  };

  #fire = (): void => {
    this.#queued = false;
    for (const { listener } of [...this.#subscriptions]) listener();
  };

  #stopPolling(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
