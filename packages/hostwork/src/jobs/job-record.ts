/**
 * The data of a job as the engine and every store see it. Times are milliseconds since the epoch;
 * ids are strings so every store can use its native key (SQLite rowid, PostgreSQL bigint).
 */

/** A job's identifier. */
export type JobId = string;

/**
 * Where a job is in its life:
 * `pending` (waiting for its run time or a worker) → `running` (claimed, under a lease) → `completed`;
 * or, after its last failed attempt or when it is poison, `dead`; or `cancelled` by an operator.
 * A failed attempt with attempts left, a snooze, an expired lease and a shutdown hand-back all return it to `pending`.
 */
export type JobState = 'pending' | 'running' | 'completed' | 'dead' | 'cancelled';

/** Every state, in life order. */
export const JOB_STATES: readonly JobState[] = ['pending', 'running', 'completed', 'dead', 'cancelled'];

/** One failed attempt, kept on the job (its attempt history). */
export interface AttemptError {
  readonly attempt: number;
  /** When the attempt failed. */
  readonly at: number;
  readonly message: string;
  readonly stack?: string;
  /** What kind of failure: a thrown error, a timeout, a lost lease (crashed worker), a poison job. */
  readonly kind: 'error' | 'timeout' | 'lease-expired' | 'poison';
}

/** A job to insert, already validated. */
export interface NewJob {
  readonly name: string;
  readonly queue: string;
  /** The payload as JSON text. */
  readonly payload: string;
  readonly priority: number;
  readonly runAt: number;
  readonly maxAttempts: number;
  /** Timeout per attempt in ms, or 0 for none. */
  readonly timeoutMs: number;
  /** While a job with this key is pending or running, inserting another with the same key stores nothing. */
  readonly uniqueKey: string | null;
  /** A per-job backoff override as JSON (`{"type":"fixed","delay":500}`), or null for the job definition's. */
  readonly backoff: string | null;
  /**
   * Insert it already claimed (state `running`, attempt 1) under this lease: a worker of the enqueuing process takes
   * it without a claim round trip. Absent or null: inserted `pending`, as usual.
   */
  readonly claimedBy?: { readonly owner: string; readonly leaseExpiresAt: number } | null;
  /**
   * What travels with the job besides its payload, as a JSON object of strings (the W3C trace context of a traced
   * enqueue: `traceparent`, `tracestate`), or absent/null for none. Stored as given, handed back by `claim`.
   */
  readonly metadata?: string | null;
}

/** The result of inserting one job. */
export interface InsertResult {
  readonly id: JobId;
  /** `duplicate`: a pending or running job already had the unique key; `id` is that job's. */
  readonly outcome: 'inserted' | 'duplicate';
}

/** A job handed to a worker by a claim: its lease is held by the claiming owner. */
export interface ClaimedJob {
  readonly id: JobId;
  readonly name: string;
  readonly queue: string;
  readonly payload: string;
  readonly priority: number;
  /** The attempt this claim starts (1 for the first run). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  /** The per-job backoff override as JSON, or null. */
  readonly backoff: string | null;
  readonly createdAt: number;
  /** The metadata stored with the job ({@link NewJob.metadata}), or null; optional for stores written before it. */
  readonly metadata?: string | null;
}

/** A job as inspection sees it. */
export interface JobInfo {
  readonly id: JobId;
  readonly name: string;
  readonly queue: string;
  readonly state: JobState;
  readonly payload: unknown;
  readonly priority: number;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly runAt: number;
  readonly uniqueKey: string | null;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: number | null;
  readonly cancelRequested: boolean;
  readonly progress: unknown;
  /**
   * What the handler returned, parsed from its stored JSON; null when it returned nothing (undefined), while the job
   * has not completed, and for a job completed through `ctx.completeWithin` (which keeps no result).
   */
  readonly result: unknown;
  readonly errors: readonly AttemptError[];
  readonly createdAt: number;
  readonly finishedAt: number | null;
}

/** How a worker ends one attempt; many are written in one batch. */
export type Settlement =
  | {
      readonly id: JobId;
      readonly kind: 'completed';
      /** Delete the job rather than keep it as completed: its worker keeps no completed jobs (retention 0). */
      readonly remove?: boolean;
      /** What the handler returned, as JSON text (validated, at most `maxResultBytes`); absent or null: none. */
      readonly result?: string | null;
    }
  /** Failed with attempts left: back to pending at `runAt`. */
  | { readonly id: JobId; readonly kind: 'retry'; readonly runAt: number; readonly error: AttemptError }
  /** Failed for good (last attempt, or poison). */
  | { readonly id: JobId; readonly kind: 'dead'; readonly error: AttemptError }
  | { readonly id: JobId; readonly kind: 'cancelled' }
  /** Not a failure: back to pending at `runAt` and the attempt is not counted (snooze, shutdown hand-back). */
  | { readonly id: JobId; readonly kind: 'release'; readonly runAt: number };

/** Filters for listing and purging. */
export interface JobFilter {
  readonly queue?: string;
  readonly state?: JobState;
  readonly name?: string;
  /** Only these jobs (at most 1000 ids). */
  readonly ids?: readonly JobId[];
  /** Only jobs created at or after this time (ms since epoch). */
  readonly createdAfter?: number;
  /** Only jobs created before this time (ms since epoch). */
  readonly createdBefore?: number;
  /** Only jobs whose payload holds `equals` at `path` (see {@link PayloadFilter}). */
  readonly payload?: PayloadFilter;
}

/**
 * A payload field compared as text: `path` names object keys from the payload's root (a segment of digits indexes an
 * array), and the field's value as text must equal `equals`: a string without its quotes, a number as JSON writes it
 * (`42`, `1.5`), `true`/`false`. A field that is missing or JSON `null` never matches. Stores read the payload at
 * query time (SQLite `json_extract`, PostgreSQL `#>>`), without an index unless the application creates one on the
 * expression (see docs/dashboard.md).
 */
export interface PayloadFilter {
  readonly path: readonly string[];
  readonly equals: string;
}

/** A worker announced through `JobStore.announceWorker`, as `JobStore.listWorkers` returns it. */
export interface WorkerRecord {
  readonly owner: string;
  readonly queues: readonly string[];
  /** When the announcement lapses unless the worker renews it (ms since epoch). */
  readonly expiresAt: number;
}

/** Jobs that finished in one time bucket, as `JobStore.throughput` returns them. */
export interface ThroughputBucket {
  /** The bucket's start (ms since epoch, a multiple of the bucket size). */
  readonly at: number;
  readonly completed: number;
  /** Jobs that went dead (their last attempt failed, or poison). */
  readonly dead: number;
}

/** One row of the counts per queue and state. */
export interface JobCount {
  readonly queue: string;
  readonly state: JobState;
  readonly count: number;
}

/** The jobs of one queue that are due and waiting (see `JobStore.dueBacklog`). */
export interface QueueBacklog {
  readonly queue: string;
  /** Pending jobs whose run time has come. */
  readonly due: number;
  /** The run time of the oldest of them, ms since the epoch: how long work has waited is `now - oldestDueAt`. */
  readonly oldestDueAt: number;
}

/** A recurring job's stored state. */
export interface ScheduleRecord {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string | null;
  readonly paused: boolean;
  /** The next tick to enqueue (ms), or null when the expression has no future tick. */
  readonly nextRunAt: number | null;
  readonly lastRunAt: number | null;
}
