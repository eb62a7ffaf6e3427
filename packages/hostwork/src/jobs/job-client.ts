import type { Span } from '@opentelemetry/api';
import { ErrorCodes, HostworkError } from '../errors.ts';
import { Attr, type DestinationMetrics, JOBS_SYSTEM, Telemetry } from '../telemetry/telemetry.ts';
import type { JobContract } from './job-contract.ts';
import type { JobEvents } from './job-events.ts';
import type {
  InsertResult,
  JobCount,
  JobFilter,
  JobId,
  JobInfo,
  JobState,
  NewJob,
  ScheduleRecord,
} from './job-record.ts';
import type { JobRegistry } from './job-registry.ts';
import type { CancelOutcome, JobStore } from './job-store.ts';
import { JobWaiter, type WaitOptions } from './job-waiter.ts';
import type { LocalDispatch, LocalReservation } from './local-dispatch.ts';
import type { EnqueueOptions } from './prepare-job.ts';
import { prepareJob } from './prepare-job.ts';
import type { QueueConsumers } from './queue-consumers.ts';
import { nextTick } from './schedule.ts';

/** What `enqueue` returns. */
export interface EnqueueResult {
  readonly id: JobId;
  /** `duplicate`: the unique key was taken by a pending or running job, whose id this is; nothing was stored. */
  readonly outcome: InsertResult['outcome'];
}

/** One item of {@link JobClient.enqueueMany}. */
export interface BulkItem<Input> {
  readonly payload: Input;
  readonly options?: EnqueueOptions;
}

/** A schedule as listed: its stored state plus its definition. */
export interface ScheduleInfo extends ScheduleRecord {
  readonly job: string;
  readonly misfire: string;
}

interface Pending {
  readonly job: NewJob;
  readonly resolve: (result: InsertResult) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Enqueues and inspects jobs. Concurrent `enqueue` calls are coalesced into one store transaction
 * (each caller still gets its own id or error), so enqueueing from a busy HTTP handler costs little.
 */
export class JobClient {
  readonly #store: JobStore;
  readonly #events: JobEvents;
  readonly #registry: JobRegistry;
  readonly #dispatch: LocalDispatch | undefined;
  readonly #consumers: QueueConsumers | undefined;
  #ready: Promise<void> | undefined;
  #buffer: Pending[] = [];
  #flushing = false;
  #waiter: JobWaiter | undefined;
  readonly #telemetry: Telemetry | undefined;
  /** Read once: whether enqueues are traced. */
  readonly #tracing: boolean;
  /** `messaging.client.sent.messages` by queue, resolved once per queue. */
  readonly #sent = new Map<string, DestinationMetrics>();

  /**
   * `dispatch`: the link to a worker of this process, which may take jobs enqueued here without a claim.
   * `consumers`: warns of jobs enqueued to a queue no live worker consumes. `telemetry`: spans and metrics.
   */
  constructor(
    store: JobStore,
    events: JobEvents,
    registry: JobRegistry,
    dispatch?: LocalDispatch,
    consumers?: QueueConsumers,
    telemetry?: Telemetry,
  ) {
    this.#store = store;
    this.#events = events;
    this.#registry = registry;
    this.#dispatch = dispatch;
    this.#consumers = consumers;
    this.#telemetry = telemetry;
    this.#tracing = telemetry?.tracing === true;
    telemetry?.watchStore(store);
  }

  /** The store, for advanced use (and the conformance of custom stores). */
  get store(): JobStore {
    return this.#store;
  }

  /** Makes sure the store's schema is in place (memoised once it succeeds; a failure is tried again next call). */
  ready(): Promise<void> {
    this.#ready ??= this.#store.migrate().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /**
   * Validates the payload against the job's schema and stores the job (the schema's output). An invalid payload is
   * refused with an error naming each failing field (code HW_JOB_INVALID_PAYLOAD), and nothing is stored. `job` is a
   * definition or a contract (`defineJobContract`): a producer needs no handler code.
   */
  async enqueue<Input, Output>(
    job: JobContract<Input, Output>,
    payload: NoInfer<Input>,
    options: EnqueueOptions = {},
  ): Promise<EnqueueResult> {
    const prepared = prepareJob(this.#registry, job, payload, options, Date.now());
    let row = prepared instanceof Promise ? await prepared : prepared;
    if (this.#tracing) {
      const span = this.#telemetry!.startSend(JOBS_SYSTEM, row.queue, { [Attr.jobName]: row.name });
      row = withTraceContext(row, this.#telemetry!.carrierOf(span));
      if (span) return traced(span, this.#insert(row, options));
    }
    return this.#insert(row, options);
  }

  /** Stores one prepared row: through the caller's transaction at once, or coalesced with concurrent enqueues. */
  async #insert(row: NewJob, options: EnqueueOptions): Promise<EnqueueResult> {
    if (options.tx !== undefined) {
      // Inside the caller's transaction: written through it at once, never coalesced with other callers' rows.
      await this.ready();
      const [result] = await this.#store.insert([row], { tx: options.tx });
      this.#stored({ job: row, resolve: () => {}, reject: () => {} }, result!);
      return result!;
    }
    // The 'enqueued' event is emitted by #flush as soon as the row is stored: emitting it here, one promise hop
    // later, would let a worker in this process (woken by the insert) emit 'started' before it.
    return new Promise<InsertResult>((resolve, reject) => {
      this.#buffer.push({ job: row, resolve, reject });
      if (this.#buffer.length === 1 && !this.#flushing) queueMicrotask(() => this.#flush());
    });
  }

  /** Validates every payload first, then stores all jobs in one transaction (all or nothing). */
  async enqueueMany<Input, Output>(
    job: JobContract<Input, Output>,
    items: readonly BulkItem<NoInfer<Input>>[],
    options: { readonly tx?: unknown } = {},
  ): Promise<EnqueueResult[]> {
    const now = Date.now();
    const rows: NewJob[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      try {
        const prepared = prepareJob(this.#registry, job, item.payload, item.options ?? {}, now);
        // Synchronous validators stay synchronous: no promise hop per item of a large batch.
        rows.push(prepared instanceof Promise ? await prepared : prepared);
      } catch (error) {
        if (error instanceof HostworkError) {
          throw new HostworkError(error.code, `Item ${i} of enqueueMany('${job.name}'): ${error.message}`, {
            cause: error,
          });
        }
        throw error;
      }
    }
    await this.ready();
    // One send span for the batch (named after its queue, unless its jobs go to several); every job carries its context.
    const span =
      this.#tracing && rows.length > 0
        ? this.#telemetry!.startSend(JOBS_SYSTEM, oneQueue(rows), {
            [Attr.jobName]: job.name,
            'messaging.batch.message_count': rows.length,
          })
        : undefined;
    const carrier = this.#telemetry?.carrierOf(span);
    if (carrier) for (let i = 0; i < rows.length; i++) rows[i] = withTraceContext(rows[i]!, carrier);
    let results: InsertResult[];
    try {
      results = await this.#store.insert(rows, options.tx === undefined ? undefined : { tx: options.tx });
    } catch (error) {
      if (span) {
        Telemetry.recordError(span, describeError(error));
        span.end();
      }
      throw error;
    }
    span?.end();
    for (let i = 0; i < rows.length; i++)
      if (results[i]!.outcome === 'inserted') this.#sentTo(rows[i]!.queue);
    if (this.#consumers) for (const row of rows) this.#consumers.enqueued(row.queue);
    if (this.#events.has('enqueued')) {
      results.forEach((r, i) => {
        this.#events.emit('enqueued', {
          id: r.id,
          name: job.name,
          queue: rows[i]!.queue,
          outcome: r.outcome,
        });
      });
    }
    return results;
  }

  /** One job with its attempts and errors. */
  get(id: JobId): Promise<JobInfo | undefined> {
    return this.ready().then(() => this.#store.get(id));
  }

  /**
   * Waits until job `id` is finished (completed, dead or cancelled) and resolves with its info, `result` included:
   * check `state`, a dead job resolves too. Works across processes: a worker in another process finishing the job is
   * seen through the store (SQLite within a few ms; PostgreSQL within `settledPollIntervalMs`, 250 ms by default); a
   * worker in this process, at once. Rejects with HW_JOB_WAIT_TIMEOUT after `timeout` ms, with the signal's reason when
   * `signal` aborts, and with HW_JOB_NOT_FOUND for an id that is not stored (or no longer: a worker that keeps no
   * completed jobs deletes a job as it completes).
   *
   * @example
   * ```ts
   * const { id } = await jobs.enqueue(Resize, { image: 'a.png' });
   * const info = await jobs.waitFor(id, { timeout: 30_000 });
   * if (info.state === 'completed') console.log(info.result);
   * ```
   */
  waitFor(id: JobId, options: WaitOptions = {}): Promise<JobInfo> {
    this.#waiter ??= new JobWaiter(this.#store, this.#events, () => this.ready());
    return this.#waiter.waitFor(id, options);
  }

  /** Jobs by queue, state and name, newest first; page with `before` (the last id of the previous page). */
  list(filter: JobFilter & { readonly limit?: number; readonly before?: JobId } = {}): Promise<JobInfo[]> {
    return this.ready().then(() => this.#store.list({ ...filter, limit: filter.limit ?? 50 }));
  }

  /** Counts per queue and state. */
  counts(): Promise<JobCount[]> {
    return this.ready().then(() => this.#store.counts());
  }

  /** Cancels a pending job (it never runs) or a running one (its signal aborts; it ends as cancelled). */
  async cancel(id: JobId): Promise<CancelOutcome> {
    await this.ready();
    const outcome = await this.#store.cancel(id, Date.now());
    if (outcome === 'cancelling') this.#events.emit('cancel-requested', { id });
    return outcome;
  }

  /** Puts a dead or cancelled job back in the queue with fresh attempts; false if it was neither. */
  async retry(id: JobId): Promise<boolean> {
    await this.ready();
    return this.#store.retry(id, Date.now());
  }

  /** Deletes jobs by filter (never running ones); returns how many. */
  async purge(filter: JobFilter & { readonly state: Exclude<JobState, 'running'> }): Promise<number> {
    await this.ready();
    return this.#store.purge(filter);
  }

  /** The schedules with their next run time. */
  async listSchedules(): Promise<ScheduleInfo[]> {
    await this.ready();
    const records = await this.#store.listSchedules();
    return records.map((r) => {
      const s = this.#registry.schedule(r.name);
      return { ...r, job: s?.definition.job.name ?? '(unknown)', misfire: s?.misfire ?? '(unknown)' };
    });
  }

  /** Pauses a schedule: no job is enqueued for its ticks until resumed. */
  async pauseSchedule(name: string): Promise<void> {
    await this.ready();
    if (!(await this.#store.setSchedulePaused(name, true))) throw this.#unknownSchedule(name);
  }

  /** Resumes a schedule from its next future tick (ticks missed while paused are not run). */
  async resumeSchedule(name: string): Promise<void> {
    await this.ready();
    const schedule = this.#registry.schedule(name);
    const next = schedule ? nextTick(schedule, Date.now()) : undefined;
    if (!(await this.#store.setSchedulePaused(name, false, next))) throw this.#unknownSchedule(name);
  }

  #unknownSchedule(name: string): HostworkError {
    return new HostworkError(ErrorCodes.SCHEDULE_INVALID, `No schedule named '${name}' is stored.`);
  }

  /** Emits the 'enqueued' event of a stored row (before anything else can react to it), then resolves its caller. */
  #stored(p: Pending, result: InsertResult): void {
    if (this.#events.has('enqueued')) {
      this.#events.emit('enqueued', {
        id: result.id,
        name: p.job.name,
        queue: p.job.queue,
        outcome: result.outcome,
      });
    }
    this.#consumers?.enqueued(p.job.queue);
    if (result.outcome === 'inserted') this.#sentTo(p.job.queue);
    p.resolve(result);
  }

  /** Counts one job sent to `queue` (`messaging.client.sent.messages`). */
  #sentTo(queue: string): void {
    const telemetry = this.#telemetry;
    if (telemetry === undefined || !telemetry.metricsEnabled) return;
    let metrics = this.#sent.get(queue);
    if (metrics === undefined) {
      metrics = telemetry.destination(JOBS_SYSTEM, queue);
      this.#sent.set(queue, metrics);
    }
    metrics.sent.add();
  }

  /**
   * Asks the local worker for an idle slot for each job that is due now; undefined when none was given (the common
   * case on a busy worker, at the cost of one check per job).
   */
  #reserve(batch: readonly Pending[]): (LocalReservation | undefined)[] | undefined {
    const dispatch = this.#dispatch;
    if (dispatch === undefined) return undefined;
    const now = Date.now();
    let reservations: (LocalReservation | undefined)[] | undefined;
    for (let i = 0; i < batch.length; i++) {
      const job = batch[i]!.job;
      if (job.runAt > now) continue;
      const reservation = dispatch.reserve(job.queue, now);
      if (reservation === undefined) continue;
      reservations ??= new Array(batch.length);
      reservations[i] = reservation;
    }
    return reservations;
  }

  /** Gives each job inserted under a reservation to the local worker; a duplicate gives its slot back. */
  #handOver(
    batch: readonly Pending[],
    results: readonly InsertResult[],
    reservations: readonly (LocalReservation | undefined)[],
  ): void {
    const now = Date.now();
    for (let i = 0; i < batch.length; i++) {
      const reservation = reservations[i];
      if (reservation === undefined) continue;
      const result = results[i]!;
      if (result.outcome !== 'inserted') {
        reservation.cancel();
        continue;
      }
      const job = batch[i]!.job;
      reservation.accept({
        id: result.id,
        name: job.name,
        queue: job.queue,
        payload: job.payload,
        priority: job.priority,
        attempt: 1,
        maxAttempts: job.maxAttempts,
        timeoutMs: job.timeoutMs,
        backoff: job.backoff,
        createdAt: now,
        metadata: job.metadata ?? null,
      });
    }
  }

  /** Writes every buffered enqueue in one transaction; if that fails, row by row so each caller gets its own error. */
  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      await this.ready();
      while (this.#buffer.length > 0) {
        const batch = this.#buffer;
        this.#buffer = [];
        const reservations = this.#reserve(batch);
        try {
          const rows = reservations
            ? batch.map((p, i) => {
                const r = reservations[i];
                return r ? { ...p.job, claimedBy: r.lease } : p.job;
              })
            : batch.map((p) => p.job);
          const results = await this.#store.insert(rows);
          for (let i = 0; i < batch.length; i++) this.#stored(batch[i]!, results[i]!);
          // After the 'enqueued' events: a job handed to the local worker emits 'started' next.
          if (reservations) this.#handOver(batch, results, reservations);
        } catch (error) {
          if (reservations) for (const r of reservations) r?.cancel();
          if (batch.length === 1) {
            batch[0]!.reject(error);
            continue;
          }
          for (const p of batch) {
            let result: InsertResult;
            try {
              result = (await this.#store.insert([p.job]))[0]!;
            } catch (single) {
              p.reject(single);
              continue;
            }
            this.#stored(p, result);
          }
        }
      }
    } catch (error) {
      // migrate() failed: every waiting caller learns why.
      for (const p of this.#buffer.splice(0)) p.reject(error);
    } finally {
      this.#flushing = false;
    }
  }
}

/** The row with the enqueue span's trace context as its metadata (unchanged when there is none to store). */
function withTraceContext(row: NewJob, carrier: Record<string, string> | undefined): NewJob {
  return carrier ? { ...row, metadata: JSON.stringify(carrier) } : row;
}

/** An error as a span records it. */
function describeError(error: unknown): { name?: string; message: string; stack?: string } {
  if (error instanceof Error)
    return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  return { message: String(error) };
}

/** Ends the enqueue span when the job is stored (its id as `messaging.message.id`), or records why it was not. */
function traced(span: Span, stored: Promise<EnqueueResult>): Promise<EnqueueResult> {
  return stored.then(
    (result) => {
      span.setAttribute(Attr.messageId, result.id);
      if (result.outcome === 'duplicate') span.setAttribute(Attr.outcome, 'duplicate');
      span.end();
      return result;
    },
    (error: unknown) => {
      Telemetry.recordError(span, describeError(error));
      span.end();
      throw error;
    },
  );
}

/** The queue of every row, or undefined when they go to several. */
function oneQueue(rows: readonly NewJob[]): string | undefined {
  const queue = rows[0]?.queue;
  for (const row of rows) if (row.queue !== queue) return undefined;
  return queue;
}
