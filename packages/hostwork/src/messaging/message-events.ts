import type { DeadLetterReason, DeliveryError } from './transport.ts';

/** Fields every message event carries. */
export interface MessageEventBase {
  /** The consumer's name. */
  readonly consumer: string;
  /** The message id. */
  readonly id: string;
  /** The message definition's name, when known (a poison message may have none). */
  readonly type: string | undefined;
  readonly attempt: number;
}

/** The events of a delivery's life, in-process, like the job engine's. Metrics and traces attach here. */
export interface MessageEventMap {
  /** A delivery was taken by a free slot (before its body is read). */
  received: MessageEventBase;
  /** The handler succeeded; the message is being acknowledged. */
  completed: MessageEventBase & { readonly durationMs: number };
  /** The attempt failed and the message comes back after `retryInMs`. */
  failed: MessageEventBase & {
    readonly durationMs: number;
    readonly error: DeliveryError;
    readonly retryInMs: number;
  };
  /** The message goes to the dead-letter destination: its last attempt failed, or it is poison. */
  dead: MessageEventBase & {
    readonly durationMs: number;
    readonly reason: DeadLetterReason;
    readonly error: DeliveryError;
  };
  /** Handed back to the broker uncounted: prefetched but not started at shutdown, or still running at its end. */
  released: MessageEventBase;
}

/** The name of a message event. */
export type MessageEventName = keyof MessageEventMap;

type Listener<K extends MessageEventName> = (event: MessageEventMap[K]) => void;

/** A small typed event hub (like `JobEvents`): free when nobody listens, and a throwing listener breaks nothing. */
export class MessageEvents {
  readonly #listeners = new Map<MessageEventName, Set<Listener<MessageEventName>>>();
  readonly #onListenerError: (error: unknown, event: MessageEventName) => void;

  /** `onListenerError` receives errors thrown by listeners (default: a process warning). */
  constructor(onListenerError?: (error: unknown, event: MessageEventName) => void) {
    this.#onListenerError =
      onListenerError ??
      ((error, event) => process.emitWarning(`A '${event}' message event listener threw: ${String(error)}`));
  }

  /** Subscribes; returns the unsubscribe function. */
  on<K extends MessageEventName>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<MessageEventName>);
    return () => set.delete(listener as Listener<MessageEventName>);
  }

  /** Whether anybody listens to `event`. */
  has(event: MessageEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  /** Calls every listener of `event`; listener errors are reported, not thrown. */
  emit<K extends MessageEventName>(event: K, payload: MessageEventMap[K]): void {
    const set = this.#listeners.get(event);
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
