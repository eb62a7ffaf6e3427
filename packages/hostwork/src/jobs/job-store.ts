import { createToken } from '../di/token.ts';
import type { LoggerFactory } from '../logging/logger-factory.ts';
import type {
  ClaimedJob,
  InsertResult,
  JobCount,
  JobFilter,
  JobId,
  JobInfo,
  NewJob,
  QueueBacklog,
  ScheduleRecord,
  Settlement,
  ThroughputBucket,
  WorkerRecord,
} from './job-record.ts';
import type { MigrationStatus } from './migration-status.ts';

/** Options of {@link JobStore.insert}. */
export interface InsertOptions {
  /** The application's open transaction (store-specific type), for transactional enqueue. */
  readonly tx?: unknown;
}

/** What a claim asks for. */
export interface ClaimRequest {
  readonly queue: string;
  readonly limit: number;
  /** Identifies the claiming worker process; written as the lease owner. */
  readonly owner: string;
  readonly leaseMs: number;
  readonly now: number;
}

/** What a claim returns. */
export interface ClaimResult {
  readonly jobs: readonly ClaimedJob[];
  /**
   * When fewer jobs than asked were due: the earliest future `runAt` of a pending job in the queue (or null),
   * so an idle worker can sleep exactly until then.
   */
  readonly nextRunAt: number | null;
}

/** What a lease renewal learns. */
export interface RenewResult {
  /** Jobs whose lease this owner no longer holds (expired and recovered elsewhere): abort them. */
  readonly lost: readonly JobId[];
  /** Jobs an operator asked to cancel while they run: abort them, settle as cancelled. */
  readonly cancelRequested: readonly JobId[];
}

/** How long finished jobs are kept. */
export interface RetentionPolicy {
  /** Delete completed jobs finished before this time (ms since epoch). */
  readonly completedBefore: number;
  /** Keep at most this many completed jobs (the newest). */
  readonly maxCompleted: number;
  /** Delete at most this many rows per call, so pruning never holds a long lock. */
  readonly batchSize: number;
}

/** Result of a cancel request. */
export type CancelOutcome =
  /** Was pending: now cancelled, it will never run. */
  | 'cancelled'
  /** Is running: its worker will abort it at its next lease renewal (at once in the same process). */
  | 'cancelling'
  /** Already completed, dead or cancelled: nothing changed. */
  | 'finished'
  | 'not-found';

/** Outcome of trying to enqueue one schedule tick. */
export interface ScheduleTick {
  readonly name: string;
  /** The tick the caller read as due; the store advances only if it still is (compare-and-set). */
  readonly expectedNextRunAt: number;
  readonly newNextRunAt: number | null;
  /** The job to insert for this tick, or null to skip it (misfire policy 'skip'). */
  readonly job: NewJob | null;
}

/**
 * The one narrow interface between the job engine and storage. Every store (SQLite, PostgreSQL, ...) implements it
 * and passes the same conformance suite (test/conformance/store-conformance.ts). Methods that write many jobs do so in one
 * transaction, and settle/renew are one round trip per batch where the database allows it.
 *
 * Guarantees a store must give:
 * - `claim` is exclusive: a pending job is handed to one claimer only, even across processes and machines.
 * - A claim counts the attempt and sets a lease; `recoverExpired` returns jobs with expired leases to pending
 *   (or dead when that was their last attempt), recording a 'lease-expired' error.
 * - A unique key holds while a job with it is pending or running.
 * - `tickSchedule` enqueues at most one job per schedule tick, whatever the number of callers.
 */
export interface JobStore extends AsyncDisposable {
  /** A short name for logs and benchmarks: 'sqlite', 'postgres'. */
  readonly kind: string;
  /**
   * The claim size this store works best with, used when the worker's `batchSize` is not set: larger on a networked
   * database, where each claim is a round trip, than on an embedded one, where a claim blocks the event loop.
   */
  readonly preferredBatchSize?: number;
  /** Creates or upgrades the schema. Safe to call from several processes at once. */
  migrate(): Promise<void>;
  /**
   * Inserts jobs in one transaction, in order; results are in the same order. With `tx` (a store that supports it,
   * e.g. a PostgreSQL client inside the application's transaction), the rows are written through it and exist if and
   * only if that transaction commits; a store that cannot use `tx` must throw rather than ignore it.
   */
  insert(jobs: readonly NewJob[], options?: InsertOptions): Promise<InsertResult[]>;
  /** Claims up to `limit` due pending jobs of a queue, highest priority first, then earliest run time, then oldest. */
  claim(request: ClaimRequest): Promise<ClaimResult>;
  /**
   * Writes the outcome of many attempts; only jobs still leased by `owner` are changed. A job an operator asked to
   * cancel while it ran ends `cancelled` instead of going back to pending (on retry, release or lease expiry).
   */
  settle(owner: string, settlements: readonly Settlement[], now: number): Promise<void>;
  /**
   * Extends the leases of running jobs and reports lost leases and cancel requests. A job locked by another open
   * transaction (e.g. a handler's `completeWithin`) may be neither extended nor reported lost in that call.
   */
  renew(owner: string, ids: readonly JobId[], leaseMs: number, now: number): Promise<RenewResult>;
  /** Returns running jobs whose lease expired before `now` to pending (or dead); returns how many. */
  recoverExpired(now: number): Promise<number>;
  /** Records progress of a running job (a JSON value). */
  progress(id: JobId, progress: string): Promise<void>;
  /** Cancels a pending job, or flags a running one for cancellation. */
  cancel(id: JobId, now: number): Promise<CancelOutcome>;
  /**
   * Puts a dead or cancelled job back to pending with a fresh set of attempts; false if it was not dead/cancelled,
   * or if a live job now holds its unique key (there is never a second live holder of a key).
   */
  retry(id: JobId, now: number): Promise<boolean>;
  /** One job with its attempt history. */
  get(id: JobId): Promise<JobInfo | undefined>;
  /**
   * Optional: the jobs among `ids` that exist, in any order, read in one query (the waiters of
   * `JobClient.waitFor` in a process read all their jobs at once). Without it, each id is read with `get`.
   */
  getMany?(ids: readonly JobId[]): Promise<JobInfo[]>;
  /**
   * Jobs matching the filter, newest first, paged by id (`before` = the last id of the previous page). `after` keeps
   * only ids above it: with `before`, a window of ids, which bounds the rows a filter no index serves walks through.
   */
  list(
    filter: JobFilter & { readonly limit: number; readonly before?: JobId; readonly after?: JobId },
  ): Promise<JobInfo[]>;
  /**
   * Optional: whether an index serves the payload filter of `list` on any path (PostgreSQL with its payload index);
   * without one, a payload filter reads the payload of every job it walks past.
   */
  payloadFilterIndexed?(): Promise<boolean>;
  /**
   * Optional: creates the index that serves the payload filter on any path (PostgreSQL: a GIN index on the payloads,
   * built without blocking writes). Not created by `migrate`: every enqueue then writes it too.
   */
  createPayloadIndex?(): Promise<void>;
  /** Optional: drops the index of {@link JobStore.createPayloadIndex}, if any. */
  dropPayloadIndex?(): Promise<void>;
  /** Job counts per queue and state. */
  counts(): Promise<JobCount[]>;
  /**
   * Deletes jobs matching the filter (running jobs are never purged); returns how many. With `limit`, deletes at most
   * that many, oldest first, so a large purge can run in short statements that never hold the database for long.
   */
  purge(filter: JobFilter & { readonly limit?: number }): Promise<number>;
  /** Deletes completed jobs past the retention policy, at most `batchSize`; returns how many. */
  prune(policy: RetentionPolicy): Promise<number>;
  /**
   * Creates schedules, or updates their cron and timezone. A stored `nextRunAt` is kept unless the timing changed
   * or it was null, so a tick missed while every process was down is still due after a restart (misfire policy).
   * Never touches the paused flag.
   */
  upsertSchedules(schedules: readonly Omit<ScheduleRecord, 'paused' | 'lastRunAt'>[]): Promise<void>;
  /** All schedules. */
  listSchedules(): Promise<ScheduleRecord[]>;
  /** Pauses or resumes a schedule; false if no such schedule. */
  setSchedulePaused(name: string, paused: boolean, nextRunAt?: number | null): Promise<boolean>;
  /** Advances a schedule from `expectedNextRunAt` and inserts its job, atomically; false if another caller won. */
  tickSchedule(tick: ScheduleTick, now: number): Promise<boolean>;
  /**
   * Calls `listener` when new work may be ready (an insert in this process at once; other processes by a cheap
   * poll or a notification). Returns the unsubscribe function.
   */
  onWake(listener: () => void): () => void;
  /**
   * Optional: calls `listener` when jobs may have finished (completed, dead, cancelled) or been deleted: at once after
   * this instance's own writes, and after other processes' writes within the store's own delay (a poll or a
   * notification), and a last time when the store closes. `JobClient.waitFor` reads its jobs again then. Without
   * it, waiters poll every second. Returns the unsubscribe function.
   */
  onSettled?(listener: () => void): () => void;
  /**
   * Takes or keeps the maintenance leadership for `ttlMs`: true if `owner` leads now. Periodic maintenance (lease
   * recovery, schedule ticks, pruning) runs on the leader only; when it dies, another owner takes over once the
   * lease on leadership expires.
   */
  acquireLeadership(owner: string, ttlMs: number, now: number): Promise<boolean>;
  /** Gives up leadership at once (graceful shutdown), so another owner can take over without waiting. */
  releaseLeadership(owner: string): Promise<void>;
  /**
   * Optional: completes a running job through the caller's own transaction `tx`, so the job's completion and the
   * handler's database effects commit together. Returns false if `owner` no longer holds the job's lease. With
   * `remove` (a worker keeping no completed jobs) the job is deleted rather than kept as completed.
   */
  completeWithin?(tx: unknown, owner: string, id: JobId, now: number, remove?: boolean): Promise<boolean>;
  /**
   * Optional: whether `error`, thrown by a write of this store, is one retrying cannot cure (the database refused
   * the data: a value out of range, a constraint, a malformed value) rather than one that may pass (a lost
   * connection, a lock or busy timeout, a full disk). The worker records an outcome refused for good as a failed
   * attempt instead of retrying its write forever. Without this method only JavaScript TypeErrors and RangeErrors
   * count as permanent, and every other failed write is retried.
   */
  isPermanentError?(error: unknown): boolean;
  /**
   * Optional: announces that the worker `owner` consumes `queues` until `now + ttlMs` (a worker renews it on its
   * maintenance cadence, one statement a pass), and may forget other announcements that expired. With
   * {@link liveQueues}, it lets a client in another process warn of jobs enqueued to a queue no worker consumes.
   */
  announceWorker?(owner: string, queues: readonly string[], ttlMs: number, now: number): Promise<void>;
  /** Optional: withdraws the announcement of `owner` (graceful shutdown). */
  withdrawWorker?(owner: string): Promise<void>;
  /** Optional: the queues consumed by workers whose announcement has not expired at `now`, in any order. */
  liveQueues?(now: number): Promise<string[]>;
  /** Optional: the workers whose announcement has not expired at `now`, by owner. */
  listWorkers?(now: number): Promise<WorkerRecord[]>;
  /**
   * Optional: makes a pending job due at `now` (its run time was later: a delay, a retry backoff, a snooze); false if
   * the job is not pending. Running, finished and unknown jobs are left alone.
   */
  runNow?(id: JobId, now: number): Promise<boolean>;
  /**
   * Optional: how many jobs completed and went dead per bucket of `bucketMs` since `since` (by finish time), oldest
   * first, only buckets with at least one job. Completed jobs already pruned or deleted are not counted.
   */
  throughput?(since: number, bucketMs: number): Promise<ThroughputBucket[]>;
  /**
   * Optional: per queue with pending jobs due at `now` (run time reached), how many there are and the run time of
   * the oldest; queues with none are left out. For health checks and metrics: read on demand, never on the hot path.
   */
  dueBacklog?(now: number): Promise<QueueBacklog[]>;
  /** Optional: the schema version of the store and the one `migrate()` brings it to, without changing anything. */
  migrationStatus?(): Promise<MigrationStatus>;
  /**
   * Optional: gives the store the host's loggers, for the trouble it recovers from by itself (slow queries, lost
   * connections, clock skew), logged as structured lines under a category of its own. `addJobs` calls it once, when
   * the store is resolved.
   */
  attachLogger?(loggers: LoggerFactory): void;
  /** Releases connections and timers. Idempotent; `[Symbol.asyncDispose]` does the same. */
  close(): Promise<void>;
}

/** The key of the application's {@link JobStore}. */
export const JobStore = createToken<JobStore>('JobStore');
