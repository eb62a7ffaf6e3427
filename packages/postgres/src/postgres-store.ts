import { randomUUID } from 'node:crypto';
import {
  type AppendOutboxOptions,
  type CancelOutcome,
  type ClaimedOutboxMessage,
  type ClaimRequest,
  type ClaimResult,
  checkJobFilter,
  ErrorCodes,
  HostworkError,
  type InboxStore,
  type InsertOptions,
  type InsertResult,
  type JobCount,
  type JobFilter,
  type JobId,
  type JobInfo,
  type JobStore,
  type LoggerFactory,
  type MigrationStatus,
  type NewJob,
  type OutboxMessage,
  type OutboxStore,
  type QueueBacklog,
  type RecordInboxOptions,
  type RenewResult,
  type RetentionPolicy,
  type ScheduleRecord,
  type ScheduleTick,
  type Settlement,
  StoreSignal,
  type ThroughputBucket,
  type WorkerRecord,
} from 'hostwork';
import pg from 'pg';
import { clockSkewMs, clockSkewWarning } from './clock-skew.ts';
import { migrationSql, SCHEMA_VERSION } from './migrations.ts';
import { type NotificationState, NotificationWake } from './notification-wake.ts';
import { PAYLOAD_INDEX, payloadContainments, payloadIndexSql } from './payload-search.ts';
import {
  type PostgresStoreOptions,
  type ResolvedPostgresStoreOptions,
  resolvePostgresStoreOptions,
} from './postgres-store-options.ts';
import {
  type ClaimedRow,
  type CountRow,
  type JobRow,
  type ScheduleRow,
  STORE_TYPES,
  toArrayLiteral,
  toClaimedJob,
  toJobCount,
  toJobInfo,
  toKey,
  toScheduleRecord,
} from './rows.ts';
import { channelName, outboxLockKey, quoteSchema } from './schema-names.ts';
import { buildStatements, type Statements } from './statements.ts';
import { StorePool } from './store-pool.ts';
import { type StatementRunner, transactionRunner } from './transaction-runner.ts';
import { WarningRoute } from './warnings.ts';

/** SQLSTATEs the store handles. */
const UNIQUE_VIOLATION = '23505';
const UNDEFINED_TABLE = '42P01';
const INVALID_SCHEMA_NAME = '3F000';

/** How often insert looks again for the holder of a unique key that changed hands while it looked (see insert). */
const DUPLICATE_RESOLUTION_TRIES = 5;

/**
 * The PostgreSQL job store, on node-postgres. Any number of processes and machines share one database:
 * - claims are exclusive without waiting (`FOR UPDATE SKIP LOCKED`), and every hot path is one round trip: a batch
 *   insert, a claim (with the queue's next run time), a settle batch of any mix of outcomes, a lease renewal;
 * - statements are prepared once per connection (named), with the schema substituted once at construction;
 * - other processes are woken by LISTEN/NOTIFY on a channel of the schema, sent in the writing statement itself so
 *   a wake-up leaves only when the write commits;
 * - `insert(jobs, { tx })` and `completeWithin(tx, ...)` write through the application's transaction (a pg client
 *   or a postgres.js transaction), so jobs are enqueued and completed atomically with the application's own data.
 *
 * Create it with {@link postgresStore}. The schema is created or upgraded by `migrate()` (the engine calls it; any
 * other method calls it on first use), safely from several processes at once.
 */
export class PostgresStore implements JobStore, OutboxStore, InboxStore {
  readonly kind = 'postgres';
  /**
   * Each claim and each write of outcomes is a statement with its own round trip, plan and commit: drains of tiny
   * jobs measured 11–36 % faster with 2,000 than with 500 (and 500 was 30–40 % faster than 100). The worker keeps at
   * most about 250 ms of work in hand, so longer jobs are claimed in smaller batches.
   */
  readonly preferredBatchSize = 2_000;
  /** The schema holding the store's tables. */
  readonly schema: string;
  readonly #options: ResolvedPostgresStoreOptions;
  readonly #pool: StorePool;
  readonly #sql: Statements;
  readonly #wake: NotificationWake;
  readonly #settled: StoreSignal;
  readonly #channel: string;
  readonly #outboxLock: bigint;
  /** The payload of this instance's notifications, which its own LISTEN connection skips. */
  readonly #self = randomUUID();
  readonly #where: string;
  readonly #warnings: WarningRoute;
  #migrated: Promise<void> | undefined;
  #ready = false;
  #clockSkewMs: number | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: PostgresStoreOptions = {}) {
    this.#options = resolvePostgresStoreOptions(options);
    this.schema = this.#options.schema;
    this.#where = `PostgresStore (schema "${this.schema}")`;
    this.#warnings = new WarningRoute(this.#options.onWarning, this.schema);
    this.#sql = buildStatements(this.schema);
    this.#channel = channelName(this.schema);
    this.#outboxLock = outboxLockKey(this.schema);
    this.#pool = new StorePool(
      this.#options.source,
      this.#where,
      this.#warnings.warn,
      this.#options.slowQueryWarningMs,
    );
    // Other processes' completions are found by polling the waited jobs, only while a `waitFor` waits. Completions
    // send no NOTIFY: with one in every settle batch, four connections writing completions at once managed about
    // 30 % fewer per second (each commit that notifies takes one server-wide lock), a cost every worker would pay on
    // the hot path whether anyone waits or not.
    this.#settled = new StoreSignal({
      intervalMs: this.#options.settledPollIntervalMs,
      onListenerError: (error) =>
        this.#warnings.warn(`${this.#where}: a listener of settled jobs threw.`, error, {
          warning: 'listener',
        }),
    });
    const poolOptions = this.#pool.pool.options;
    this.#wake = new NotificationWake({
      channel: this.#channel,
      ownPayload: this.#self,
      createClient: () =>
        new pg.Client({ ...poolOptions, application_name: 'hostwork-listener', keepAlive: true }),
      pollIntervalMs: this.#options.pollIntervalMs,
      where: this.#where,
      warn: this.#warnings.warn,
    });
  }

  /**
   * The node-postgres pool the store queries through (its own, or the one given), e.g. to open a transaction for
   * transactional enqueue: `const client = await store.pool.connect()`.
   */
  get pool(): pg.Pool {
    return this.#pool.pool;
  }

  /**
   * This process's clock minus the database server's, in ms (positive: this process is ahead), measured once when
   * the store becomes ready; undefined before. The store warns at start-up when it exceeds a second.
   */
  get clockSkewMs(): number | undefined {
    return this.#clockSkewMs;
  }

  /**
   * Sends the store's warnings to the host's logger, category `Hostwork.Postgres` (`addJobs` calls it), unless the
   * application gave `onWarning`.
   */
  attachLogger(loggers: LoggerFactory): void {
    this.#warnings.attach(loggers.create('Hostwork.Postgres'));
  }

  /** The state of the LISTEN connection behind `onWake` (for diagnostics and tests). */
  get notificationState(): NotificationState {
    return this.#wake.state;
  }

  /**
   * Creates or upgrades the schema (or, with `migrate: false`, checks that it is current). A schema already current
   * is only read; otherwise the migration script runs in one transaction under an advisory lock, so processes
   * starting together migrate once. Memoised once it succeeds.
   */
  migrate(): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(this.#closedError());
    this.#migrated ??= this.#migrate().then(
      () => {
        this.#ready = true;
      },
      (error: unknown) => {
        this.#migrated = undefined;
        throw error;
      },
    );
    return this.#migrated;
  }

  /**
   * The schema's version and the one `migrate()` brings it to, read without changing anything (a schema that does
   * not exist is at version 0). For deploy pipelines (`hostwork migrate status`).
   */
  async migrationStatus(): Promise<MigrationStatus> {
    this.#assertOpen();
    return { current: await this.#schemaVersion(), latest: SCHEMA_VERSION };
  }

  async insert(jobs: readonly NewJob[], options?: InsertOptions): Promise<InsertResult[]> {
    const tx = options?.tx;
    const run = tx === undefined ? this.#runner : this.#txRunner(tx, 'insert');
    await this.#ensureReady();
    if (jobs.length === 0) return [];
    const results = await this.#insertBatch(run, jobs, tx === undefined ? this.#self : '');
    // Inside the application's transaction the jobs do not exist before its commit: the NOTIFY (empty payload, so
    // this instance's LISTEN connection does not skip it) wakes everyone, this process included, at that moment.
    // Jobs inserted already claimed (local dispatch) need no worker woken for them.
    if (tx === undefined && results.some((r, i) => r.outcome === 'inserted' && !jobs[i]!.claimedBy))
      this.#wake.notifySoon();
    return results;
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    await this.#ensureReady();
    const { queue, limit, owner, leaseMs, now } = request;
    const { rows } = await this.#pool.queryArrays<ClaimedRow>(this.#sql.claimJobs, [
      queue,
      now,
      limit,
      owner,
      now + leaseMs,
    ]);
    // With nothing claimed, the single row carries only next_run_at.
    const claimed = rows.length === 1 && rows[0]![0] === null ? [] : rows;
    const nextRunAt = claimed.length < limit ? (rows[0]?.[10] ?? null) : null;
    return { jobs: claimed.map(toClaimedJob), nextRunAt };
  }

  /**
   * The server refused the data for good: SQLSTATE class 22 (data exception: a value out of range, invalid text, a
   * NUL in JSON), 23 (integrity constraint), 42 (syntax or access rule) or 54 (program limit). Connection failures
   * (class 08, no SQLSTATE at all), shutdowns (57), lock and serialization failures (40, 55) may pass.
   */
  isPermanentError(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' && /^(?:22|23|42|54)[0-9A-Z]{3}$/.test(code);
  }

  async settle(owner: string, settlements: readonly Settlement[], now: number): Promise<void> {
    if (settlements.length === 0) return;
    await this.#ensureReady();
    // The common batches: completions only, all kept or all removed.
    const first = settlements[0]!;
    if (
      first.kind === 'completed' &&
      settlements.every((s) => s.kind === 'completed' && !s.remove === !first.remove)
    ) {
      const ids = toArrayLiteral(settlements.map((s) => toKey(s.id)));
      const results = first.remove ? undefined : resultsOf(settlements);
      if (first.remove) await this.#pool.query(this.#sql.removeCompletedJobs, [owner, ids]);
      else if (results === undefined) await this.#pool.query(this.#sql.completeJobs, [owner, ids, now]);
      else await this.#pool.query(this.#sql.completeJobsWithResults, [owner, ids, now, results]);
      this.#settled.notifySoon();
      return;
    }
    const ids: string[] = [];
    const kinds: string[] = [];
    const runAts: (number | null)[] = [];
    const errors: (string | null)[] = [];
    const results: (string | null)[] = [];
    const removed: string[] = [];
    let handedBack = false;
    for (const s of settlements) {
      if (s.kind === 'completed' && s.remove) {
        removed.push(toKey(s.id));
        continue;
      }
      ids.push(toKey(s.id));
      kinds.push(s.kind);
      runAts.push(s.kind === 'retry' || s.kind === 'release' ? s.runAt : null);
      errors.push(s.kind === 'retry' || s.kind === 'dead' ? JSON.stringify(s.error) : null);
      results.push(s.kind === 'completed' ? (s.result ?? null) : null);
      if (s.kind === 'retry' || s.kind === 'release') handedBack = true;
    }
    await this.#pool.query(this.#sql.settleJobs, [
      owner,
      toArrayLiteral(ids),
      toArrayLiteral(kinds),
      toArrayLiteral(runAts),
      toArrayLiteral(errors),
      now,
      this.#channel,
      this.#self,
      handedBack,
      toArrayLiteral(removed),
      toArrayLiteral(results),
    ]);
    if (handedBack) this.#wake.notifySoon();
    this.#settled.notifySoon();
  }

  async renew(owner: string, ids: readonly JobId[], leaseMs: number, now: number): Promise<RenewResult> {
    if (ids.length === 0) return { lost: [], cancelRequested: [] };
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ id: string; cancel_requested: boolean }>(
      this.#sql.renewLeases,
      [toArrayLiteral(ids.map(toKey)), owner, now + leaseMs],
    );
    // Every id the owner still holds has a row (extended, or skipped while another transaction locks it).
    const held = new Set<string>();
    const cancelRequested: JobId[] = [];
    for (const row of rows) {
      held.add(row.id);
      if (row.cancel_requested) cancelRequested.push(row.id);
    }
    const lost = held.size === ids.length ? [] : ids.filter((id) => !held.has(id));
    return { lost, cancelRequested };
  }

  async recoverExpired(now: number): Promise<number> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ recovered: number }>(this.#sql.recoverExpiredLeases, [
      now,
      this.#channel,
      this.#self,
    ]);
    const recovered = rows[0]?.recovered ?? 0;
    if (recovered > 0) {
      this.#wake.notifySoon();
      this.#settled.notifySoon(); // some may be dead or cancelled now
    }
    return recovered;
  }

  async progress(id: JobId, progress: string): Promise<void> {
    await this.#ensureReady();
    await this.#pool.query(this.#sql.updateProgress, [toKey(id), progress]);
  }

  async cancel(id: JobId, now: number): Promise<CancelOutcome> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ state: string }>(this.#sql.cancelJob, [toKey(id), now]);
    const state = rows[0]?.state;
    if (state === undefined) return 'not-found';
    if (state === 'pending') {
      this.#settled.notifySoon();
      return 'cancelled';
    }
    if (state === 'running') return 'cancelling';
    return 'finished';
  }

  /** As the interface says; also false when a live job now holds the same unique key (nothing is changed). */
  async retry(id: JobId, now: number): Promise<boolean> {
    await this.#ensureReady();
    try {
      const { rows } = await this.#pool.query<{ retried: number }>(this.#sql.retryFinishedJob, [
        toKey(id),
        now,
        this.#channel,
        this.#self,
      ]);
      const retried = rows[0]?.retried === 1;
      if (retried) this.#wake.notifySoon();
      return retried;
    } catch (error) {
      // A job with the same unique key was inserted between the statement's check and its write: the key wins.
      if (error instanceof pg.DatabaseError && error.code === UNIQUE_VIOLATION) return false;
      throw error;
    }
  }

  async get(id: JobId): Promise<JobInfo | undefined> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<JobRow>(this.#sql.selectJob, [toKey(id)]);
    return rows[0] === undefined ? undefined : toJobInfo(rows[0]);
  }

  /** The jobs among `ids` that exist, in one statement, in no particular order. */
  async getMany(ids: readonly JobId[]): Promise<JobInfo[]> {
    if (ids.length === 0) return [];
    await this.#ensureReady();
    const { rows } = await this.#pool.query<JobRow>(this.#sql.selectJobs, [toArrayLiteral(ids.map(toKey))]);
    return rows.map(toJobInfo);
  }

  async list(
    filter: JobFilter & { readonly limit: number; readonly before?: JobId; readonly after?: JobId },
  ): Promise<JobInfo[]> {
    const extended = extendedFilter(filter);
    // A payload value jsonb cannot hold matches nothing (see payloadContainments).
    if (extended === undefined) return [];
    await this.#ensureReady();
    // Planned with its values when the plan depends on them (see LIST_JOBS): a payload filter, a window's lower bound.
    const planned = filter.payload !== undefined || filter.after !== undefined;
    const { rows } = await this.#pool.query<JobRow>(
      planned ? this.#sql.listJobsPlanned : this.#sql.listJobs,
      [
        filter.before === undefined ? '9223372036854775807' : toKey(filter.before),
        filter.queue ?? null,
        filter.state ?? null,
        filter.name ?? null,
        asCount(filter.limit),
        ...extended,
        filter.after === undefined ? null : toKey(filter.after),
        filter.ids ?? null,
      ],
    );
    return rows.map(toJobInfo);
  }

  /**
   * Whether the payload index exists and is valid (see {@link PostgresStore.createPayloadIndex}): a payload filter
   * then reads the index instead of every payload it walks past.
   */
  async payloadFilterIndexed(): Promise<boolean> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ valid: boolean }>(this.#sql.payloadIndexValid, [
      this.schema,
      PAYLOAD_INDEX,
    ]);
    return rows[0]?.valid === true;
  }

  /**
   * Creates the payload index if it is missing: a GIN index (`jsonb_path_ops`) on the payloads, which serves the
   * payload filter of `list` and `purge` (the dashboard's search by payload field) on any path. Built CONCURRENTLY:
   * enqueues and claims go on meanwhile. Opt-in, because every enqueue then also writes the index (measured in
   * docs/dashboard.md). An invalid index left by an interrupted build is dropped and built again.
   */
  async createPayloadIndex(): Promise<void> {
    await this.#ensureReady();
    // On the pool itself, not through the slow-query watch: a build takes seconds by nature (about 10 s per million
    // jobs), which is no sign of an overloaded database.
    const client = await this.#pool.pool.connect();
    try {
      const { rows } = await client.query<{ valid: boolean }>(this.#sql.payloadIndexValid.text, [
        this.schema,
        PAYLOAD_INDEX,
      ]);
      if (rows[0]?.valid === false) {
        await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteSchema(this.schema)}.${PAYLOAD_INDEX}`);
      }
      await client.query(payloadIndexSql(quoteSchema(this.schema)));
    } finally {
      client.release();
    }
  }

  /** Drops the payload index (see {@link PostgresStore.createPayloadIndex}) if it exists, CONCURRENTLY. */
  async dropPayloadIndex(): Promise<void> {
    await this.#ensureReady();
    await this.#pool.withClient('dropPayloadIndex', (client) =>
      client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteSchema(this.schema)}.${PAYLOAD_INDEX}`),
    );
  }

  async counts(): Promise<JobCount[]> {
    await this.#ensureReady();
    const rows = await this.#pool.queryScript<CountRow>(this.#sql.countJobs);
    return rows.map(toJobCount);
  }

  async purge(filter: JobFilter & { readonly limit?: number }): Promise<number> {
    if (filter.limit !== undefined && !(Number.isSafeInteger(filter.limit) && filter.limit >= 1)) {
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `purge: limit must be a positive integer (or left out for no limit), got ${String(filter.limit)}.`,
      );
    }
    const extended = extendedFilter(filter);
    if (extended === undefined) return 0;
    await this.#ensureReady();
    const result = await this.#pool.query(
      filter.payload === undefined ? this.#sql.purgeJobs : this.#sql.purgeJobsByPayload,
      [
        filter.queue ?? null,
        filter.state ?? null,
        filter.name ?? null,
        filter.limit ?? null,
        ...extended,
        filter.ids ?? null,
      ],
    );
    const purged = result.rowCount ?? 0;
    if (purged > 0) this.#settled.notifySoon(); // a waiter learns its job is gone
    return purged;
  }

  async prune(policy: RetentionPolicy): Promise<number> {
    await this.#ensureReady();
    const result = await this.#pool.query(this.#sql.pruneCompletedJobs, [
      policy.completedBefore,
      asCount(policy.maxCompleted),
      asCount(policy.batchSize),
    ]);
    return result.rowCount ?? 0;
  }

  async upsertSchedules(schedules: readonly Omit<ScheduleRecord, 'paused' | 'lastRunAt'>[]): Promise<void> {
    if (schedules.length === 0) return;
    await this.#ensureReady();
    // One row per name (the last wins): an upsert cannot change the same row twice in one statement.
    const byName = new Map(schedules.map((s) => [s.name, s]));
    const unique = [...byName.values()];
    await this.#pool.query(this.#sql.upsertSchedules, [
      toArrayLiteral(unique.map((s) => s.name)),
      toArrayLiteral(unique.map((s) => s.cron)),
      toArrayLiteral(unique.map((s) => s.timezone)),
      toArrayLiteral(unique.map((s) => s.nextRunAt)),
    ]);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<ScheduleRow>(this.#sql.listSchedules, []);
    return rows.map(toScheduleRecord);
  }

  async setSchedulePaused(name: string, paused: boolean, nextRunAt?: number | null): Promise<boolean> {
    await this.#ensureReady();
    const result = await this.#pool.query(this.#sql.setSchedulePaused, [
      name,
      paused,
      nextRunAt !== undefined,
      nextRunAt ?? null,
    ]);
    return result.rowCount === 1;
  }

  async tickSchedule(tick: ScheduleTick, now: number): Promise<boolean> {
    await this.#ensureReady();
    const { name, expectedNextRunAt, newNextRunAt, job } = tick;
    if (job === null) {
      const result = await this.#pool.query(this.#sql.advanceSchedule, [
        name,
        newNextRunAt,
        now,
        expectedNextRunAt,
      ]);
      return result.rowCount === 1;
    }
    const { rows } = await this.#pool.query<{ won: number; woke: number }>(this.#sql.tickSchedule, [
      name,
      newNextRunAt,
      now,
      expectedNextRunAt,
      job.name,
      job.queue,
      job.payload,
      job.priority,
      job.runAt,
      job.maxAttempts,
      job.timeoutMs,
      job.uniqueKey ?? null,
      job.backoff ?? null,
      this.#channel,
      this.#self,
    ]);
    if ((rows[0]?.woke ?? 0) > 0) this.#wake.notifySoon();
    return rows[0]?.won === 1;
  }

  async acquireLeadership(owner: string, ttlMs: number, now: number): Promise<boolean> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query(this.#sql.acquireLeadership, [owner, now + ttlMs, now]);
    return rows.length === 1;
  }

  async releaseLeadership(owner: string): Promise<void> {
    await this.#ensureReady();
    await this.#pool.query(this.#sql.releaseLeadership, [owner]);
  }

  async announceWorker(owner: string, queues: readonly string[], ttlMs: number, now: number): Promise<void> {
    await this.#ensureReady();
    await this.#pool.query(this.#sql.announceWorker, [owner, queues, now + ttlMs, now]);
  }

  async withdrawWorker(owner: string): Promise<void> {
    await this.#ensureReady();
    await this.#pool.query(this.#sql.withdrawWorker, [owner]);
  }

  async dueBacklog(now: number): Promise<QueueBacklog[]> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ queue: string; due: number; oldest: string }>(
      this.#sql.dueBacklog,
      [now],
    );
    return rows.map((r) => ({ queue: r.queue, due: r.due, oldestDueAt: Number(r.oldest) }));
  }

  async liveQueues(now: number): Promise<string[]> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ queue: string }>(this.#sql.liveQueues, [now]);
    return rows.map((r) => r.queue);
  }

  async listWorkers(now: number): Promise<WorkerRecord[]> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ owner: string; queues: string; expires_at: string }>(
      this.#sql.liveWorkers,
      [now],
    );
    return rows.map((r) => ({
      owner: r.owner,
      queues: JSON.parse(r.queues) as string[],
      expiresAt: Number(r.expires_at),
    }));
  }

  async runNow(id: JobId, now: number): Promise<boolean> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ moved: number; pending: boolean }>(this.#sql.runNow, [
      toKey(id),
      now,
      this.#channel,
      this.#self,
    ]);
    if ((rows[0]?.moved ?? 0) > 0) this.#wake.notifySoon();
    return rows[0]?.pending === true;
  }

  async throughput(since: number, bucketMs: number): Promise<ThroughputBucket[]> {
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 1) {
      throw new HostworkError(ErrorCodes.INVALID_OPTION, 'throughput: bucketMs must be a positive integer.');
    }
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ bucket: string; completed: string; dead: string }>(
      this.#sql.throughput,
      [since, bucketMs],
    );
    return rows.map((r) => ({ at: Number(r.bucket), completed: Number(r.completed), dead: Number(r.dead) }));
  }

  /**
   * Completes a running job through the application's transaction `tx` (as for `insert`): the job is completed if
   * and only if that transaction commits. False if `owner` no longer holds the job's lease; the caller should then
   * roll back.
   */
  async completeWithin(tx: unknown, owner: string, id: JobId, now: number, remove = false): Promise<boolean> {
    const run = this.#txRunner(tx, 'completeWithin');
    await this.#ensureReady();
    const { rows } = remove
      ? await run(this.#sql.removeWithin, [toKey(id), owner])
      : await run(this.#sql.completeWithin, [toKey(id), owner, now]);
    return rows.length === 1;
  }

  /**
   * Appends messages to the outbox in one statement. With `tx` (as for `insert`), they exist if and only if that
   * transaction commits, and the NOTIFY in the same statement wakes the relays of every process at that moment.
   */
  async appendOutbox(messages: readonly OutboxMessage[], options?: AppendOutboxOptions): Promise<void> {
    const tx = options?.tx;
    const run = tx === undefined ? this.#runner : this.#txRunner(tx, 'appendOutbox');
    await this.#ensureReady();
    if (messages.length === 0) return;
    await run(this.#sql.appendOutbox, [
      toArrayLiteral(messages.map((m) => m.id)),
      toArrayLiteral(messages.map((m) => m.transport)),
      toArrayLiteral(messages.map((m) => m.destination)),
      toArrayLiteral(messages.map((m) => m.key)),
      toArrayLiteral(messages.map((m) => m.headers)),
      toArrayLiteral(messages.map((m) => Buffer.from(m.body).toString('base64'))),
      toArrayLiteral(messages.map((m) => m.delayMs)),
      this.#channel,
      toArrayLiteral(messages.map((m) => m.createdAt)),
      tx === undefined ? this.#self : '',
    ]);
    if (tx === undefined) this.#wake.notifySoon();
  }

  /**
   * Claims outbox rows under the schema's outbox advisory lock (one short transaction), so that of two relays
   * claiming at once the second sees the first's claims and keeps each key's order (see CLAIM_OUTBOX).
   */
  async claimOutbox(
    limit: number,
    owner: string,
    leaseMs: number,
    now: number,
  ): Promise<ClaimedOutboxMessage[]> {
    await this.#ensureReady();
    const rows = await this.#pool.withClient('claimOutbox', async (client) => {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [String(this.#outboxLock)]);
        const statement = this.#sql.claimOutbox;
        const result = await client.query({
          name: statement.name,
          text: statement.text,
          values: [now, limit, owner, now + leaseMs],
          types: STORE_TYPES,
        });
        await client.query('COMMIT');
        return result.rows as Record<string, unknown>[];
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
    return rows
      .map(
        (row): ClaimedOutboxMessage => ({
          seq: String(row.seq),
          id: String(row.id),
          transport: String(row.transport),
          destination: String(row.destination),
          key: row.key === null ? null : String(row.key),
          headers: String(row.headers),
          body: new Uint8Array(Buffer.from(String(row.body), 'base64')),
          delayMs: Number(row.delay_ms),
          createdAt: Number(row.created_at),
          attempts: Number(row.attempts),
        }),
      )
      .sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
  }

  async markOutboxSent(seqs: readonly string[], now: number): Promise<void> {
    if (seqs.length === 0) return;
    await this.#ensureReady();
    await this.#pool.query(this.#sql.markOutboxSent, [toArrayLiteral(seqs), now]);
  }

  async retryOutbox(owner: string, seqs: readonly string[], nextAt: number, error: string): Promise<void> {
    if (seqs.length === 0) return;
    await this.#ensureReady();
    await this.#pool.query(this.#sql.retryOutbox, [toArrayLiteral(seqs), owner, nextAt, error]);
  }

  async releaseOutbox(owner: string, seqs: readonly string[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.#ensureReady();
    await this.#pool.query(this.#sql.releaseOutbox, [toArrayLiteral(seqs), owner]);
    this.#wake.notifySoon();
  }

  async pruneOutbox(sentBefore: number, limit: number): Promise<number> {
    await this.#ensureReady();
    const { rowCount } = await this.#pool.query(this.#sql.pruneOutbox, [sentBefore, asCount(limit)]);
    return rowCount ?? 0;
  }

  async countOutbox(): Promise<{ unsent: number; sent: number }> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query<{ unsent: number; sent: number }>(this.#sql.countOutbox, []);
    return { unsent: Number(rows[0]?.unsent ?? 0), sent: Number(rows[0]?.sent ?? 0) };
  }

  async inboxHas(consumer: string, messageId: string, now: number): Promise<boolean> {
    await this.#ensureReady();
    const { rows } = await this.#pool.query(this.#sql.inboxHas, [consumer, messageId, now]);
    return rows.length > 0;
  }

  /** Records a processed message; with `tx` (as for `insert`), it commits with the handler's effects. */
  async recordInbox(
    consumer: string,
    messageId: string,
    now: number,
    expiresAt: number,
    options?: RecordInboxOptions,
  ): Promise<boolean> {
    const tx = options?.tx;
    const run = tx === undefined ? this.#runner : this.#txRunner(tx, 'recordInbox');
    await this.#ensureReady();
    const { rows } = await run(this.#sql.recordInbox, [consumer, messageId, now, expiresAt]);
    return rows.length > 0;
  }

  async pruneInbox(now: number, limit: number): Promise<number> {
    await this.#ensureReady();
    const { rowCount } = await this.#pool.query(this.#sql.pruneInbox, [now, asCount(limit)]);
    return rowCount ?? 0;
  }

  /**
   * Calls `listener` on the next microtask after this instance inserts or hands back work, and when another
   * process's write commits (LISTEN/NOTIFY; while the notification connection is down, every `pollIntervalMs`).
   */
  onWake(listener: () => void): () => void {
    return this.#wake.subscribe(listener);
  }

  /**
   * Calls `listener` when jobs may have finished or been deleted: on the next microtask after this instance settles,
   * cancels, recovers or purges jobs, and every `settledPollIntervalMs` (default 250 ms) while anyone listens, for
   * other processes' writes. Completions send no notification (see the constructor). Closing the store calls the
   * listeners a last time.
   */
  onSettled(listener: () => void): () => void {
    return this.#settled.subscribe(listener);
  }

  /**
   * Stops listening and ends the pool the store created (a pool given in the options stays open). Safe to call
   * twice; the store cannot be used afterwards.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#settled.close(true); // a waiting waitFor reads once more, and learns that the store is closed
      await Promise.all([this.#wake.close(), this.#pool.end()]);
    })();
    return this.#closing;
  }

  /** The same as {@link PostgresStore.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Inserts through `run`, resolving duplicates the single statement could not (see INSERT_JOBS). */
  async #insertBatch(
    run: StatementRunner,
    jobs: readonly NewJob[],
    payload: string,
  ): Promise<InsertResult[]> {
    const createdAt = Date.now();
    const only = jobs.length === 1 ? jobs[0]! : undefined;
    if (only && only.uniqueKey === null) {
      const { rows } = await run(this.#sql.insertJob, [
        only.name,
        only.queue,
        only.payload,
        only.priority,
        only.runAt,
        only.maxAttempts,
        only.timeoutMs,
        only.backoff,
        createdAt,
        this.#channel,
        payload,
        only.claimedBy?.owner ?? null,
        only.claimedBy?.leaseExpiresAt ?? null,
        only.metadata ?? null,
      ]);
      return [{ id: String(rows[0]!.id), outcome: 'inserted' }];
    }
    const { rows } = await run(this.#sql.insertJobs, [
      toArrayLiteral(jobs.map((j) => j.name)),
      toArrayLiteral(jobs.map((j) => j.queue)),
      toArrayLiteral(jobs.map((j) => j.payload)),
      toArrayLiteral(jobs.map((j) => j.priority)),
      toArrayLiteral(jobs.map((j) => j.runAt)),
      toArrayLiteral(jobs.map((j) => j.maxAttempts)),
      toArrayLiteral(jobs.map((j) => j.timeoutMs)),
      toArrayLiteral(jobs.map((j) => j.uniqueKey)),
      toArrayLiteral(jobs.map((j) => j.backoff)),
      createdAt,
      this.#channel,
      payload,
      toArrayLiteral(jobs.map((j) => j.claimedBy?.owner ?? null)),
      toArrayLiteral(jobs.map((j) => j.claimedBy?.leaseExpiresAt ?? null)),
      toArrayLiteral(jobs.map((j) => j.metadata ?? null)),
    ]);
    const results: (InsertResult | undefined)[] = rows.map((row) =>
      row.id === null
        ? undefined
        : { id: String(row.id), outcome: row.inserted === true ? 'inserted' : 'duplicate' },
    );
    // Holders committed by another transaction after this statement's snapshot (a race on the same key): look them
    // up. Rare, so a second round trip only then. If a holder finished meanwhile, the key is free: insert again.
    for (let attempt = 0; results.includes(undefined); attempt++) {
      const open = jobs.filter((_, i) => results[i] === undefined);
      if (attempt >= DUPLICATE_RESOLUTION_TRIES) {
        throw new HostworkError(
          ErrorCodes.STORE_FAILED,
          `${this.#where}: could not resolve the live holder of unique key(s) ${open.map((j) => JSON.stringify(j.uniqueKey)).join(', ')}; the key kept changing hands. Try again.`,
        );
      }
      const keys = open.map((j) => j.uniqueKey);
      const live = await run(this.#sql.selectLiveJobsByUniqueKey, [toArrayLiteral(keys)]);
      const holders = new Map(live.rows.map((r) => [String(r.unique_key), String(r.id)]));
      const missing: number[] = [];
      results.forEach((result, i) => {
        if (result !== undefined) return;
        const holder = holders.get(String(jobs[i]!.uniqueKey));
        if (holder === undefined) missing.push(i);
        else results[i] = { id: holder, outcome: 'duplicate' };
      });
      if (missing.length > 0) {
        const again = await this.#insertBatch(
          run,
          missing.map((i) => jobs[i]!),
          payload,
        );
        missing.forEach((i, n) => {
          results[i] = again[n];
        });
      }
    }
    return results as InsertResult[];
  }

  async #migrate(): Promise<void> {
    const current = await this.#schemaVersion();
    if (current > SCHEMA_VERSION) {
      throw new HostworkError(
        ErrorCodes.STORE_OPEN,
        `${this.#where}: the schema has version ${current}, written by a newer Hostwork; this version understands up to ${SCHEMA_VERSION}. Fix: upgrade Hostwork, or use another schema.`,
      );
    }
    if (current === SCHEMA_VERSION) return;
    if (!this.#options.migrate) {
      throw new HostworkError(
        ErrorCodes.STORE_OPEN,
        `${this.#where}: the schema is at version ${current}, this Hostwork needs ${SCHEMA_VERSION}, and the store was created with migrate: false. Fix: apply the migrations (\`hostwork migrate --database-url <url> --schema ${this.schema}\`, or review \`hostwork migrate --sql --database-url <url> --schema ${this.schema}\` and run it), or create the store with migrate: true.`,
      );
    }
    const script = migrationSql(this.schema);
    await this.#pool.withClient('migrate', async (client) => {
      try {
        // A simple (unprepared) query: the script is several statements, with its own BEGIN and COMMIT.
        await client.query(script);
      } catch (error) {
        // A failed statement leaves the script's transaction open and aborted on this connection: end it.
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  /**
   * Compares this process's clock with the server's once, warning when they disagree (see clock-skew.ts). The
   * reading comes with the version check's answer; `serverNow` is undefined when there was no schema to read, and the
   * clock is then read on its own.
   */
  async #checkClock(sentAt: number, serverNow?: number): Promise<void> {
    if (this.#clockSkewMs !== undefined) return;
    if (serverNow === undefined) {
      const { rows } = await this.#pool.query<{ now: number }>(this.#sql.serverClock, []);
      serverNow = Number(rows[0]!.now);
    }
    const reading = { sentAt, receivedAt: Date.now(), serverNow };
    this.#clockSkewMs = clockSkewMs(reading);
    const warning = clockSkewWarning(this.#where, reading);
    if (warning) {
      this.#warnings.warn(warning, undefined, {
        warning: 'clock-skew',
        skewMs: Math.round(this.#clockSkewMs),
        roundTripMs: reading.receivedAt - reading.sentAt,
      });
    }
  }

  /** The schema's version, 0 before the first migration; checks the clock in the same round trip. */
  async #schemaVersion(): Promise<number> {
    const sentAt = Date.now();
    try {
      const { rows } = await this.#pool.query<{ version: number | null; now: number }>(
        this.#sql.schemaVersion,
        [],
      );
      await this.#checkClock(sentAt, Number(rows[0]!.now));
      return rows[0]!.version ?? 0;
    } catch (error) {
      if (
        error instanceof pg.DatabaseError &&
        (error.code === UNDEFINED_TABLE || error.code === INVALID_SCHEMA_NAME)
      ) {
        await this.#checkClock(Date.now());
        return 0;
      }
      throw error;
    }
  }

  /** Migrates on first use; afterwards costs one check of a flag. */
  async #ensureReady(): Promise<void> {
    if (this.#ready && this.#closing === undefined) return;
    this.#assertOpen();
    await this.migrate();
  }

  #runner: StatementRunner = (statement, values) => this.#pool.query(statement, values);

  #txRunner(tx: unknown, method: string): StatementRunner {
    this.#assertOpen();
    return transactionRunner(tx, `${this.#where} ${method}`);
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw this.#closedError();
  }

  #closedError(): HostworkError {
    return new HostworkError(ErrorCodes.HOST_STATE, `${this.#where} is closed; it cannot be used again.`);
  }
}

/** Creates the PostgreSQL job store; it connects on first use. */
export function postgresStore(options: PostgresStoreOptions = {}): PostgresStore {
  return new PostgresStore(options);
}

/** The results of a batch of completions as an array literal, or undefined when no handler returned one. */
function resultsOf(settlements: readonly Settlement[]): string | undefined {
  // Most handlers return nothing: then no array is built at all.
  if (!settlements.some((s) => s.kind === 'completed' && s.result != null)) return undefined;
  return toArrayLiteral(settlements.map((s) => (s.kind === 'completed' ? (s.result ?? null) : null)));
}

/** A count for LIMIT/OFFSET: a non-negative integer, with Infinity as "no limit". */
function asCount(n: number): number {
  if (Number.isNaN(n) || n <= 0) return 0;
  return Number.isFinite(n) ? Math.floor(n) : Number.MAX_SAFE_INTEGER;
}

/**
 * The parameters of the time and payload filters, after the statement's own (list and purge continue with them);
 * undefined when the payload filter can match nothing.
 */
function extendedFilter(filter: JobFilter): (string | number | readonly string[] | null)[] | undefined {
  checkJobFilter(filter);
  const containments = filter.payload === undefined ? null : payloadContainments(filter.payload);
  if (containments?.length === 0) return undefined;
  return [
    filter.createdAfter ?? null,
    filter.createdBefore ?? null,
    filter.payload?.path ?? null,
    filter.payload?.equals ?? null,
    containments,
  ];
}
