/**
 * A store's "look again" signal, behind `JobStore.onWake` (new work may be ready) and `JobStore.onSettled` (jobs may
 * have finished), for stores to build on.
 *
 * - In this process, a write of the store calls {@link StoreSignal.notifySoon}: listeners run on the next microtask,
 *   once however many writes came before it (an idle worker starts well under a millisecond later, a burst of writes
 *   wakes it once).
 * - Other processes' writes are found by a poll every `intervalMs`, only while someone listens: each poll calls the
 *   listeners when `changedElsewhere()` says another process may have written (a cheap check such as SQLite's
 *   `data_version`), or every time when the store has no such check.
 *
 * The timer is unref'd: it never keeps the process alive on its own.
 */
export class StoreSignal {
  readonly #intervalMs: number;
  readonly #changedElsewhere: (() => boolean) | undefined;
  readonly #onListenerError: (error: unknown) => void;
  /** One entry per subscription, so the same function subscribed twice is two subscriptions. */
  readonly #subscriptions = new Set<{ readonly listener: () => void }>();
  #queued = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: StoreSignalOptions) {
    this.#intervalMs = options.intervalMs;
    this.#changedElsewhere = options.changedElsewhere;
    this.#onListenerError =
      options.onListenerError ??
      ((error) => process.emitWarning(`A store signal's listener threw: ${String(error)}`));
  }

  /** Whether the poll timer is running (for tests and diagnostics). */
  get polling(): boolean {
    return this.#timer !== undefined;
  }

  /** Adds a listener; returns its unsubscribe function. */
  subscribe(listener: () => void): () => void {
    if (this.#closed) return () => {};
    const subscription = { listener };
    this.#subscriptions.add(subscription);
    if (this.#timer === undefined) {
      this.#changedElsewhere?.(); // take the current state as the baseline, so a first poll is not a false alarm
      this.#timer = setInterval(this.#poll, this.#intervalMs);
      this.#timer.unref();
    }
    return () => {
      this.#subscriptions.delete(subscription);
      if (this.#subscriptions.size === 0) this.#stopPolling();
    };
  }

  /** Calls the listeners on the next microtask (once, however many calls before it runs); free with none. */
  notifySoon(): void {
    if (this.#queued || this.#subscriptions.size === 0) return;
    this.#queued = true;
    queueMicrotask(this.#fire);
  }

  /**
   * Stops polling and drops every listener; with `notify`, after calling each of them once more, so a listener that
   * reads the store learns it is closed instead of waiting for a signal that will never come.
   */
  close(notify = false): void {
    if (notify && !this.#closed) this.#fire();
    this.#closed = true;
    this.#subscriptions.clear();
    this.#stopPolling();
  }

  #poll = (): void => {
    if (this.#changedElsewhere === undefined || this.#changedElsewhere()) this.#fire();
  };

  #fire = (): void => {
    this.#queued = false;
    for (const { listener } of [...this.#subscriptions]) {
      try {
        listener();
      } catch (error) {
        // Called from a timer or a microtask, where a throw would end the process.
        this.#onListenerError(error);
      }
    }
  };

  #stopPolling(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** What {@link StoreSignal} takes. */
export interface StoreSignalOptions {
  /** How often to poll while someone listens, in ms. */
  readonly intervalMs: number;
  /**
   * True when another process may have written since the previous call; must not throw. Without it, every poll calls
   * the listeners.
   */
  readonly changedElsewhere?: () => boolean;
  /** Receives what a listener throws. Default: a process warning. */
  readonly onListenerError?: (error: unknown) => void;
}
