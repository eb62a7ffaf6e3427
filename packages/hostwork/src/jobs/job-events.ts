import { TypedEvents } from '../typed-events.ts';
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

/**
 * The job engine's events, in-process (see {@link JobEventMap}): emitting is free when nobody listens, and a throwing
 * listener never breaks the engine.
 */
export class JobEvents extends TypedEvents<JobEventMap> {
  /** `onListenerError` receives errors thrown by listeners (default: a process warning). */
  constructor(onListenerError?: (error: unknown, event: JobEventName) => void) {
    super('job', onListenerError);
  }
}
