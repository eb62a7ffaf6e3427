import { realpathSync } from 'node:fs';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { type ErrorCode, ErrorCodes, HostworkError } from '../../errors.ts';
import type {
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
} from '../../jobs/job-record.ts';
import type {
  CancelOutcome,
  ClaimRequest,
  ClaimResult,
  InsertOptions,
  JobStore,
  RenewResult,
  RetentionPolicy,
  ScheduleTick,
} from '../../jobs/job-store.ts';
import type { MigrationStatus } from '../../jobs/migration-status.ts';
import { checkJobFilter, sqliteJsonPath } from '../../jobs/payload-filter.ts';
import { StoreSignal } from '../../jobs/store-signal.ts';
import type { InboxStore, RecordInboxOptions } from '../../messaging/inbox-store.ts';
import type {
  AppendOutboxOptions,
  ClaimedOutboxMessage,
  OutboxMessage,
  OutboxStore,
} from '../../messaging/outbox-store.ts';
import { SCHEMA_VERSION } from './migrations.ts';
import { IN_MEMORY, openDatabase, readMigrationStatus } from './open-database.ts';
import * as outbox from './outbox-statements.ts';
import {
  byClaimOrder,
  type ClaimedRow,
  toClaimedJob,
  toJobCount,
  toJobInfo,
  toRowId,
  toScheduleRecord,
} from './rows.ts';
import {
  type ResolvedSqliteStoreOptions,
  resolveSqliteStoreOptions,
  type SqliteStoreOptions,
} from './sqlite-store-options.ts';
import * as sql from './statements.ts';

/**
 * Rows as arrays (no object per row on the claim path). Set by the method rather than by `prepare`'s
 * `returnArrays` option, which Node.js 22.20 accepts and ignores.
 */
function arrayRows(statement: StatementSync): StatementSync {
  statement.setReturnArrays(true);
  return statement;
}

/** Every statement of the store, prepared once per connection. */
type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: DatabaseSync) {
  return {
    begin: db.prepare(sql.BEGIN_IMMEDIATE),
    commit: db.prepare(sql.COMMIT),
    rollback: db.prepare(sql.ROLLBACK),
    dataVersion: db.prepare(sql.DATA_VERSION),
    insertJob: db.prepare(sql.INSERT_JOB),
    selectLiveJobByUniqueKey: db.prepare(sql.SELECT_LIVE_JOB_BY_UNIQUE_KEY),
    claimJobs: arrayRows(db.prepare(sql.CLAIM_JOBS)),
    nextRunAt: db.prepare(sql.NEXT_RUN_AT),
    completeJobs: db.prepare(sql.COMPLETE_JOBS),
    completeJobsWithResults: db.prepare(sql.COMPLETE_JOBS_WITH_RESULTS),
    removeCompletedJobs: db.prepare(sql.REMOVE_COMPLETED_JOBS),
    cancelRunningJobs: db.prepare(sql.CANCEL_RUNNING_JOBS),
    retryJobs: db.prepare(sql.RETRY_JOBS),
    killJobs: db.prepare(sql.KILL_JOBS),
    releaseJobs: db.prepare(sql.RELEASE_JOBS),
    renewLeases: db.prepare(sql.RENEW_LEASES),
    recoverExpiredLeases: db.prepare(sql.RECOVER_EXPIRED_LEASES),
    updateProgress: db.prepare(sql.UPDATE_PROGRESS),
    selectJobState: db.prepare(sql.SELECT_JOB_STATE),
    cancelPendingJob: db.prepare(sql.CANCEL_PENDING_JOB),
    requestCancel: db.prepare(sql.REQUEST_CANCEL),
    retryFinishedJob: db.prepare(sql.RETRY_FINISHED_JOB),
    selectJob: db.prepare(sql.SELECT_JOB),
    selectJobs: db.prepare(sql.SELECT_JOBS),
    listJobs: db.prepare(sql.LIST_JOBS),
    countJobs: db.prepare(sql.COUNT_JOBS),
    purgeJobs: db.prepare(sql.PURGE_JOBS),
    pruneCompletedJobs: db.prepare(sql.PRUNE_COMPLETED_JOBS),
    upsertSchedule: db.prepare(sql.UPSERT_SCHEDULE),
    listSchedules: db.prepare(sql.LIST_SCHEDULES),
    setSchedulePaused: db.prepare(sql.SET_SCHEDULE_PAUSED),
    advanceSchedule: db.prepare(sql.ADVANCE_SCHEDULE),
    acquireLeadership: db.prepare(sql.ACQUIRE_LEADERSHIP),
    releaseLeadership: db.prepare(sql.RELEASE_LEADERSHIP),
    announceWorker: db.prepare(sql.ANNOUNCE_WORKER),
    forgetExpiredWorkers: db.prepare(sql.FORGET_EXPIRED_WORKERS),
    withdrawWorker: db.prepare(sql.WITHDRAW_WORKER),
    liveQueues: db.prepare(sql.LIVE_QUEUES),
    liveWorkers: db.prepare(sql.LIVE_WORKERS),
    runNow: db.prepare(sql.RUN_NOW),
    isPending: db.prepare(sql.IS_PENDING),
    throughput: db.prepare(sql.THROUGHPUT),
    dueBacklog: db.prepare(sql.DUE_BACKLOG),
    appendOutbox: db.prepare(outbox.APPEND_OUTBOX),
    outboxClaimable: db.prepare(outbox.OUTBOX_CLAIMABLE),
    claimOutbox: db.prepare(outbox.CLAIM_OUTBOX),
    markOutboxSent: db.prepare(outbox.MARK_OUTBOX_SENT),
    retryOutbox: db.prepare(outbox.RETRY_OUTBOX),
    releaseOutbox: db.prepare(outbox.RELEASE_OUTBOX),
    pruneOutbox: db.prepare(outbox.PRUNE_OUTBOX),
    countOutbox: db.prepare(outbox.COUNT_OUTBOX),
    inboxHas: db.prepare(outbox.INBOX_HAS),
    recordInbox: db.prepare(outbox.RECORD_INBOX),
    pruneInbox: db.prepare(outbox.PRUNE_INBOX),
  };
}

/** Settlements with their own run time or error, written as one JSON array per kind. */
type Detailed = Extract<Settlement, { kind: 'retry' | 'dead' | 'release' }>;

/**
 * The embedded default job store: one SQLite file in WAL mode through `node:sqlite` (built into Node, no native
 * build). Any number of processes on one machine can share the file; claims stay exclusive because each is one
 * UPDATE statement, and SQLite runs one writer at a time.
 *
 * The connection is synchronous: each call runs to completion before it returns its promise, and while another
 * process holds the write lock a call waits up to `busyTimeoutMs`, blocking this process's event loop. Every
 * statement is short, so waits are short too. The database opens on `migrate()` (or the first call that needs it).
 */
/** Primary SQLite result codes of a write that can never succeed as it is (see isPermanentError). */
const PERMANENT_SQLITE_CODES = new Set([1, 18, 19, 20, 25]);

export class SqliteStore implements JobStore, OutboxStore, InboxStore {
  readonly kind = 'sqlite';
  /** Claims run on the event loop: 250 rows keep one claim to a couple of milliseconds. */
  readonly preferredBatchSize = 250;
  /** The absolute path of the database file (or `':memory:'`). */
  readonly path: string;
  readonly #options: ResolvedSqliteStoreOptions;
  readonly #wake: StoreSignal;
  /** Behind `onSettled`: its own poll of the data version, so the two signals never take each other's changes. */
  readonly #settled: StoreSignal;
  #db: DatabaseSync | undefined;
  /** Statements with a payload filter, by kind and JSON path (see #filtered). */
  readonly #payloadStatements = new Map<string, StatementSync>();
  #sql: Statements | undefined;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    this.#options = resolveSqliteStoreOptions(options);
    this.path = this.#options.path;
    this.#wake = new StoreSignal({
      intervalMs: this.#options.pollIntervalMs,
      changedElsewhere: this.#watchDataVersion(),
    });
    this.#settled = new StoreSignal({
      intervalMs: this.#options.pollIntervalMs,
      changedElsewhere: this.#watchDataVersion(),
    });
  }

  /** Opens the database (creating its folder and file if missing) and brings its schema up to date. */
  async migrate(): Promise<void> {
    this.#ready();
  }

  /**
   * The schema version of the file and the one `migrate()` brings it to, read without changing anything: a missing
   * file is reported at version 0 and is not created. For deploy pipelines (`hostwork migrate status`).
   */
  async migrationStatus(): Promise<MigrationStatus> {
    if (this.path === IN_MEMORY || this.#db !== undefined) {
      // Opening migrates, so an open store is current; an in-memory database exists only once opened.
      return { current: this.#db === undefined ? 0 : SCHEMA_VERSION, latest: SCHEMA_VERSION };
    }
    return readMigrationStatus(this.path, this.#options.busyTimeoutMs);
  }

  /**
   * Stores jobs in one transaction. With `tx`, the application's own `DatabaseSync` on this store's file with a
   * transaction open: the jobs are written through it and exist if and only if that transaction commits; workers in
   * this and other processes find them by the data-version poll after the commit.
   */
  async insert(jobs: readonly NewJob[], options?: InsertOptions): Promise<InsertResult[]> {
    if (options?.tx !== undefined) {
      this.#ready();
      const db = this.#applicationTransaction(options.tx, ErrorCodes.INVALID_OPTION, 'the jobs');
      const statements = {
        insertJob: db.prepare(sql.INSERT_JOB),
        selectLiveJobByUniqueKey: db.prepare(sql.SELECT_LIVE_JOB_BY_UNIQUE_KEY),
      };
      const createdAt = Date.now();
      return jobs.map((job) => this.#insertOne(statements, job, createdAt));
    }
    if (jobs.length === 0) return [];
    const s = this.#ready();
    const createdAt = Date.now();
    const results = this.#transaction(s, () => jobs.map((job) => this.#insertOne(s, job, createdAt)));
    // Jobs inserted already claimed (local dispatch) need no worker woken for them.
    if (results.some((r, i) => r.outcome === 'inserted' && !jobs[i]!.claimedBy)) this.#wake.notifySoon();
    return results;
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    const s = this.#ready();
    const { queue, limit, owner, leaseMs, now } = request;
    const rows = s.claimJobs.all({
      owner,
      leaseExpiresAt: now + leaseMs,
      queue,
      now,
      limit,
    }) as unknown as ClaimedRow[];
    rows.sort(byClaimOrder);
    const jobs = rows.map(toClaimedJob);
    const nextRunAt =
      jobs.length < limit ? ((s.nextRunAt.get({ queue })?.next_run_at as number | null) ?? null) : null;
    return { jobs, nextRunAt };
  }

  /**
   * SQLite refused the data for good: SQLITE_ERROR (malformed JSON, an SQL error), SQLITE_TOOBIG, SQLITE_CONSTRAINT,
   * SQLITE_MISMATCH or SQLITE_RANGE (primary result codes 1, 18, 19, 20, 25). Busy and locked databases, I/O errors
   * and a full disk may pass.
   */
  isPermanentError(error: unknown): boolean {
    const code = (error as { errcode?: unknown } | null)?.errcode;
    return typeof code === 'number' && PERMANENT_SQLITE_CODES.has(code & 0xff);
  }

  async settle(owner: string, settlements: readonly Settlement[], now: number): Promise<void> {
    if (settlements.length === 0) return;
    const s = this.#ready();
    const completed: JobId[] = [];
    const withResults: { id: JobId; result: string }[] = [];
    const removed: JobId[] = [];
    const cancelled: JobId[] = [];
    const retries: Detailed[] = [];
    const dead: Detailed[] = [];
    const releases: Detailed[] = [];
    for (const settlement of settlements) {
      switch (settlement.kind) {
        case 'completed':
          if (settlement.remove) removed.push(settlement.id);
          else if (settlement.result == null) completed.push(settlement.id);
          else withResults.push({ id: settlement.id, result: settlement.result });
          break;
        case 'cancelled':
          cancelled.push(settlement.id);
          break;
        case 'retry':
          retries.push(settlement);
          break;
        case 'dead':
          dead.push(settlement);
          break;
        case 'release':
          releases.push(settlement);
          break;
      }
    }
    const write = (): void => {
      if (completed.length > 0) s.completeJobs.run({ ids: JSON.stringify(completed), owner, now });
      if (withResults.length > 0)
        s.completeJobsWithResults.run({ settlements: JSON.stringify(withResults), owner, now });
      if (removed.length > 0) s.removeCompletedJobs.run({ ids: JSON.stringify(removed), owner });
      if (cancelled.length > 0) s.cancelRunningJobs.run({ ids: JSON.stringify(cancelled), owner, now });
      if (retries.length > 0) s.retryJobs.run({ settlements: JSON.stringify(retries), owner, now });
      if (dead.length > 0) s.killJobs.run({ settlements: JSON.stringify(dead), owner, now });
      if (releases.length > 0) s.releaseJobs.run({ settlements: JSON.stringify(releases), owner, now });
    };
    const kinds = [completed, withResults, removed, cancelled, retries, dead, releases].filter(
      (group) => group.length > 0,
    ).length;
    // One statement is atomic on its own; only a mixed batch needs the explicit transaction.
    if (kinds === 1) write();
    else this.#transaction(s, write);
    if (retries.length > 0 || releases.length > 0) this.#wake.notifySoon();
    this.#settled.notifySoon();
  }

  async renew(owner: string, ids: readonly JobId[], leaseMs: number, now: number): Promise<RenewResult> {
    if (ids.length === 0) return { lost: [], cancelRequested: [] };
    const s = this.#ready();
    const rows = s.renewLeases.all({ ids: JSON.stringify(ids), owner, leaseExpiresAt: now + leaseMs });
    const renewed = new Set<string>();
    const cancelRequested: JobId[] = [];
    for (const row of rows) {
      const id = String(row.id);
      renewed.add(id);
      if (row.cancel_requested === 1) cancelRequested.push(id);
    }
    const lost = renewed.size === ids.length ? [] : ids.filter((id) => !renewed.has(id));
    return { lost, cancelRequested };
  }

  async recoverExpired(now: number): Promise<number> {
    const s = this.#ready();
    const recovered = Number(s.recoverExpiredLeases.run({ now }).changes);
    if (recovered > 0) {
      this.#wake.notifySoon();
      this.#settled.notifySoon(); // some may be dead or cancelled now
    }
    return recovered;
  }

  async progress(id: JobId, progress: string): Promise<void> {
    this.#ready().updateProgress.run({ id: toRowId(id), progress });
  }

  async cancel(id: JobId, now: number): Promise<CancelOutcome> {
    const s = this.#ready();
    const rowId = toRowId(id);
    // A transaction, so the state read and the change that depends on it cannot be split by another process.
    return this.#transaction(s, (): CancelOutcome => {
      const state = s.selectJobState.get({ id: rowId })?.state;
      if (state === undefined) return 'not-found';
      if (state === 'pending') {
        s.cancelPendingJob.run({ id: rowId, now });
        this.#settled.notifySoon();
        return 'cancelled';
      }
      if (state === 'running') {
        s.requestCancel.run({ id: rowId });
        return 'cancelling';
      }
      return 'finished';
    });
  }

  /** As the interface says; also false when a live job now holds the same unique key (nothing is changed). */
  async retry(id: JobId, now: number): Promise<boolean> {
    const changed = Number(this.#ready().retryFinishedJob.run({ id: toRowId(id), now }).changes) === 1;
    if (changed) this.#wake.notifySoon();
    return changed;
  }

  async get(id: JobId): Promise<JobInfo | undefined> {
    const row = this.#ready().selectJob.get({ id: toRowId(id) });
    return row === undefined ? undefined : toJobInfo(row);
  }

  /** The jobs among `ids` that exist, in one statement, in no particular order. */
  async getMany(ids: readonly JobId[]): Promise<JobInfo[]> {
    if (ids.length === 0) return [];
    return this.#ready()
      .selectJobs.all({ ids: JSON.stringify(ids) })
      .map(toJobInfo);
  }

  async list(
    filter: JobFilter & { readonly limit: number; readonly before?: JobId; readonly after?: JobId },
  ): Promise<JobInfo[]> {
    const s = this.#ready();
    const rows = this.#filtered(s, 'list', filter).all({
      ...filterParameters(filter),
      before: filter.before === undefined ? Number.MAX_SAFE_INTEGER : toRowId(filter.before),
      after: filter.after === undefined ? 0 : toRowId(filter.after),
      limit: filter.limit,
    });
    return rows.map(toJobInfo);
  }

  async counts(): Promise<JobCount[]> {
    return this.#ready().countJobs.all().map(toJobCount);
  }

  async purge(filter: JobFilter & { readonly limit?: number }): Promise<number> {
    const purged = Number(
      this.#filtered(this.#ready(), 'purge', filter).run({
        ...filterParameters(filter),
        limit: purgeLimit(filter.limit),
      }).changes,
    );
    if (purged > 0) this.#settled.notifySoon(); // a waiter learns its job is gone
    return purged;
  }

  async prune(policy: RetentionPolicy): Promise<number> {
    const result = this.#ready().pruneCompletedJobs.run({
      completedBefore: policy.completedBefore,
      maxCompleted: asCount(policy.maxCompleted),
      batchSize: asCount(policy.batchSize),
    });
    return Number(result.changes);
  }

  async upsertSchedules(schedules: readonly Omit<ScheduleRecord, 'paused' | 'lastRunAt'>[]): Promise<void> {
    if (schedules.length === 0) return;
    const s = this.#ready();
    this.#transaction(s, () => {
      for (const { name, cron, timezone, nextRunAt } of schedules) {
        s.upsertSchedule.run({ name, cron, timezone, nextRunAt });
      }
    });
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return this.#ready().listSchedules.all().map(toScheduleRecord);
  }

  async setSchedulePaused(name: string, paused: boolean, nextRunAt?: number | null): Promise<boolean> {
    const result = this.#ready().setSchedulePaused.run({
      name,
      paused: paused ? 1 : 0,
      setNextRunAt: nextRunAt === undefined ? 0 : 1,
      nextRunAt: nextRunAt ?? null,
    });
    return Number(result.changes) === 1;
  }

  async acquireLeadership(owner: string, ttlMs: number, now: number): Promise<boolean> {
    const s = this.#ready();
    return s.acquireLeadership.get({ owner, expiresAt: now + ttlMs, now }) !== undefined;
  }

  async releaseLeadership(owner: string): Promise<void> {
    const s = this.#ready();
    s.releaseLeadership.run({ owner });
  }

  async announceWorker(owner: string, queues: readonly string[], ttlMs: number, now: number): Promise<void> {
    const s = this.#ready();
    this.#transaction(s, () => {
      s.forgetExpiredWorkers.run({ now });
      s.announceWorker.run({ owner, queues: JSON.stringify(queues), expiresAt: now + ttlMs });
    });
  }

  async withdrawWorker(owner: string): Promise<void> {
    const s = this.#ready();
    s.withdrawWorker.run({ owner });
  }

  async liveQueues(now: number): Promise<string[]> {
    const s = this.#ready();
    return s.liveQueues.all({ now }).map((r) => String(r.queue));
  }

  async listWorkers(now: number): Promise<WorkerRecord[]> {
    return this.#ready()
      .liveWorkers.all({ now })
      .map((r) => ({
        owner: String(r.owner),
        queues: JSON.parse(String(r.queues)) as string[],
        expiresAt: Number(r.expires_at),
      }));
  }

  async runNow(id: JobId, now: number): Promise<boolean> {
    const s = this.#ready();
    const rowId = toRowId(id);
    if (Number(s.runNow.run({ id: rowId, now }).changes) === 1) {
      this.#wake.notifySoon();
      return true;
    }
    return s.isPending.get({ id: rowId }) !== undefined;
  }

  async throughput(since: number, bucketMs: number): Promise<ThroughputBucket[]> {
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 1) {
      throw new HostworkError(ErrorCodes.INVALID_OPTION, `throughput: bucketMs must be a positive integer.`);
    }
    return this.#ready()
      .throughput.all({ since, bucketMs })
      .map((r) => ({ at: Number(r.bucket), completed: Number(r.completed), dead: Number(r.dead) }));
  }

  async dueBacklog(now: number): Promise<QueueBacklog[]> {
    return this.#ready()
      .dueBacklog.all({ now })
      .map((r) => ({ queue: String(r.queue), due: Number(r.due), oldestDueAt: Number(r.oldest) }));
  }

  async tickSchedule(tick: ScheduleTick, now: number): Promise<boolean> {
    const s = this.#ready();
    let inserted = false;
    const won = this.#transaction(s, () => {
      const advanced = s.advanceSchedule.run({
        name: tick.name,
        expectedNextRunAt: tick.expectedNextRunAt,
        newNextRunAt: tick.newNextRunAt,
        now,
      });
      if (Number(advanced.changes) !== 1) return false;
      if (tick.job !== null) inserted = this.#insertOne(s, tick.job, now).outcome === 'inserted';
      return true;
    });
    if (inserted) this.#wake.notifySoon();
    return won;
  }

  /**
   * Calls `listener` on the next microtask after this instance inserts, retries or releases work, and within about
   * `pollIntervalMs` after another connection (another process or store instance) commits a write.
   */
  onWake(listener: () => void): () => void {
    return this.#wake.subscribe(listener);
  }

  /**
   * Calls `listener` when jobs may have finished or been deleted: on the next microtask after this instance settles,
   * cancels, recovers or purges jobs, and within about `pollIntervalMs` after another connection (another process or
   * store instance) commits any write, read from the same cheap `PRAGMA data_version` poll as `onWake`. Closing the
   * store calls the listeners a last time.
   */
  onSettled(listener: () => void): () => void {
    return this.#settled.subscribe(listener);
  }

  /**
   * Appends messages to the outbox in one transaction. With `tx`, the application's own `DatabaseSync` on this
   * store's file with a transaction open (`db.exec('BEGIN')`): the rows are written through it and exist if and only
   * if that transaction commits; relays in this and other processes find them by the data-version poll after commit.
   */
  async appendOutbox(messages: readonly OutboxMessage[], options?: AppendOutboxOptions): Promise<void> {
    const s = this.#ready();
    const tx = options?.tx;
    if (tx !== undefined) {
      const append = this.#applicationTransaction(tx, ErrorCodes.OUTBOX_UNAVAILABLE, 'the message').prepare(
        outbox.APPEND_OUTBOX,
      );
      for (const m of messages) append.run(outboxRow(m));
      return;
    }
    if (messages.length === 0) return;
    this.#transaction(s, () => {
      for (const m of messages) s.appendOutbox.run(outboxRow(m));
    });
    this.#wake.notifySoon();
  }

  async claimOutbox(
    limit: number,
    owner: string,
    leaseMs: number,
    now: number,
  ): Promise<ClaimedOutboxMessage[]> {
    const s = this.#ready();
    // A read first: an idle relay's poll takes no write lock (see OUTBOX_CLAIMABLE).
    if (s.outboxClaimable.get({ now }) === undefined) return [];
    const rows = s.claimOutbox.all({ owner, leaseExpiresAt: now + leaseMs, now, limit });
    return rows.map(toClaimedOutbox).sort((a, b) => Number(a.seq) - Number(b.seq));
  }

  async markOutboxSent(seqs: readonly string[], now: number): Promise<void> {
    if (seqs.length === 0) return;
    this.#ready().markOutboxSent.run({ seqs: seqArray(seqs), now });
  }

  async retryOutbox(owner: string, seqs: readonly string[], nextAt: number, error: string): Promise<void> {
    if (seqs.length === 0) return;
    this.#ready().retryOutbox.run({ seqs: seqArray(seqs), owner, nextAt, error });
  }

  async releaseOutbox(owner: string, seqs: readonly string[]): Promise<void> {
    if (seqs.length === 0) return;
    this.#ready().releaseOutbox.run({ seqs: seqArray(seqs), owner });
    this.#wake.notifySoon();
  }

  async pruneOutbox(sentBefore: number, limit: number): Promise<number> {
    return Number(this.#ready().pruneOutbox.run({ sentBefore, limit: asCount(limit) }).changes);
  }

  async countOutbox(): Promise<{ unsent: number; sent: number }> {
    const row = this.#ready().countOutbox.get();
    return { unsent: Number(row?.unsent ?? 0), sent: Number(row?.sent ?? 0) };
  }

  async inboxHas(consumer: string, messageId: string, now: number): Promise<boolean> {
    return this.#ready().inboxHas.get({ consumer, messageId, now }) !== undefined;
  }

  /** Records a processed message; with `tx` (as for `appendOutbox`), through the application's transaction. */
  async recordInbox(
    consumer: string,
    messageId: string,
    now: number,
    expiresAt: number,
    options?: RecordInboxOptions,
  ): Promise<boolean> {
    const s = this.#ready();
    const record =
      options?.tx === undefined
        ? s.recordInbox
        : this.#applicationTransaction(options.tx, ErrorCodes.OUTBOX_UNAVAILABLE, 'the inbox record').prepare(
            outbox.RECORD_INBOX,
          );
    return record.get({ consumer, messageId, now, expiresAt }) !== undefined;
  }

  async pruneInbox(now: number, limit: number): Promise<number> {
    return Number(this.#ready().pruneInbox.run({ now, limit: asCount(limit) }).changes);
  }

  /**
   * The application's `DatabaseSync` given as `tx`, checked: same file, transaction open. `code` is the error code
   * of a `tx` that is none of these, `what` is what would be written through it.
   */
  #applicationTransaction(tx: unknown, code: ErrorCode, what: string): DatabaseSync {
    const db = tx as Partial<DatabaseSync> | null;
    const fix =
      "Pass your own `new DatabaseSync(path)` on the store's file, after `db.exec('BEGIN')`, and commit it yourself.";
    if (
      typeof db !== 'object' ||
      db === null ||
      typeof db.prepare !== 'function' ||
      typeof db.exec !== 'function'
    ) {
      throw new HostworkError(
        code,
        `The SQLite store: tx must be a node:sqlite DatabaseSync, got ${db === null ? 'null' : typeof db}. ${fix}`,
      );
    }
    if (this.path === IN_MEMORY) {
      throw new HostworkError(
        code,
        "The SQLite store: an in-memory store (':memory:') cannot share a transaction with another connection. Fix: give the store a file path.",
      );
    }
    // PRAGMA database_list rather than db.location(), which older Node.js releases lack.
    const main = (db as DatabaseSync)
      .prepare('PRAGMA database_list')
      .all()
      .find((row) => row.name === 'main');
    const location = main?.file;
    if (location !== this.path && !samePath(location, this.path)) {
      throw new HostworkError(
        code,
        `The SQLite store: tx is a connection to ${String(location)}, not to the store's file ${this.path}. ${fix}`,
      );
    }
    if (!db.isTransaction) {
      throw new HostworkError(
        code,
        `The SQLite store: tx has no open transaction, so ${what} would commit on their own. ${fix}`,
      );
    }
    return db as DatabaseSync;
  }

  /** Stops the poll timer and closes the connection. Safe to call twice; the store cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake.close();
    this.#settled.close(true); // a waiting waitFor reads once more, and learns that the store is closed
    const db = this.#db;
    this.#db = undefined;
    this.#sql = undefined;
    this.#payloadStatements.clear();
    if (db?.isOpen) {
      try {
        db.exec(sql.OPTIMIZE);
      } catch {
        // Only a planner-statistics refresh: never a reason for close to fail.
      }
      db.close();
    }
  }

  /** The same as {@link SqliteStore.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The prepared statements, opening and migrating the database on first use. */
  /**
   * The list or purge statement for `filter`: the prepared one, or with a payload filter one per JSON path (its path
   * a literal, so an index on the expression can serve it), prepared once and kept for the connection (at most 64).
   */
  #filtered(s: Statements, kind: 'list' | 'purge', filter: JobFilter): StatementSync {
    if (filter.payload === undefined) return kind === 'list' ? s.listJobs : s.purgeJobs;
    checkJobFilter(filter);
    const key = `${kind} ${sqliteJsonPath(filter.payload.path)}`;
    let statement = this.#payloadStatements.get(key);
    if (statement === undefined) {
      if (this.#payloadStatements.size >= 64) this.#payloadStatements.clear();
      const base = kind === 'list' ? sql.LIST_JOBS : sql.PURGE_JOBS;
      statement = this.#db!.prepare(sql.withPayloadFilter(base, sqliteJsonPath(filter.payload.path)));
      this.#payloadStatements.set(key, statement);
    }
    return statement;
  }

  #ready(): Statements {
    if (this.#sql !== undefined) return this.#sql;
    if (this.#closed) {
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        `The job store for ${this.path} is closed; it cannot be used again.`,
      );
    }
    const db = openDatabase(this.#options);
    this.#db = db;
    this.#sql = prepareStatements(db);
    return this.#sql;
  }

  #transaction<T>(s: Statements, work: () => T): T {
    s.begin.run();
    try {
      const result = work();
      s.commit.run();
      return result;
    } catch (error) {
      if (this.#db?.isTransaction) s.rollback.run();
      throw error;
    }
  }

  #insertOne(
    s: Pick<Statements, 'insertJob' | 'selectLiveJobByUniqueKey'>,
    job: NewJob,
    createdAt: number,
  ): InsertResult {
    const result = s.insertJob.run(
      job.name,
      job.queue,
      job.payload,
      job.priority,
      job.runAt,
      job.maxAttempts,
      job.timeoutMs,
      job.uniqueKey ?? null,
      job.backoff ?? null,
      createdAt,
      job.claimedBy?.owner ?? null,
      job.claimedBy?.leaseExpiresAt ?? null,
      job.metadata ?? null,
    );
    if (Number(result.changes) === 1) return { id: String(result.lastInsertRowid), outcome: 'inserted' };
    // ON CONFLICT DO NOTHING stored nothing: the only possible conflict is a live job holding the unique key.
    const existing = s.selectLiveJobByUniqueKey.get({ uniqueKey: job.uniqueKey });
    if (existing === undefined) {
      throw new HostworkError(
        ErrorCodes.STORE_FAILED,
        `The job database ${this.path} refused job '${job.name}' without a live job holding its unique key; the file may have been altered by hand.`,
      );
    }
    return { id: String(existing.id), outcome: 'duplicate' };
  }

  /**
   * A check, with a baseline of its own, that is true when another connection committed since its last call (cheap:
   * reads no table). Never throws.
   */
  #watchDataVersion(): () => boolean {
    let seen = -1;
    return () => {
      if (this.#sql === undefined) return false;
      try {
        const version = this.#sql.dataVersion.get()?.data_version as number;
        const changed = version !== seen;
        seen = version;
        return changed;
      } catch {
        return false; // e.g. the file is briefly locked: the next poll looks again
      }
    };
  }
}

/** Creates the embedded SQLite job store; the file opens on `migrate()`. */
export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}

/** Whether two paths name one file (symbolic links resolved); false if either cannot be resolved. */
function samePath(a: unknown, b: string): boolean {
  if (typeof a !== 'string' || a === '') return false;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

function outboxRow(m: OutboxMessage): Record<string, string | number | null | Uint8Array> {
  return {
    id: m.id,
    transport: m.transport,
    destination: m.destination,
    key: m.key,
    headers: m.headers,
    body: m.body,
    delayMs: m.delayMs,
    createdAt: m.createdAt,
  };
}

function toClaimedOutbox(row: Record<string, unknown>): ClaimedOutboxMessage {
  return {
    seq: String(row.seq),
    id: String(row.id),
    transport: String(row.transport),
    destination: String(row.destination),
    key: row.key === null ? null : String(row.key),
    headers: String(row.headers),
    body: row.body as Uint8Array,
    delayMs: Number(row.delay_ms),
    createdAt: Number(row.created_at),
    attempts: Number(row.attempts),
  };
}

/** Seqs as the JSON array the statements read with json_each (integers, so the primary key is used). */
function seqArray(seqs: readonly string[]): string {
  return JSON.stringify(seqs.map(Number));
}

function filterParameters(filter: JobFilter): Record<string, string | number | null> {
  checkJobFilter(filter);
  return {
    queue: filter.queue ?? null,
    state: filter.state ?? null,
    name: filter.name ?? null,
    // Integers, so the primary key is used.
    ids: filter.ids === undefined ? null : JSON.stringify(filter.ids.map(Number)),
    createdAfter: filter.createdAfter ?? null,
    createdBefore: filter.createdBefore ?? null,
    // Only the statements with a payload filter name this parameter (see #filtered).
    ...(filter.payload === undefined ? {} : { payloadEquals: filter.payload.equals }),
  };
}

/** A count for LIMIT/OFFSET: a non-negative integer, with Infinity as "no limit". */
function asCount(n: number): number {
  if (Number.isNaN(n) || n <= 0) return 0;
  return Number.isFinite(n) ? Math.floor(n) : Number.MAX_SAFE_INTEGER;
}

/** A purge's `limit` as SQLite's LIMIT: -1 for none; anything else must be a positive integer. */
function purgeLimit(limit: number | undefined): number {
  if (limit === undefined) return -1;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `purge: limit must be a positive integer (or left out for no limit), got ${String(limit)}.`,
    );
  }
  return limit;
}
