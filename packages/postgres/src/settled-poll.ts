/**
 * The signal behind `PostgresStore.onSettled`, which tells `JobClient.waitFor` when to read its jobs again.
 *
 * - In this process, a write of this store instance that finishes or deletes jobs calls {@link SettledPoll.notifySoon}:
 *   listeners run on the next microtask (once, however many writes before it).
 * - Other processes' completions are found by a poll: every `intervalMs`, only while someone listens (that is, while
 *   a `waitFor` is waiting), the listeners run and read the waited jobs in one query. Completions send no
 *   notification: with a NOTIFY in every settle batch, four connections writing completions at once managed about
 *   30 % fewer per second (each commit that notifies takes one server-wide lock), a cost every worker would pay on
 *   the hot path whether anyone waits or not.
 * The timer is unref'd: it never keeps the process alive on its own.
 */
export class SettledPoll {
  readonly #intervalMs: number;
  readonly #onListenerError: (error: unknown) => void;
  /** One entry per subscription, so the same function subscribed twice is two subscriptions. */
  readonly #subscriptions = new Set<{ readonly listener: () => void }>();
  #queued = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(intervalMs: number, onListenerError: (error: unknown) => void) {
    this.#intervalMs = intervalMs;
    this.#onListenerError = onListenerError;
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
      this.#timer = setInterval(this.#fire, this.#intervalMs);
      this.#timer.unref();
    }
    return () => {
      this.#subscriptions.delete(subscription);
      if (this.#subscriptions.size === 0) this.#stop();
    };
  }

  /** Calls the listeners on the next microtask (once, however many calls before it runs); free with none. */
  notifySoon(): void {
    if (this.#queued || this.#subscriptions.size === 0) return;
    this.#queued = true;
    queueMicrotask(this.#fire);
  }

  /**
   * Stops polling and drops every listener, after calling each of them once more: a listener that reads the store
   * then learns it is closed, instead of waiting for a signal that will never come.
   */
  close(): void {
    if (!this.#closed) this.#fire();
    this.#closed = true;
    this.#subscriptions.clear();
    this.#stop();
  }

  #fire = (): void => {
    this.#queued = false;
    for (const { listener } of [...this.#subscriptions]) {
      try {
        listener();
      } catch (error) {
        // Called from a timer, where a throw would crash the process.
        this.#onListenerError(error);
      }
    }
  };

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
