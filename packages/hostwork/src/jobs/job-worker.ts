import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Context, Span, SpanContext } from '@opentelemetry/api';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ScopeFactory } from '../di/scope.ts';
import { ErrorCodes, HostworkError } from '../errors.ts';
import { HostOptions } from '../hosting/host-options.ts';
import type { HostedService } from '../hosting/hosted-service.ts';
import { shutdownGraceMs, waitWithin } from '../hosting/shutdown-grace.ts';
import type { Logger } from '../logging/logger-factory.ts';
import { LoggerFactory } from '../logging/logger-factory.ts';
import {
  Attr,
  type DestinationMetrics,
  JOBS_SYSTEM,
  NOOP_DESTINATION,
  type Outcome as OutcomeLabel,
  type ProcessTrace,
  Telemetry,
} from '../telemetry/telemetry.ts';
import { traceContextOfMetadata } from '../telemetry/trace-context.ts';
import { AttemptContext, type AttemptEnvironment, SnoozeResult } from './attempt-context.ts';
import type { Backoff } from './backoff.ts';
import { backoffDelay, defaultBackoff } from './backoff.ts';
import { delayProblem, progressJson, resultJson } from './handler-values.ts';
import { formatIssues } from './job-definition.ts';
import { JobEvents } from './job-events.ts';
import type { AttemptError, ClaimedJob, JobId, Settlement } from './job-record.ts';
import { JobRegistry } from './job-registry.ts';
import { JobStore } from './job-store.ts';
import { LocalDispatch, type LocalReservation } from './local-dispatch.ts';
import { unconsumedDefinitions } from './queue-consumers.ts';
import { ScheduleRunner } from './schedule-runner.ts';
import { describeThrown } from './thrown-value.ts';
import { WorkerOptions } from './worker-options.ts';

/** Per-queue loop state. */
interface QueueState {
  readonly name: string;
  readonly concurrency: number;
  running: number;
  claiming: boolean;
  /** Set when a fill was asked for while a claim was in flight: claim again once it returns. */
  again: boolean;
  /** Slots set aside for jobs being inserted already claimed by this worker (local dispatch). */
  reserved: number;
  /** A fill is scheduled for the next turn of the event loop. */
  fillScheduled: boolean;
  /** A refill was already started directly in this turn of the event loop (see #fillSoon). */
  filledThisTurn: boolean;
  timer: NodeJS.Timeout | undefined;
  /** Claimed jobs waiting for a free slot (prefetched), last to run first: `pop()` is O(1). */
  buffer: ClaimedJob[];
  /** Moving average of job duration in ms: prefetching pays off only for short jobs. */
  averageMs: number;
  /**
   * The store may hold due jobs of this queue that this worker has not claimed: set by wake-ups, polls, timers and
   * claims that came back full, cleared by a claim that came back short. Freed slots claim again after a write of
   * outcomes only while it is set, so an idle queue costs no claim per finished job.
   */
  mayHaveDue: boolean;
  /** The queue's metrics, resolved once. */
  readonly metrics: DestinationMetrics;
  /** The name of its attempts' process spans (`process <queue>`), built once. */
  readonly spanName: string;
}

/** A running attempt: its context, its queue and, when tracing, its process span and the context to run it in. */
interface RunningAttempt {
  readonly ctx: AttemptContext;
  readonly queue: QueueState;
  readonly trace: ProcessTrace | undefined;
}

/** The `hostwork.outcome` label and the settle operation of each settlement kind (null: the lease was lost). */
const OUTCOME_LABEL: Record<Settlement['kind'], OutcomeLabel> = {
  completed: 'completed',
  retry: 'retry',
  dead: 'dead',
  cancelled: 'cancelled',
  release: 'released',
};
const SETTLE_OPERATION: Record<Settlement['kind'], string> = {
  completed: 'ack',
  retry: 'retry',
  dead: 'dead_letter',
  cancelled: 'cancel',
  release: 'release',
};

/** Prefetch (claim more than the free slots) only while jobs take less than this on average. */
const PREFETCH_BELOW_MS = 5;

/**
 * Jobs kept in hand beyond the running ones are at most about this much work at the queue's average duration and
 * concurrency (and never more than `batchSize`): enough that claims of thousands serve a backlog of tiny jobs, while
 * a process with few slots and jobs of a few ms does not hold seconds of work other processes could be running.
 */
const PREFETCH_WORK_MS = 250;

/** A settlement waiting for the next batch write, with what its event needs. */
interface Outcome {
  readonly settlement: Settlement;
  /** Already written by the handler's own transaction (`ctx.completeWithin`): report it, write nothing. */
  readonly written?: boolean;
  /** Failed writes of this outcome alone while others succeeded; after a few it is given up. */
  failures?: number;
  /** The job, not its attempt's context: an outcome may wait for its write long after the handler returned. */
  readonly job: ClaimedJob;
  readonly durationMs: number;
  /** What the handler returned, for the 'completed' event (its JSON is in the settlement). */
  readonly result?: unknown;
  /** When tracing: the attempt's process span, which the settle span of the outcome's batch write links to. */
  readonly traced?: SpanContext;
}

/** Links of a batch settle span at most (OpenTelemetry's default span limit). */
const MAX_SETTLE_LINKS = 128;

/** Claim size when neither the options nor the store say otherwise. */
const DEFAULT_BATCH_SIZE = 250;

/** How often one outcome may fail to be written while others succeed before it is given up (its lease then expires). */
const MAX_OUTCOME_WRITE_FAILURES = 5;

/** Pruning runs less often than recovery: it is housekeeping, not correctness. */
const PRUNE_EVERY_MS = 60_000;
/**
 * Batch writes of outcomes in flight at once. With one, outcomes finishing while a write waits for its commit wait
 * for it too, and a drain's last batch waits behind the one before; a second write on another connection overlaps
 * that wait (PostgreSQL drains at concurrency 10: about 10 % faster). Events of a later write may fire first.
 */
const MAX_WRITES_IN_FLIGHT = 2;

/**
 * The durable job worker, a hosted service. Per queue it claims due jobs in batches under a lease, runs them up to
 * the queue's concurrency, renews the leases of long jobs, and writes outcomes in batches. It also recovers jobs of
 * crashed workers (expired leases), ticks schedules and prunes old completed jobs.
 *
 * On shutdown it stops claiming, lets running jobs finish while the host's shutdown budget allows, then aborts the
 * rest and hands them back to the queue at once without counting the attempt.
 */
export class JobWorker implements HostedService {
  static readonly inject = [
    JobStore,
    JobRegistry,
    JobEvents,
    ScopeFactory,
    LoggerFactory,
    HostOptions,
    WorkerOptions,
    LocalDispatch,
    Telemetry,
  ] as const;

  /** This process's lease owner id: host, pid and a random suffix (pids repeat across containers). */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #store: JobStore;
  readonly #registry: JobRegistry;
  readonly #events: JobEvents;
  readonly #hostOptions: HostOptions;
  readonly #options: WorkerOptions;
  readonly #log: Logger;
  readonly #jobLog: Logger;
  readonly #schedules: ScheduleRunner;
  readonly #queues: QueueState[];
  readonly #queueByName: ReadonlyMap<string, QueueState>;
  readonly #queueNames: readonly string[];
  /** Set while announcing the worker fails, so the failure is logged once. */
  #announceFailed = false;
  /** When this worker last announced its queues (0: never). */
  #announcedAt = 0;
  readonly #running = new Map<JobId, RunningAttempt>();
  #outcomes: Outcome[] = [];
  #progress = new Map<JobId, string>();
  #flushScheduled = false;
  /** Batch writes of outcomes in flight (at most MAX_WRITES_IN_FLIGHT). */
  #writes = new Set<Promise<void>>();
  /** The latest write that carried progress, until it is done: a later write's settlements wait for it. */
  #progressWrite: Promise<void> | undefined;
  #stopping = false;
  /** Housekeeping passes under way; `stop()` waits for them so none reaches a store that has closed. */
  readonly #housekeeping = new Set<Promise<void>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #unsubscribe: Array<() => void> = [];
  #lastPrune = 0;
  #idle: PromiseWithResolvers<void> | undefined;
  #debug = false;
  /** Most jobs per claim: the option, else what the store works best with. */
  readonly #batchSize: number;
  #leading = false;
  readonly #dispatch: LocalDispatch | undefined;
  /** Set once stop() has written its last outcomes: nothing handed over after that can be run or released. */
  #stopped = false;
  /** For health checks: when the worker started, its heartbeat last fired, a renewal began, renewed, failed. */
  #startedAt: number | undefined;
  #beatAt = 0;
  #renewingSince: number | undefined;
  #renewedAt = 0;
  #renewFailedAt: number | undefined;
  /** Retention 0: a completed job is deleted with its completion rather than kept until a prune pass. */
  readonly #removeCompleted: boolean;
  /** Outcomes in batch writes that have not returned yet (the queued ones are `#outcomes`). */
  #inFlight = 0;
  /** No new job starts while this many outcomes are unwritten (queued or in flight): they would run again after a crash. */
  readonly #maxUnwritten: number;
  /** Set when every outcome write failed (the store is unreachable); cleared by the next write that succeeds. */
  #holdingBack = false;
  /** Counts the times the worker began holding back; a write proves the store reachable only if it began after. */
  #holdEpoch = 0;
  /** Shared by every attempt's context (see AttemptEnvironment). */
  readonly #attemptEnv: AttemptEnvironment;
  readonly #telemetry: Telemetry | undefined;
  /** Read once: whether attempts are traced. */
  readonly #tracing: boolean;

  constructor(
    store: JobStore,
    registry: JobRegistry,
    events: JobEvents,
    scopes: ScopeFactory,
    loggers: LoggerFactory,
    hostOptions: HostOptions,
    options: WorkerOptions,
    dispatch?: LocalDispatch,
    telemetry?: Telemetry,
  ) {
    this.#dispatch = dispatch;
    this.#telemetry = telemetry;
    this.#tracing = telemetry?.tracing === true;
    this.#store = store;
    this.#registry = registry;
    this.#events = events;
    this.#hostOptions = hostOptions;
    this.#options = options;
    this.#removeCompleted = options.completedRetentionMs === 0 || options.maxCompletedJobs === 0;
    this.#log = loggers.create('Hostwork.Jobs.Worker');
    this.#jobLog = loggers.create('Hostwork.Jobs');
    this.#attemptEnv = {
      logger: this.#jobLog,
      scopes,
      progress: (ctx, value) => this.#onProgress(ctx, value),
      completeWithin: (ctx, tx) => this.#completeWithin(ctx, tx),
    };
    this.#schedules = new ScheduleRunner(store, registry, this.#log);
    this.#batchSize = options.batchSize ?? store.preferredBatchSize ?? DEFAULT_BATCH_SIZE;
    this.#maxUnwritten = options.maxUnwrittenOutcomes ?? this.#batchSize;
    this.#queues = Object.entries(options.queues).map(([name, q]) => ({
      name,
      concurrency: q.concurrency,
      running: 0,
      claiming: false,
      again: false,
      reserved: 0,
      fillScheduled: false,
      filledThisTurn: false,
      timer: undefined,
      buffer: [],
      averageMs: PREFETCH_BELOW_MS * 2,
      mayHaveDue: true,
      metrics: telemetry?.destination(JOBS_SYSTEM, name) ?? NOOP_DESTINATION,
      spanName: `process ${name}`,
    }));
    this.#queueByName = new Map(this.#queues.map((q) => [q.name, q]));
    this.#queueNames = this.#queues.map((q) => q.name);
  }

  /** How many jobs run right now in this process. */
  get runningCount(): number {
    return this.#running.size;
  }

  /** A snapshot of the worker's loop for health checks (see {@link WorkerHealth}). */
  get health(): WorkerHealth {
    return {
      started: this.#startedAt !== undefined,
      stopping: this.#stopping,
      running: this.#running.size,
      heartbeatMs: this.#options.heartbeatMs,
      leaseMs: this.#options.leaseMs,
      heartbeatAt: this.#beatAt,
      renewingSince: this.#renewingSince,
      renewedAt: this.#renewedAt,
      renewFailedAt: this.#renewFailedAt,
    };
  }

  async start(): Promise<void> {
    this.#debug = this.#jobLog.isLevelEnabled('debug');
    await this.#store.migrate();
    this.#telemetry?.watchStore(this.#store);
    await this.#schedules.sync(Date.now());
    this.#unsubscribe.push(this.#store.onWake(() => this.#fillAll()));
    this.#unsubscribe.push(this.#events.on('cancel-requested', ({ id }) => this.#cancelLocally(id)));
    if (this.#dispatch && this.#options.localDispatch) {
      this.#unsubscribe.push(this.#dispatch.attach({ reserve: (queue, now) => this.#reserve(queue, now) }));
    }
    this.#startedAt = this.#beatAt = this.#renewedAt = Date.now();
    this.#every(this.#options.heartbeatMs, () => this.#heartbeat());
    this.#every(this.#options.pollIntervalMs, async () => this.#fillAll());
    this.#every(this.#options.maintenanceIntervalMs, () => this.#maintain());
    for (const unconsumed of unconsumedDefinitions(this.#registry, Object.keys(this.#options.queues))) {
      this.#log.warn({ job: unconsumed.job, queue: unconsumed.queue }, unconsumed.message);
    }
    this.#log.info(
      { owner: this.owner, store: this.#store.kind, queues: this.#options.queues },
      `Job worker started on ${this.#store.kind} (${this.#queues.map((q) => `${q.name}×${q.concurrency}`).join(', ')})`,
    );
    this.#fillAll();
    void this.#safely(() => this.#maintain());
  }

  async stop(signal: AbortSignal): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers) clearTimeout(t);
    for (const q of this.#queues) clearTimeout(q.timer);
    for (const u of this.#unsubscribe) u();
    this.#releaseBuffered();
    // Keep part of the host's budget to hand unfinished jobs back; the host aborts `signal` when all of it is spent.
    const graceMs = shutdownGraceMs(this.#hostOptions.shutdownTimeout);
    if (this.#running.size > 0) {
      this.#log.info(
        { running: this.#running.size, graceMs },
        `Waiting up to ${graceMs} ms for ${this.#running.size} running job(s)`,
      );
      this.#idle ??= Promise.withResolvers<void>();
      // Leases keep renewing while running jobs finish: a job outliving its lease during shutdown would otherwise
      // be recovered and run a second time by another worker.
      const renewing = this.#renewWhileStopping();
      try {
        await waitWithin(this.#idle.promise, graceMs, signal);
      } finally {
        renewing.stop();
      }
    }
    if (this.#running.size > 0) {
      const now = Date.now();
      const handedBack = [...this.#running.values()];
      for (const { ctx, queue } of handedBack) {
        ctx.abort('shutdown', 'the host is stopping');
        this.#finish(queue, ctx, { id: ctx.id, kind: 'release', runAt: now });
      }
      this.#log.warn(
        { jobs: handedBack.map((r) => r.ctx.id) },
        `Handed ${handedBack.length} unfinished job(s) back to the queue (attempt not counted)`,
      );
    }
    await this.#flush();
    while (this.#writes.size > 0) await Promise.all(this.#writes);
    // A housekeeping pass already under way (the one started with the worker, say) finishes before the store may close.
    while (this.#housekeeping.size > 0) await Promise.all(this.#housekeeping);
    this.#stopped = true;
    // Clients stop counting on this worker's queues at once rather than when its announcement expires.
    await this.#store.withdrawWorker?.(this.owner).catch(() => {});
    if (this.#leading) await this.#store.releaseLeadership(this.owner).catch(() => {});
    this.#log.info('Job worker stopped');
  }

  /** Renews the leases of running jobs every `heartbeatMs` (never overlapping) until `stop()` is called. */
  #renewWhileStopping(): { stop(): void } {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const next = () => {
      timer = setTimeout(async () => {
        await this.#safely(() => this.#heartbeat());
        if (!stopped) next();
      }, this.#options.heartbeatMs);
    };
    next();
    return {
      stop: () => {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  /** Hands prefetched jobs that never started back to the queue, attempt not counted. */
  #releaseBuffered(): void {
    const now = Date.now();
    for (const q of this.#queues) {
      for (const job of q.buffer) {
        this.#outcomes.push({
          settlement: { id: job.id, kind: 'release', runAt: now },
          job,
          durationMs: 0,
        });
      }
      q.buffer = [];
    }
    this.#scheduleFlush();
  }

  /** Runs `work` every `ms`, never overlapping itself, until the worker stops. */
  #every(ms: number, work: () => Promise<unknown>): void {
    const timer = setTimeout(async () => {
      this.#timers.delete(timer);
      await this.#safely(work);
      if (!this.#stopping) this.#every(ms, work);
    }, ms);
    this.#timers.add(timer);
  }

  /** Runs housekeeping, logging a failure instead of letting it reject (an unhandled rejection ends the process). */
  async #safely(work: () => Promise<unknown>): Promise<void> {
    const pass = (async () => {
      try {
        await work();
      } catch (error) {
        this.#log.error({ err: error }, `Job worker housekeeping failed: ${(error as Error).message}`);
      }
    })();
    this.#housekeeping.add(pass);
    await pass;
    this.#housekeeping.delete(pass);
  }

  /** Claims for every queue: something (a wake-up, a poll, recovered leases) says due jobs may be waiting. */
  #fillAll(): void {
    for (const q of this.#queues) {
      q.mayHaveDue = true;
      void this.#fill(q);
    }
  }

  /**
   * Claims jobs for a queue. Slow jobs are claimed only for free slots; while jobs are short (a few ms) the worker
   * also keeps claimed jobs in hand (see #handSize), so one claim and one settle serve hundreds of jobs.
   */
  async #fill(q: QueueState): Promise<void> {
    if (this.#stopping) return;
    if (q.claiming) {
      q.again = true;
      return;
    }
    // Prefetching keeps jobs in hand beyond the running ones, and claims again once half of that room is free, so
    // the next claim's round trip overlaps the work of the jobs still in hand instead of following it.
    const hand = this.#handSize(q);
    const free = q.concurrency + hand - q.running - q.reserved - q.buffer.length;
    if (free < Math.max(1, hand / 2)) return;
    q.claiming = true;
    const limit = Math.min(free, this.#batchSize);
    try {
      const { jobs, nextRunAt } = await this.#store.claim({
        queue: q.name,
        limit,
        owner: this.owner,
        leaseMs: this.#options.leaseMs,
        now: Date.now(),
      });
      if (jobs.length > 0) {
        q.buffer = q.buffer.length === 0 ? jobs.toReversed() : [...jobs.toReversed(), ...q.buffer];
        this.#drain(q);
      }
      // A wake-up during the claim (q.again) may be for a job this claim's snapshot did not see.
      q.mayHaveDue = jobs.length === limit || q.again;
      if (jobs.length === limit) q.again = true;
      else if (nextRunAt !== null) this.#wakeAt(q, nextRunAt);
    } catch (error) {
      this.#log.error(
        { err: error, queue: q.name },
        `Claiming jobs from queue '${q.name}' failed: ${(error as Error).message}`,
      );
    } finally {
      q.claiming = false;
    }
    if (q.again) {
      q.again = false;
      setImmediate(() => void this.#fill(q));
    }
  }

  /** How many claimed jobs to keep in hand beyond the running ones: none unless jobs are short (prefetching). */
  #handSize(q: QueueState): number {
    if (!this.#options.prefetch || q.averageMs >= PREFETCH_BELOW_MS) return 0;
    return Math.min(this.#batchSize, Math.ceil((q.concurrency * PREFETCH_WORK_MS) / q.averageMs));
  }

  /**
   * Refills the jobs in hand. The first refill of a turn of the event loop starts at once: short jobs run one after
   * the other within a turn (handlers chained by promises), so a claim left for the next turn would start only once
   * the whole batch in hand had run, and its round trip would follow the batch instead of overlapping its second half.
   * Any further refill in the same turn waits for the next one: with a synchronous store and no-op jobs, claims and
   * handlers chained by promises would otherwise run for as long as the backlog lasts without ever yielding, starving
   * timers (heartbeats) and I/O and holding every finished job's objects until the chain ends.
   */
  #fillSoon(q: QueueState): void {
    if (!q.filledThisTurn) {
      q.filledThisTurn = true;
      setImmediate(() => {
        q.filledThisTurn = false;
      });
      void this.#fill(q);
      return;
    }
    if (q.fillScheduled) return;
    q.fillScheduled = true;
    setImmediate(() => {
      q.fillScheduled = false;
      void this.#fill(q);
    });
  }

  /**
   * Local dispatch: sets aside a slot of `queue` for a job the client of this process is about to insert already
   * claimed by this worker. Only when the worker would claim it at once anyway: a free slot, nothing in hand and no
   * claim in flight (then the queue has no older due job this worker knows of).
   */
  #reserve(queue: string, now: number): LocalReservation | undefined {
    if (this.#stopping) return undefined;
    const q = this.#queueByName.get(queue);
    if (
      q === undefined ||
      q.claiming ||
      q.buffer.length > 0 ||
      q.running + q.reserved >= q.concurrency ||
      !this.#mayStart()
    )
      return undefined;
    q.reserved++;
    let settled = false;
    return {
      lease: { owner: this.owner, leaseExpiresAt: now + this.#options.leaseMs },
      accept: (job) => {
        if (settled) return;
        settled = true;
        q.reserved--;
        if (this.#stopped) {
          // Inserted while the worker finished stopping: nobody here can run or release it; its lease expires.
          this.#jobLog.warn(
            { jobId: job.id, job: job.name },
            `Job ${job.name}#${job.id} was enqueued for this worker as it stopped; it runs again once its lease expires`,
          );
          return;
        }
        this.#start(q, job);
      },
      cancel: () => {
        if (settled) return;
        settled = true;
        q.reserved--;
        this.#drain(q);
      },
    };
  }

  /** Starts buffered jobs while the queue has free slots (slots set aside for local dispatch included). */
  #drain(q: QueueState): void {
    while (
      q.running + q.reserved < q.concurrency &&
      q.buffer.length > 0 &&
      !this.#stopping &&
      this.#mayStart()
    )
      this.#start(q, q.buffer.pop()!);
  }

  /**
   * Whether another job may start: not while the store is unreachable, nor while `maxUnwrittenOutcomes` outcomes
   * wait to be written. A job that ran but whose outcome is not written runs again if this process dies, so this
   * bounds the duplicates of a crash to the running jobs plus that many.
   */
  #mayStart(): boolean {
    return !this.#holdingBack && this.#outcomes.length + this.#inFlight < this.#maxUnwritten;
  }

  /** A write failed for a reason that may pass: no job starts until a write succeeds (see #mayStart). */
  #holdBack(error: unknown, unwritten: number): void {
    if (this.#holdingBack) return;
    this.#holdingBack = true;
    this.#holdEpoch++;
    const reason = describeThrown(error).message;
    this.#log.warn(
      { error: reason, unwritten: unwritten + this.#outcomes.length, running: this.#running.size },
      `Holding back: ${unwritten} job outcome(s) could not be written (the store may be unreachable: ${reason}); no new job starts until a write succeeds`,
    );
  }

  /**
   * A write that began at `epoch` succeeded: if the worker was holding back, it starts jobs again. A write that began
   * before the worker started holding back proves nothing (it may commit while the server shuts down, after a later
   * write failed), so it resumes nothing.
   */
  #resume(epoch: number): void {
    if (!this.#holdingBack || epoch < this.#holdEpoch) return;
    this.#holdingBack = false;
    this.#log.info('Job outcomes are being written again; starting jobs again');
    for (const q of this.#queues) this.#drain(q);
  }

  /** Sleeps until a delayed job (a retry, a `runAt`) becomes due. */
  #wakeAt(q: QueueState, at: number): void {
    clearTimeout(q.timer);
    q.timer = setTimeout(
      () => {
        q.mayHaveDue = true;
        void this.#fill(q);
      },
      Math.max(0, at - Date.now()) + 1,
    );
    q.timer.unref();
  }

  #start(q: QueueState, job: ClaimedJob): void {
    if (this.#stopping) {
      // Claimed while shutdown began: hand it straight back.
      this.#outcomes.push({
        settlement: { id: job.id, kind: 'release', runAt: Date.now() },
        job,
        durationMs: 0,
      });
      this.#scheduleFlush();
      return;
    }
    const stale = this.#running.get(job.id);
    if (stale) {
      // Its lease expired while the handler still ran here (e.g. a blocked event loop), it was recovered and we
      // claimed it again: the old attempt lost its lease. Without this its slot would never be given back.
      this.#jobLog.warn(
        { jobId: job.id, job: job.name },
        `Job ${job.name}#${job.id} was claimed again after its lease expired; aborting the stale attempt`,
      );
      stale.ctx.abort('lease-lost', 'the lease was lost');
      this.#finish(stale.queue, stale.ctx, null);
    }
    q.running++;
    q.metrics.consumed.add();
    const ctx = new AttemptContext(job, this.#attemptEnv);
    const trace = this.#tracing ? this.#startTrace(q, job) : undefined;
    this.#running.set(job.id, { ctx, queue: q, trace });
    this.#execute(q, ctx, trace?.context).catch((error: unknown) => {
      // A bug of the engine, not of the handler (whose errors #execute settles): never leave the job running.
      const thrown = describeThrown(error);
      this.#jobLog.error(
        { error: thrown.message, stack: thrown.stack, jobId: job.id },
        `Running job ${job.name}#${job.id} failed unexpectedly: ${thrown.message}`,
      );
      this.#finish(q, ctx, this.#failure(job, error, 'error'));
    });
  }

  /** The attempt's process span, a child of (and linked to) the enqueue's span stored with the job. */
  #startTrace(q: QueueState, job: ClaimedJob): RunningAttempt['trace'] {
    // At the start, in one literal (the SDK copies it as it is): what a sampler may decide on.
    const trace = this.#telemetry?.startProcess(q.spanName, traceContextOfMetadata(job.metadata), {
      [Attr.system]: JOBS_SYSTEM,
      [Attr.destination]: job.queue,
      [Attr.operationType]: 'process',
      [Attr.operationName]: 'process',
      [Attr.jobName]: job.name,
    });
    // The rest only on a recorded span: a sampled-out attempt then costs the SDK two attributes less to check.
    if (trace?.span.isRecording()) {
      trace.span.setAttribute(Attr.messageId, job.id);
      trace.span.setAttribute(Attr.jobAttempt, job.attempt);
    }
    return trace;
  }

  async #execute(q: QueueState, ctx: AttemptContext, traceContext: Context | undefined): Promise<void> {
    const job = ctx.job;
    const definition = this.#registry.job(job.name);
    if (!definition) return this.#finish(q, ctx, this.#noHandler(job));
    let payload: unknown;
    try {
      payload = JSON.parse(job.payload);
    } catch (error) {
      return this.#finish(
        q,
        ctx,
        this.#dead(job, `Stored payload is not valid JSON: ${(error as Error).message}`),
      );
    }
    let validated: StandardSchemaV1.Result<unknown>;
    try {
      const result = definition.schema['~standard'].validate(payload);
      validated = result instanceof Promise ? await result : result;
    } catch (error) {
      return this.#finish(
        q,
        ctx,
        this.#dead(
          job,
          `Validating the stored payload of '${job.name}' threw: ${describeThrown(error).message}`,
        ),
      );
    }
    if (validated.issues) {
      return this.#finish(
        q,
        ctx,
        this.#dead(
          job,
          `Stored payload no longer matches the schema of '${job.name}':\n${formatIssues(validated.issues)}`,
        ),
      );
    }
    let timeout: NodeJS.Timeout | undefined;
    if (job.timeoutMs > 0) {
      timeout = setTimeout(
        () => this.#abort(q, ctx, 'timeout', `timed out after ${job.timeoutMs} ms`),
        job.timeoutMs,
      );
    }
    if (this.#events.has('started'))
      this.#events.emit('started', { id: job.id, name: job.name, queue: job.queue, attempt: job.attempt });
    if (this.#debug)
      this.#jobLog.debug(
        { jobId: job.id, job: job.name, attempt: job.attempt },
        `Job ${job.name}#${job.id} started`,
      );
    let settlement: Settlement | null;
    let returned: unknown;
    try {
      const result = await (traceContext
        ? Telemetry.run(traceContext, () => definition.handle(validated.value, ctx))
        : definition.handle(validated.value, ctx));
      const cause = ctx.abortCause;
      if (cause) settlement = this.#afterAbort(job, cause, undefined);
      else if (result instanceof SnoozeResult)
        settlement = { id: job.id, kind: 'release', runAt: Date.now() + result.snoozeMs };
      else {
        // A result JSON cannot hold, or one over the limit, throws here: the attempt fails like any other.
        settlement = this.#completion(ctx, result);
        if (!ctx.completedWithin) returned = result;
      }
    } catch (error) {
      const cause = ctx.abortCause;
      settlement = cause ? this.#afterAbort(job, cause, error) : this.#failure(job, error, 'error');
    } finally {
      clearTimeout(timeout);
    }
    try {
      const disposing = ctx.dispose();
      if (disposing) await disposing;
    } catch (error) {
      const thrown = describeThrown(error);
      this.#jobLog.error(
        { error: thrown.message, stack: thrown.stack, jobId: job.id },
        `Disposing the scope of job ${job.name}#${job.id} failed: ${thrown.message}`,
      );
    }
    this.#finish(q, ctx, settlement, returned);
  }

  /**
   * The completion of an attempt whose handler returned `value`, carrying it as the job's result (JSON text). Checked
   * even when the worker keeps no completed jobs, so whether a result is valid never depends on retention. A job
   * completed through `ctx.completeWithin` was written by the handler's transaction and keeps no result.
   */
  #completion(ctx: AttemptContext, value: unknown): Settlement {
    const remove = this.#removeCompleted;
    if (value === undefined || ctx.completedWithin) return { id: ctx.id, kind: 'completed', remove };
    const result = resultJson(ctx.job, value, this.#options.maxResultBytes);
    return remove ? { id: ctx.id, kind: 'completed', remove } : { id: ctx.id, kind: 'completed', result };
  }

  /** Aborts a running job and, if its handler ignores the signal, settles it anyway after `abortGraceMs`. */
  #abort(q: QueueState, ctx: AttemptContext, cause: 'timeout' | 'cancelled', message: string): void {
    ctx.abort(cause, message);
    const grace = setTimeout(() => {
      if (!this.#running.has(ctx.id)) return;
      this.#jobLog.warn(
        { jobId: ctx.id, job: ctx.name },
        `Job ${ctx.name}#${ctx.id} ignored its abort signal for ${this.#options.abortGraceMs} ms; settling it without waiting`,
      );
      this.#finish(q, ctx, this.#afterAbort(ctx.job, cause, undefined));
    }, this.#options.abortGraceMs);
    grace.unref();
  }

  #afterAbort(job: ClaimedJob, cause: string, error: unknown): Settlement | null {
    switch (cause) {
      case 'cancelled':
        return { id: job.id, kind: 'cancelled' };
      case 'timeout':
        return this.#failure(
          job,
          error ?? new Error(`timed out after ${job.timeoutMs} ms`),
          'timeout',
          `Timed out after ${job.timeoutMs} ms`,
        );
      case 'shutdown':
        return { id: job.id, kind: 'release', runAt: Date.now() };
      default:
        // lease lost: another worker owns the job now; writing anything would be wrong.
        return null;
    }
  }

  #failure(job: ClaimedJob, error: unknown, kind: AttemptError['kind'], message?: string): Settlement {
    // Whatever was thrown (a Proxy whose traps throw, a BigInt, a Symbol, ...): describeThrown never throws.
    const thrown = describeThrown(error);
    const attemptError: AttemptError = {
      attempt: job.attempt,
      at: Date.now(),
      message: message ?? thrown.message,
      ...(thrown.stack ? { stack: thrown.stack } : {}),
      kind,
    };
    if (job.attempt >= job.maxAttempts) return { id: job.id, kind: 'dead', error: attemptError };
    return {
      id: job.id,
      kind: 'retry',
      runAt: Date.now() + this.#retryDelay(job, error),
      error: attemptError,
    };
  }

  /** The backoff before the next attempt; a backoff that throws (a bug) falls back to the default one, logged. */
  #retryDelay(job: ClaimedJob, error: unknown): number {
    try {
      const backoff: Backoff = job.backoff
        ? (JSON.parse(job.backoff) as Backoff)
        : (this.#registry.contract(job.name)?.defaults.backoff ?? defaultBackoff);
      const delay = backoffDelay(backoff, job.attempt, error);
      const problem = delayProblem(delay, Date.now());
      if (problem === undefined) return delay;
      throw new HostworkError(
        ErrorCodes.JOB_INVALID_HANDLER_VALUE,
        `the backoff returned ${String(delay)}; a backoff ${problem}`,
      );
    } catch (failure) {
      const thrown = describeThrown(failure);
      this.#jobLog.error(
        { error: thrown.message, stack: thrown.stack, jobId: job.id, job: job.name },
        `Computing the backoff of job ${job.name}#${job.id} failed (${thrown.message}); using the default backoff`,
      );
      return backoffDelay(defaultBackoff, job.attempt, error);
    }
  }

  /**
   * A claimed job this worker cannot run (an unknown name, or a name registered here by its contract only) ends dead
   * at once, with the reason stored and logged: releasing it would loop between workers that cannot run it either,
   * and an operator can `retry` it once a worker with its handler runs.
   */
  #noHandler(job: ClaimedJob): Settlement {
    const contractOnly = this.#registry.contract(job.name) !== undefined;
    const names = this.#registry
      .contracts()
      .filter((c) => c.hasHandler)
      .map((c) => c.contract.name);
    const message = contractOnly
      ? `Job '${job.name}' has only a contract in this worker, no handler: register defineJob(contract, handle) in the workers consuming queue '${job.queue}'; retry the job once one runs`
      : `No handler for job '${job.name}' in this worker (known: ${names.join(', ') || '(none)'}); a job is never retried when no worker can run it`;
    this.#jobLog.error({ jobId: job.id, job: job.name, queue: job.queue }, message);
    return this.#dead(job, message);
  }

  #dead(job: ClaimedJob, message: string): Settlement {
    return {
      id: job.id,
      kind: 'dead',
      error: { attempt: job.attempt, at: Date.now(), message, kind: 'poison' },
    };
  }

  /** Ends an attempt (once): frees its slot and queues its outcome for the next batch write. */
  #finish(q: QueueState, ctx: AttemptContext, settlement: Settlement | null, result?: unknown): void {
    const entry = this.#running.get(ctx.id);
    if (entry?.ctx !== ctx) return;
    this.#running.delete(ctx.id);
    q.running--;
    const elapsed = performance.now() - ctx.startedAt;
    q.averageMs = q.averageMs * 0.9 + elapsed * 0.1;
    q.metrics.duration(settlement ? OUTCOME_LABEL[settlement.kind] : 'lost').observe(elapsed / 1000);
    const traced = entry.trace ? this.#endTrace(entry.trace.span, settlement) : undefined;
    if (settlement) {
      const written = ctx.completedWithin && settlement.kind === 'completed';
      const durationMs = Math.round(elapsed);
      // Built in one literal (no spread): this runs for every job.
      this.#outcomes.push(
        result === undefined
          ? traced === undefined
            ? { settlement, job: ctx.job, durationMs, written }
            : { settlement, job: ctx.job, durationMs, written, traced }
          : { settlement, job: ctx.job, durationMs, written, result, ...(traced ? { traced } : {}) },
      );
    }
    this.#drain(q);
    // While prefetching, refill as soon as half the room in hand is free, without waiting for these outcomes to be
    // written; slow jobs keep claiming after each batch write, as before.
    if (q.buffer.length > 0 && !q.claiming && q.buffer.length <= this.#handSize(q) / 2) this.#fillSoon(q);
    if (this.#running.size === 0 && this.#idle) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
    // A full batch is written at once: short jobs can run for many batches within one turn of the event loop
    // (claims and handlers chained by promises), and outcomes held until the turn ends would pile up by thousands.
    if (this.#outcomes.length >= this.#batchSize && this.#writes.size < MAX_WRITES_IN_FLIGHT)
      this.#writeOutcomes();
    else this.#scheduleFlush();
  }

  /**
   * Ends the process span with the attempt's outcome; returns its context for the settle span of the batch write
   * (none when the lease was lost: nothing is written; none when the span was sampled out either: a settle span
   * under it would not be recorded, so the batch only makes one for its recorded attempts).
   */
  #endTrace(span: Span, settlement: Settlement | null): SpanContext | undefined {
    if (!span.isRecording()) {
      span.end();
      return undefined;
    }
    // A completion is the common case, which the span's unset status says: no attribute to write for it.
    if (settlement?.kind !== 'completed')
      span.setAttribute(Attr.outcome, settlement ? OUTCOME_LABEL[settlement.kind] : 'lost');
    if (settlement === null)
      Telemetry.recordError(span, { message: 'the lease was lost', kind: 'lease-lost' });
    else if (settlement.kind === 'retry' || settlement.kind === 'dead') {
      const e = settlement.error;
      Telemetry.recordError(span, {
        message: e.message,
        kind: e.kind,
        ...(e.stack ? { stack: e.stack } : {}),
      });
    }
    span.end();
    return settlement === null ? undefined : span.spanContext();
  }

  /**
   * The settle span of one batch write of outcomes: one span per write, as the store writes them (a span per job
   * would cost more than the write itself), a child of the first traced attempt and linked to every traced one.
   */
  #settleSpan(outcomes: readonly Outcome[], count: number): Span | undefined {
    const links: SpanContext[] = [];
    let queue: string | undefined;
    let mixed = false;
    let operation: string | undefined;
    for (const o of outcomes) {
      if (o.written) continue;
      if (queue === undefined) queue = o.job.queue;
      else if (queue !== o.job.queue) mixed = true;
      const op = SETTLE_OPERATION[o.settlement.kind];
      operation = operation === undefined || operation === op ? op : 'settle';
      // The SDK keeps 128 links by default and drops the rest: building more costs for nothing.
      if (o.traced && links.length < MAX_SETTLE_LINKS) links.push(o.traced);
    }
    if (links.length === 0) return undefined;
    return this.#telemetry?.startSettle(
      JOBS_SYSTEM,
      mixed ? undefined : queue,
      operation ?? 'settle',
      count,
      links,
    );
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // setImmediate, not a microtask: outcomes of every job finishing in this turn share one write.
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#writeOutcomes();
    });
  }

  /**
   * Writes the queued outcomes, then claims for the slots they freed (slow jobs claim after each write) in the queues
   * where due jobs may be waiting.
   */
  #writeOutcomes(): void {
    void this.#flush().then(() => {
      for (const q of this.#queues) if (q.mayHaveDue) void this.#fill(q);
    });
  }

  /** Writes queued outcomes and progress in one batch, then emits their events. */
  async #flush(): Promise<void> {
    while (this.#writes.size >= MAX_WRITES_IN_FLIGHT) await Promise.race(this.#writes);
    if (this.#outcomes.length === 0 && this.#progress.size === 0) return;
    const outcomes = this.#outcomes;
    this.#outcomes = [];
    const progress = this.#progress;
    this.#progress = new Map();
    const earlierProgress = this.#progressWrite;
    const epoch = this.#holdEpoch;
    const write = (async () => {
      // A job's completion must not overtake its last progress, still being written by an earlier batch.
      if (earlierProgress) await earlierProgress;
      for (const [id, value] of progress) await this.#store.progress(id, value);
      const settlements: Settlement[] = [];
      for (const o of outcomes) if (!o.written) settlements.push(o.settlement);
      if (settlements.length === 0) return;
      const span = this.#tracing ? this.#settleSpan(outcomes, settlements.length) : undefined;
      try {
        await this.#store.settle(this.owner, settlements, Date.now());
      } catch (error) {
        if (span) Telemetry.recordError(span, describeThrown(error));
        throw error;
      } finally {
        span?.end();
      }
    })();
    const tracked = write.then(
      () => undefined,
      () => undefined,
    );
    this.#writes.add(tracked);
    if (progress.size > 0) this.#progressWrite = tracked;
    this.#inFlight += outcomes.length;
    try {
      await write;
    } catch (error) {
      this.#writes.delete(tracked);
      if (this.#progressWrite === tracked) this.#progressWrite = undefined;
      // A failure that may pass (the store unreachable): start nothing more until a write succeeds.
      if (!this.#isPermanent(error)) this.#holdBack(error, outcomes.length);
      await this.#writeOneByOne(outcomes, error);
      return;
    } finally {
      this.#writes.delete(tracked);
      if (this.#progressWrite === tracked) this.#progressWrite = undefined;
      this.#inFlight -= outcomes.length;
    }
    this.#resume(epoch);
    for (const o of outcomes) this.#report(o);
    // Jobs held back while outcomes waited (maxUnwrittenOutcomes) may start now.
    for (const q of this.#queues) if (q.buffer.length > 0) this.#drain(q);
  }

  /**
   * After a failed batch write: write each outcome alone, so one bad row cannot block the others.
   * - An outcome the store refuses for good (`isPermanentError`: a value out of range, a constraint) is replaced by a
   *   failed attempt carrying the store's reason (HW_JOB_OUTCOME_UNWRITABLE), so the job never stays running.
   * - If every write fails for a reason that may pass (the store is unreachable), all are kept and retried every
   *   500 ms, and no new job starts until a write succeeds (the leases stay ours until they expire).
   * - An outcome that fails alone, for a reason that may pass, while others are written, is tried a few more times,
   *   then dropped with an error: its lease expires and the job is recovered and run again (at-least-once).
   */
  async #writeOneByOne(outcomes: Outcome[], batchError: unknown): Promise<void> {
    // These writes begin now, after any hold-back their batch's failure started.
    const epoch = this.#holdEpoch;
    const failed: Outcome[] = [];
    let lastError: unknown = batchError;
    let wrote = false;
    let outage = false;
    for (const o of outcomes) {
      if (o.written) {
        this.#report(o);
        continue;
      }
      if (outage) {
        failed.push(o);
        continue;
      }
      try {
        await this.#store.settle(this.owner, [o.settlement], Date.now());
        wrote = true;
        this.#report(o);
      } catch (error) {
        lastError = error;
        if (!this.#isPermanent(error)) {
          // Nothing written yet and this failure may pass: the store is unreachable, trying the rest one by one
          // would only cost a failed connection attempt each.
          if (!wrote) outage = true;
          failed.push(o);
          continue;
        }
        const replaced = await this.#replaceUnwritable(o, error);
        if (replaced === 'unreachable') failed.push(o);
        else if (replaced === 'written') wrote = true;
      }
    }
    if (wrote) this.#resume(epoch);
    if (failed.length === 0) return;
    const keep: Outcome[] = [];
    for (const o of failed) {
      // During an outage every write fails: nothing says the outcome itself is bad, so it is kept for good.
      if (wrote) o.failures = (o.failures ?? 0) + 1;
      if ((o.failures ?? 0) < MAX_OUTCOME_WRITE_FAILURES) keep.push(o);
      else {
        this.#jobLog.error(
          { error: describeThrown(lastError).message, jobId: o.job.id, job: o.job.name },
          `Could not write the outcome of job ${o.job.name}#${o.job.id} after ${MAX_OUTCOME_WRITE_FAILURES} tries; it will run again once its lease expires`,
        );
      }
    }
    if (keep.length === 0) return;
    const reason = describeThrown(lastError).message;
    if (!wrote) this.#holdBack(lastError, keep.length);
    this.#log.error(
      { error: reason, count: keep.length },
      `Writing ${keep.length} job outcome(s) failed; retrying in 500 ms`,
    );
    this.#outcomes.unshift(...keep);
    setTimeout(() => this.#scheduleFlush(), 500).unref();
  }

  /** Whether a failed write can never succeed as it is; TypeErrors and RangeErrors are bugs of the value written. */
  #isPermanent(error: unknown): boolean {
    if (error instanceof TypeError || error instanceof RangeError) return true;
    try {
      return this.#store.isPermanentError?.(error) === true;
    } catch {
      return false;
    }
  }

  /**
   * Writes a failed attempt in place of an outcome the store refused for good. 'written' when that worked,
   * 'unreachable' when the store could not be reached (keep the original for later), 'dropped' when the store
   * refused the replacement too (the job's lease then expires and it is recovered).
   */
  async #replaceUnwritable(o: Outcome, refusal: unknown): Promise<'written' | 'unreachable' | 'dropped'> {
    const reason = describeThrown(refusal).message;
    const error = new HostworkError(
      ErrorCodes.JOB_OUTCOME_UNWRITABLE,
      `The store refused this attempt's outcome (${o.settlement.kind}) for good, so the attempt counts as failed: ${reason}`,
    );
    const replacement: Outcome = {
      settlement: this.#failure(o.job, error, 'error'),
      job: o.job,
      durationMs: o.durationMs,
    };
    try {
      await this.#store.settle(this.owner, [replacement.settlement], Date.now());
    } catch (again) {
      if (!this.#isPermanent(again)) return 'unreachable';
      this.#jobLog.error(
        { error: describeThrown(again).message, jobId: o.job.id, job: o.job.name },
        `The store refused both the outcome of job ${o.job.name}#${o.job.id} and a failed attempt in its place; it will run again once its lease expires`,
      );
      return 'dropped';
    }
    this.#jobLog.error(
      { error: reason, jobId: o.job.id, job: o.job.name, code: ErrorCodes.JOB_OUTCOME_UNWRITABLE },
      `The store refused the outcome (${o.settlement.kind}) of job ${o.job.name}#${o.job.id}: ${reason}; recorded as a failed attempt instead`,
    );
    this.#report(replacement);
    return 'written';
  }

  /** Emits the event of an outcome and logs it at a level that matches its gravity. */
  #report({ settlement, job, durationMs, result }: Outcome): void {
    const base = { id: job.id, name: job.name, queue: job.queue, attempt: job.attempt };
    const e = this.#events;
    switch (settlement.kind) {
      case 'completed':
        if (e.has('completed')) e.emit('completed', { ...base, durationMs, result });
        if (this.#debug)
          this.#jobLog.debug(
            { jobId: job.id, job: job.name, attempt: job.attempt, durationMs },
            `Job ${job.name}#${job.id} completed in ${durationMs} ms`,
          );
        return;
      case 'retry':
        this.#queueByName.get(job.queue)?.metrics.retries.add();
        if (e.has('failed'))
          e.emit('failed', { ...base, durationMs, error: settlement.error, retryAt: settlement.runAt });
        this.#jobLog.warn(
          {
            jobId: job.id,
            job: job.name,
            attempt: job.attempt,
            error: settlement.error.message,
            retryAt: new Date(settlement.runAt).toISOString(),
          },
          `Job ${job.name}#${job.id} failed attempt ${job.attempt}/${job.maxAttempts}: ${settlement.error.message}; retrying at ${new Date(settlement.runAt).toISOString()}`,
        );
        return;
      case 'dead':
        this.#queueByName.get(job.queue)?.metrics.deadLetters.add();
        if (e.has('dead')) e.emit('dead', { ...base, durationMs, error: settlement.error });
        this.#jobLog.error(
          {
            jobId: job.id,
            job: job.name,
            attempt: job.attempt,
            error: settlement.error.message,
            stack: settlement.error.stack,
          },
          `Job ${job.name}#${job.id} is dead after attempt ${job.attempt}/${job.maxAttempts}: ${settlement.error.message}`,
        );
        return;
      case 'cancelled':
        if (e.has('cancelled')) e.emit('cancelled', base);
        this.#jobLog.info({ jobId: job.id, job: job.name }, `Job ${job.name}#${job.id} cancelled`);
        return;
      case 'release':
        if (this.#stopping) return;
        if (e.has('snoozed')) e.emit('snoozed', { ...base, runAt: settlement.runAt });
        if (this.#debug)
          this.#jobLog.debug({ jobId: job.id, job: job.name }, `Job ${job.name}#${job.id} snoozed`);
        return;
    }
  }

  async #completeWithin(ctx: AttemptContext, tx: unknown): Promise<void> {
    if (!this.#store.completeWithin) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `The ${this.#store.kind} store cannot complete a job inside the handler's transaction; use the PostgreSQL store.`,
      );
    }
    const held = await this.#store.completeWithin(tx, this.owner, ctx.id, Date.now(), this.#removeCompleted);
    if (!held) {
      throw new HostworkError(
        ErrorCodes.STORE_FAILED,
        `Job ${ctx.name}#${ctx.id} is no longer leased by this worker (its lease expired); roll back the transaction.`,
      );
    }
  }

  #onProgress(ctx: AttemptContext, value: unknown): void {
    // Checked before anything else: a value the store cannot hold fails here, in the handler, naming the problem.
    const json = progressJson(value);
    if (!this.#running.has(ctx.id)) return;
    this.#progress.set(ctx.id, json);
    if (this.#events.has('progress')) {
      this.#events.emit('progress', {
        id: ctx.id,
        name: ctx.name,
        queue: ctx.queue,
        attempt: ctx.attempt,
        progress: value,
      });
    }
    this.#scheduleFlush();
  }

  async #heartbeat(): Promise<void> {
    const now = Date.now();
    this.#beatAt = now;
    try {
      this.#renewingSince = now;
      await this.#renewLeases();
      this.#renewedAt = Date.now();
      this.#renewFailedAt = undefined;
    } catch (error) {
      this.#renewFailedAt = Date.now();
      throw error;
    } finally {
      this.#renewingSince = undefined;
    }
  }

  async #renewLeases(): Promise<void> {
    const ids: JobId[] = [];
    // A job completed through the handler's own transaction is no longer ours to renew (nor lost when renewal fails).
    for (const [id, r] of this.#running) if (!r.ctx.completedWithin) ids.push(id);
    for (const q of this.#queues) for (const job of q.buffer) ids.push(job.id);
    // Outcomes not yet written (the database was unreachable) keep their leases, so recovery does not rerun them.
    for (const o of this.#outcomes) if (!o.written) ids.push(o.settlement.id);
    if (ids.length === 0) return;
    const { lost, cancelRequested } = await this.#store.renew(
      this.owner,
      ids,
      this.#options.leaseMs,
      Date.now(),
    );
    for (const id of lost) {
      this.#dropBuffered(id);
      const r = this.#running.get(id);
      if (!r) continue;
      this.#jobLog.warn(
        { jobId: id, job: r.ctx.name },
        `Lost the lease of job ${r.ctx.name}#${id} (another worker recovered it); aborting it here`,
      );
      r.ctx.abort('lease-lost', 'the lease was lost');
      this.#finish(r.queue, r.ctx, null);
    }
    for (const id of cancelRequested) this.#cancelLocally(id);
  }

  /** An operator cancelled a job this process holds: abort it (with the grace timer) or drop it from the buffer. */
  #cancelLocally(id: JobId): void {
    const buffered = this.#dropBuffered(id);
    if (buffered) {
      this.#outcomes.push({
        settlement: { id, kind: 'cancelled' },
        job: buffered,
        durationMs: 0,
      });
      this.#scheduleFlush();
      return;
    }
    const r = this.#running.get(id);
    if (r && r.ctx.abortCause === undefined)
      this.#abort(r.queue, r.ctx, 'cancelled', 'cancelled by an operator');
  }

  /** Removes a prefetched job from its queue's buffer; returns it if it was there. */
  #dropBuffered(id: JobId): ClaimedJob | undefined {
    for (const q of this.#queues) {
      const i = q.buffer.findIndex((job) => job.id === id);
      if (i >= 0) return q.buffer.splice(i, 1)[0];
    }
    return undefined;
  }

  /**
   * Every worker, leader or not, announces the queues it consumes (one statement), for clients' warnings of
   * queues nobody consumes. A failure only costs those warnings: logged once, it never stops maintenance.
   */
  async #announce(ttlMs: number, now: number): Promise<void> {
    // Renewed at half its validity rather than every pass: each write also wakes other processes on SQLite.
    if (now - this.#announcedAt < ttlMs / 2) return;
    try {
      await this.#store.announceWorker?.(this.owner, this.#queueNames, ttlMs, now);
      this.#announcedAt = now;
      this.#announceFailed = false;
    } catch (error) {
      if (!this.#announceFailed) {
        this.#log.warn(
          { err: error },
          `Could not announce this worker's queues in the store (${(error as Error).message}); clients may warn that its queues have no worker`,
        );
      }
      this.#announceFailed = true;
    }
  }

  /**
   * Periodic maintenance: lease recovery, schedule ticks, pruning. It runs on the elected leader only (a lease on
   * leadership renewed every pass), so many workers do not all scan for the same expired leases.
   */
  async #maintain(): Promise<void> {
    const now = Date.now();
    const ttl = Math.max(5_000, this.#options.maintenanceIntervalMs * 3);
    await this.#announce(ttl, now);
    const leading = await this.#store.acquireLeadership(this.owner, ttl, now);
    if (leading !== this.#leading) {
      this.#leading = leading;
      this.#log.info(
        { owner: this.owner },
        leading ? 'This worker now leads maintenance' : 'This worker no longer leads maintenance',
      );
    }
    if (!leading || this.#stopping) return;
    const recovered = await this.#store.recoverExpired(now);
    if (recovered > 0) {
      this.#telemetry?.leaseRecoveries.add(recovered);
      this.#log.warn({ recovered }, `Recovered ${recovered} job(s) whose worker stopped renewing its lease`);
      this.#fillAll();
    }
    if (this.#stopping) return;
    await this.#schedules.tick(now);
    if (now - this.#lastPrune >= PRUNE_EVERY_MS && !this.#stopping) {
      this.#lastPrune = now;
      const policy = {
        completedBefore: now - this.#options.completedRetentionMs,
        maxCompleted: this.#options.maxCompletedJobs,
        batchSize: 1_000,
      };
      let pruned = 0;
      for (
        let n = await this.#store.prune(policy);
        n > 0 && !this.#stopping;
        n = await this.#store.prune(policy)
      ) {
        pruned += n;
        if (n < policy.batchSize) break;
      }
      if (pruned > 0) this.#log.debug({ pruned }, `Pruned ${pruned} completed job(s)`);
    }
  }
}

/** What {@link JobWorker.health} reports: times are ms since the epoch (0: never). */
export interface WorkerHealth {
  readonly started: boolean;
  readonly stopping: boolean;
  /** Jobs running in this process. */
  readonly running: number;
  readonly heartbeatMs: number;
  readonly leaseMs: number;
  /** When the heartbeat (lease renewal) timer last fired: it fires every `heartbeatMs` while the loop is alive. */
  readonly heartbeatAt: number;
  /** Since when a renewal has been waiting for the store, or undefined. */
  readonly renewingSince: number | undefined;
  /** When leases were last renewed (or found nothing to renew). */
  readonly renewedAt: number;
  /** When the last renewal failed, while renewals keep failing; undefined once one succeeds. */
  readonly renewFailedAt: number | undefined;
}
