import type { AttemptError, JobId } from './job-record.ts';

/** Fields every job event carries. */
export interface JobEventBase {
  readonly id: JobId;
  readonly name: string;
  readonly queue: string;
}

/** The events of a job's life, in-process. Metrics, traces and the dashboard attach here. */
export interface JobEventMap {
  enqueued: JobEventBase & { readonly outcome: 'inserted' | 'duplicate' };
  started: JobEventBase & { readonly attempt: number };
  progress: JobEventBase & { readonly attempt: number; readonly progress: unknown };
  /** `result`: what the handler returned, as stored with the job (undefined when it returned nothing). */
  completed: JobEventBase & {
    readonly attempt: number;
    readonly durationMs: number;
    readonly result: unknown;
  };
  /** A failed attempt that will be retried at `retryAt`. */
  failed: JobEventBase & {
    readonly attempt: number;
    readonly durationMs: number;
    readonly error: AttemptError;
    readonly retryAt: number;
  };
  /** The last attempt failed, or the job is poison: it stays dead until retried or purged. */
  dead: JobEventBase & {
    readonly attempt: number;
    readonly durationMs: number;
    readonly error: AttemptError;
  };
  cancelled: JobEventBase & { readonly attempt: number };
  /** The handler asked to run again later; the attempt is not counted. */
  snoozed: JobEventBase & { readonly attempt: number; readonly runAt: number };
  /** An operator asked to cancel a running job (the worker in this process aborts it at once). */
  'cancel-requested': { readonly id: JobId };
}

/** The name of a job event. */
export type JobEventName = keyof JobEventMap;

type Listener<K extends JobEventName> = (event: JobEventMap[K]) => void;

/**
 * A small typed event hub. Emitting is free when nobody listens (the engine checks {@link has} first),
 * and a throwing listener never breaks the job engine.
 */
export class JobEvents {
  readonly #listeners = new Map<JobEventName, Set<Listener<JobEventName>>>();
  readonly #onListenerError: (error: unknown, event: JobEventName) => void;

  /** `onListenerError` receives errors thrown by listeners (default: a process warning). */
  constructor(onListenerError?: (error: unknown, event: JobEventName) => void) {
    this.#onListenerError =
      onListenerError ??
      ((error, event) => process.emitWarning(`A '${event}' job event listener threw: ${String(error)}`));
  }

  /** Subscribes; returns the unsubscribe function. */
  on<K extends JobEventName>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<JobEventName>);
    return () => set.delete(listener as Listener<JobEventName>);
  }

  /** Whether anybody listens to `event`. */
  has(event: JobEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  /** Calls every listener of `event`; listener errors are reported, not thrown. */
  emit<K extends JobEventName>(event: K, payload: JobEventMap[K]): void {
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
