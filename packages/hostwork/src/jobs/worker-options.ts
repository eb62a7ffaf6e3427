import { createToken } from '../di/token.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import { DEFAULT_MAX_RESULT_BYTES } from './handler-values.ts';

/** A queue a worker consumes. */
export interface QueueOptions {
  /** How many of its jobs run at once in this process. */
  readonly concurrency: number;
}

/** How the job worker runs. Every default is in {@link workerDefaults}. */
export interface WorkerOptions {
  /** The queues this worker consumes, with their concurrency. Default: `{ default: { concurrency: 10 } }`. */
  readonly queues: Readonly<Record<string, QueueOptions>>;
  /** Most jobs claimed in one round trip. Default: the store's `preferredBatchSize` (SQLite 250, PostgreSQL 2,000). */
  readonly batchSize: number | undefined;
  /** Lease length in ms: a crashed worker's jobs return this long after its last heartbeat. Default: 15,000. */
  readonly leaseMs: number;
  /** How often leases of running jobs are renewed, in ms. Default: 5,000 (a third of the lease). */
  readonly heartbeatMs: number;
  /** Safety-net poll when no wake-up arrives, in ms. Default: 1,000. */
  readonly pollIntervalMs: number;
  /** How often expired leases are recovered and schedules checked, in ms. Default: 1,000. */
  readonly maintenanceIntervalMs: number;
  /**
   * How long to keep completed jobs, in ms. Default: 24 h. With 0 (or `maxCompletedJobs: 0`) completed jobs are not
   * kept at all: a job's row is deleted when its completion is written, which saves the store a write per job.
   */
  readonly completedRetentionMs: number;
  /** At most this many completed jobs are kept; 0 keeps none (see `completedRetentionMs`). Default: 100,000. */
  readonly maxCompletedJobs: number;
  /**
   * While a queue's jobs take under 5 ms on average, keep claimed jobs in hand beyond the running ones, so one claim
   * and one write serve many jobs: about 250 ms of work at the queue's average duration and concurrency, at most
   * `batchSize`. Prefetched jobs count as `running` in the store, are renewed and handed back on shutdown like
   * running ones; after a crash their attempt counts although they never started, so turn this off for queues whose
   * jobs have `maxAttempts: 1`. Default: true.
   */
  readonly prefetch: boolean;
  /** After a job's signal aborts (timeout, cancel), how long to wait for its handler before settling anyway. Default: 5,000. */
  readonly abortGraceMs: number;
  /**
   * A job enqueued in this process (one at a time, due now, not in a transaction) while this worker has an idle slot
   * for its queue is inserted already claimed by this worker and started as soon as the insert commits, without a
   * claim round trip. Only jobs the worker would have claimed at once anyway are taken (idle slots, nothing in hand,
   * no claim in flight), so the queue's order changes only among jobs enqueued at the same moment. Default: true.
   */
  readonly localDispatch: boolean;
  /**
   * No new job starts while this many outcomes wait to be written (queued for the next batch write or in one), and
   * none at all from the first write that fails because the store is unreachable until a write succeeds. A job that
   * ran but whose outcome is not written runs again if the process dies, so a crash re-runs at most the running jobs
   * plus this many. Default: `batchSize` (one batch).
   */
  readonly maxUnwrittenOutcomes: number | undefined;
  /**
   * The largest result a handler may return, in bytes of its UTF-8 JSON: what a handler returns is stored with the
   * job as its result, and a larger one fails the attempt (HW_JOB_INVALID_HANDLER_VALUE). Store large results
   * elsewhere and return a reference to them. Default: 65,536 (64 KiB).
   */
  readonly maxResultBytes: number;
}

/** The defaults, in one place. */
export const workerDefaults: WorkerOptions = {
  queues: { default: { concurrency: 10 } },
  batchSize: undefined,
  leaseMs: 15_000,
  heartbeatMs: 5_000,
  pollIntervalMs: 1_000,
  maintenanceIntervalMs: 1_000,
  completedRetentionMs: 24 * 3_600_000,
  maxCompletedJobs: 100_000,
  abortGraceMs: 5_000,
  prefetch: true,
  localDispatch: true,
  maxUnwrittenOutcomes: undefined,
  maxResultBytes: DEFAULT_MAX_RESULT_BYTES,
};

/** Merges options over the defaults, refusing unknown keys and bad values with a message naming them. */
export function resolveWorkerOptions(given: Partial<WorkerOptions> = {}): WorkerOptions {
  assertKnownKeys('worker options', given, Object.keys(workerDefaults));
  const o = { ...workerDefaults, ...given };
  if (o.batchSize !== undefined && !(Number.isInteger(o.batchSize) && o.batchSize > 0)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `worker options: batchSize must be an integer > 0, got ${o.batchSize}.`,
    );
  }
  if (
    o.maxUnwrittenOutcomes !== undefined &&
    !(Number.isInteger(o.maxUnwrittenOutcomes) && o.maxUnwrittenOutcomes > 0)
  ) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `worker options: maxUnwrittenOutcomes must be an integer > 0, got ${o.maxUnwrittenOutcomes}.`,
    );
  }
  if (!(Number.isSafeInteger(o.maxResultBytes) && o.maxResultBytes > 0)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `worker options: maxResultBytes must be an integer number of bytes > 0, got ${o.maxResultBytes}.`,
    );
  }
  const positive = ['leaseMs', 'heartbeatMs', 'pollIntervalMs', 'maintenanceIntervalMs'] as const;
  for (const key of positive) {
    if (!(Number.isFinite(o[key]) && o[key] > 0)) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `worker options: ${key} must be a number > 0, got ${o[key]}.`,
      );
    }
  }
  for (const key of ['completedRetentionMs', 'maxCompletedJobs', 'abortGraceMs'] as const) {
    if (!(Number.isFinite(o[key]) && o[key] >= 0)) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `worker options: ${key} must be a number >= 0, got ${o[key]}.`,
      );
    }
  }
  for (const key of ['prefetch', 'localDispatch'] as const) {
    if (typeof o[key] !== 'boolean') {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `worker options: ${key} must be true or false, got ${o[key]}.`,
      );
    }
  }
  if (o.heartbeatMs >= o.leaseMs) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `worker options: heartbeatMs (${o.heartbeatMs}) must be shorter than leaseMs (${o.leaseMs}), or leases expire between heartbeats.`,
    );
  }
  for (const [name, q] of Object.entries(o.queues)) {
    assertKnownKeys(`worker options queues.${name}`, q, ['concurrency']);
    if (!(Number.isInteger(q.concurrency) && q.concurrency >= 1)) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `worker options: queues.${name}.concurrency must be an integer >= 1, got ${q.concurrency}.`,
      );
    }
  }
  return o;
}

/** The key of the resolved {@link WorkerOptions}. */
export const WorkerOptions = createToken<WorkerOptions>('WorkerOptions');
