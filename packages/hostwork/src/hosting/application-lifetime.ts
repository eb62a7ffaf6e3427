type Listener = () => void;

/**
 * Notifications about the application's life, and the way to ask it to stop. Injectable by its class.
 * `stopping` is an AbortSignal that fires when shutdown begins: pass it to work that should end with the host.
 */
export class ApplicationLifetime {
  readonly #started: Listener[] = [];
  readonly #stopping = new AbortController();
  readonly #stopped: Listener[] = [];
  readonly #stopRequested = Promise.withResolvers<string>();
  #isStarted = false;
  #isStopped = false;
  #stopReason: string | undefined;

  /** Fires when the host begins to stop. */
  get stopping(): AbortSignal {
    return this.#stopping.signal;
  }

  /** Whether every service has started (the `started` notification was sent). */
  get hasStarted(): boolean {
    return this.#isStarted;
  }

  /** Why the stop was requested (a signal name, 'stopApplication', a crash), once it was. */
  get stopReason(): string | undefined {
    return this.#stopReason;
  }

  /** Resolves with the reason once {@link stopApplication} is called (by code, a signal or a crash). */
  get stopRequested(): Promise<string> {
    return this.#stopRequested.promise;
  }

  /** Calls `listener` once every service has started (at once if that already happened). */
  onStarted(listener: Listener): () => void {
    return this.#subscribe(this.#started, listener, this.#isStarted);
  }

  /** Calls `listener` when the host begins to stop. */
  onStopping(listener: Listener): () => void {
    if (this.#stopping.signal.aborted) {
      listener();
      return () => {};
    }
    const handler = () => listener();
    this.#stopping.signal.addEventListener('abort', handler, { once: true });
    return () => this.#stopping.signal.removeEventListener('abort', handler);
  }

  /** Calls `listener` once the host has stopped every service. */
  onStopped(listener: Listener): () => void {
    return this.#subscribe(this.#stopped, listener, this.#isStopped);
  }

  /** Asks the host to stop gracefully; `run()` then stops every service and exits. Idempotent. */
  stopApplication(reason = 'stopApplication'): void {
    if (this.#stopReason !== undefined) return;
    this.#stopReason = reason;
    this.#stopRequested.resolve(reason);
  }

  /** Host-only: announce that every service has started. */
  notifyStarted(): void {
    this.#isStarted = true;
    for (const l of this.#started.splice(0)) l();
  }

  /** Host-only: announce that stopping begins. */
  notifyStopping(): void {
    this.stopApplication('host.stop()');
    this.#stopping.abort(new Error('The application is stopping'));
  }

  /** Host-only: announce that everything stopped. */
  notifyStopped(): void {
    this.#isStopped = true;
    for (const l of this.#stopped.splice(0)) l();
  }

  #subscribe(list: Listener[], listener: Listener, already: boolean): () => void {
    if (already) {
      listener();
      return () => {};
    }
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }
}
