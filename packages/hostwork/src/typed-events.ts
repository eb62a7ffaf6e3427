/**
 * A small typed event hub, the base of `JobEvents` and `MessageEvents`. Emitting is free when nobody listens (the
 * engines check {@link TypedEvents.has} first), and a throwing listener never breaks the engine that emits.
 */
export class TypedEvents<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(event: never) => void>>();
  readonly #onListenerError: (error: unknown, event: keyof Events & string) => void;

  /**
   * `kind` names the events in the default report of a throwing listener ('job', 'message'); `onListenerError`
   * receives what listeners throw instead (default: a process warning).
   */
  constructor(kind: string, onListenerError?: (error: unknown, event: keyof Events & string) => void) {
    this.#onListenerError =
      onListenerError ??
      ((error, event) => process.emitWarning(`A '${event}' ${kind} event listener threw: ${String(error)}`));
  }

  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof Events & string>(event: K, listener: (event: Events[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Whether anybody listens to `event`. */
  has(event: keyof Events & string): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  /** Calls every listener of `event`; listener errors are reported, not thrown. */
  emit<K extends keyof Events & string>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event) as Set<(event: Events[K]) => void> | undefined;
    if (!set) return;
    for (const listener of set) {
      try {
        listener(payload);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }
}
