/**
 * Every SQL statement of the SQLite job store, one constant each. The store prepares each once and reuses it.
 *
 * Conventions: named parameters (`:now`) bound from objects; times are ms since the epoch; batches of ids or
 * settlements arrive as one JSON array read with `json_each`, so a batch is one statement, not one per job.
 * Ids arrive as JSON strings ("42"): compared with the INTEGER key they take its affinity and use the primary key.
 * Every statement that changes a running job checks `lease_owner` and `state`, so a worker that lost its lease
 * (recovered and perhaps re-claimed elsewhere) changes nothing.
 */

export const BEGIN_IMMEDIATE = 'BEGIN IMMEDIATE';
export const COMMIT = 'COMMIT';
export const ROLLBACK = 'ROLLBACK';

/** Refreshes the planner's statistics where useful; cheap, run once at close as SQLite recommends. */
export const OPTIMIZE = 'PRAGMA optimize';

/** Changes only when another connection (any process) commits; reads no table. */
export const DATA_VERSION = 'PRAGMA data_version';

/**
 * Inserts one job unless a live job has its unique key (then it changes no row). Positional parameters, in column
 * order: it runs once per job, and binding by name costs several times more than binding by position. With a lease
 * owner (?11) the job is inserted already claimed: running, attempt 1 (local dispatch). ?13: its metadata (JSON or NULL).
 */
export const INSERT_JOB = `
  INSERT INTO hw_jobs
    (name, queue, payload, priority, run_at, max_attempts, timeout_ms, unique_key, backoff, created_at,
     lease_owner, lease_expires_at, metadata, state, attempt)
  VALUES
    (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
     CASE WHEN ?11 IS NULL THEN 'pending' ELSE 'running' END, CASE WHEN ?11 IS NULL THEN 0 ELSE 1 END)
  ON CONFLICT DO NOTHING`;

/** The live (pending or running) job holding a unique key; the condition matches the partial unique index. */
export const SELECT_LIVE_JOB_BY_UNIQUE_KEY = `
  SELECT id FROM hw_jobs
  WHERE unique_key = :uniqueKey AND state IN ('pending', 'running')`;

/**
 * Claims the next due jobs of a queue in one statement: the subquery walks the claim index in claim order.
 * RETURNING gives rows in no defined order; the caller sorts them on the first three columns (read as arrays).
 */
export const CLAIM_JOBS = `
  UPDATE hw_jobs
  SET state = 'running', attempt = attempt + 1, lease_owner = :owner, lease_expires_at = :leaseExpiresAt
  WHERE id IN (
    SELECT id FROM hw_jobs
    WHERE state = 'pending' AND queue = :queue AND run_at <= :now
    ORDER BY priority DESC, run_at, id
    LIMIT :limit)
  RETURNING priority, run_at, id, name, queue, payload, attempt, max_attempts, timeout_ms, backoff, created_at,
            metadata`;

/** The earliest run time of a queue's pending jobs (after a claim took every due one, a future time). */
export const NEXT_RUN_AT = `
  SELECT MIN(run_at) AS next_run_at FROM hw_jobs
  WHERE state = 'pending' AND queue = :queue`;

/** settle 'completed' for a JSON array of ids. */
export const COMPLETE_JOBS = `
  UPDATE hw_jobs
  SET state = 'completed', finished_at = :now, lease_owner = NULL, lease_expires_at = NULL
  WHERE id IN (SELECT value FROM json_each(:ids)) AND lease_owner = :owner AND state = 'running'`;

/**
 * settle 'completed' for a JSON array of `{id, result}`, `result` being the result's JSON text as a JSON string (read
 * back unchanged by `->>`). Completions without a result take {@link COMPLETE_JOBS}.
 */
export const COMPLETE_JOBS_WITH_RESULTS = `
  UPDATE hw_jobs
  SET state = 'completed', finished_at = :now, lease_owner = NULL, lease_expires_at = NULL, result = s.result
  FROM (SELECT value ->> 'id' AS id, value ->> 'result' AS result FROM json_each(:settlements)) AS s
  WHERE hw_jobs.id = s.id AND hw_jobs.lease_owner = :owner AND hw_jobs.state = 'running'`;

/** settle 'completed' with `remove` (retention 0) for a JSON array of ids: the job is deleted, not kept. */
export const REMOVE_COMPLETED_JOBS = `
  DELETE FROM hw_jobs
  WHERE id IN (SELECT value FROM json_each(:ids)) AND lease_owner = :owner AND state = 'running'`;

/** settle 'cancelled' for a JSON array of ids. */
export const CANCEL_RUNNING_JOBS = `
  UPDATE hw_jobs
  SET state = 'cancelled', finished_at = :now, lease_owner = NULL, lease_expires_at = NULL
  WHERE id IN (SELECT value FROM json_each(:ids)) AND lease_owner = :owner AND state = 'running'`;

/**
 * settle 'retry' for a JSON array of `{id, runAt, error}`: back to pending with the error appended.
 * A job an operator asked to cancel while it ran is cancelled instead of being run again.
 */
export const RETRY_JOBS = `
  UPDATE hw_jobs
  SET state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'pending' END,
      finished_at = CASE WHEN cancel_requested = 1 THEN :now END,
      run_at = s.run_at,
      errors = json_insert(errors, '$[#]', json(s.error)),
      lease_owner = NULL,
      lease_expires_at = NULL
  FROM (SELECT value ->> 'id' AS id, value ->> 'runAt' AS run_at, value -> 'error' AS error FROM json_each(:settlements)) AS s
  WHERE hw_jobs.id = s.id AND hw_jobs.lease_owner = :owner AND hw_jobs.state = 'running'`;

/** settle 'dead' for a JSON array of `{id, error}`: finished for good, with the error appended. */
export const KILL_JOBS = `
  UPDATE hw_jobs
  SET state = 'dead',
      finished_at = :now,
      errors = json_insert(errors, '$[#]', json(s.error)),
      lease_owner = NULL,
      lease_expires_at = NULL
  FROM (SELECT value ->> 'id' AS id, value -> 'error' AS error FROM json_each(:settlements)) AS s
  WHERE hw_jobs.id = s.id AND hw_jobs.lease_owner = :owner AND hw_jobs.state = 'running'`;

/**
 * settle 'release' for a JSON array of `{id, runAt}`: back to pending and the attempt is given back.
 * As for a retry, a job an operator asked to cancel is cancelled instead.
 */
export const RELEASE_JOBS = `
  UPDATE hw_jobs
  SET state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'pending' END,
      finished_at = CASE WHEN cancel_requested = 1 THEN :now END,
      run_at = s.run_at,
      attempt = attempt - 1,
      lease_owner = NULL,
      lease_expires_at = NULL
  FROM (SELECT value ->> 'id' AS id, value ->> 'runAt' AS run_at FROM json_each(:settlements)) AS s
  WHERE hw_jobs.id = s.id AND hw_jobs.lease_owner = :owner AND hw_jobs.state = 'running'`;

/** Extends the leases still held by the owner; returns the renewed ids and whether each was asked to cancel. */
export const RENEW_LEASES = `
  UPDATE hw_jobs
  SET lease_expires_at = :leaseExpiresAt
  WHERE id IN (SELECT value FROM json_each(:ids)) AND lease_owner = :owner AND state = 'running'
  RETURNING id, cancel_requested`;

/**
 * Returns jobs whose lease expired to pending (to dead after their last attempt; to cancelled if an operator asked),
 * recording a 'lease-expired' error for the attempt that was running.
 */
export const RECOVER_EXPIRED_LEASES = `
  UPDATE hw_jobs
  SET state = CASE
        WHEN cancel_requested = 1 THEN 'cancelled'
        WHEN attempt < max_attempts THEN 'pending'
        ELSE 'dead' END,
      run_at = CASE WHEN cancel_requested = 0 AND attempt < max_attempts THEN :now ELSE run_at END,
      finished_at = CASE WHEN cancel_requested = 0 AND attempt < max_attempts THEN NULL ELSE :now END,
      errors = json_insert(errors, '$[#]', json_object(
        'attempt', attempt,
        'at', :now,
        'message', 'lease of worker ' || lease_owner || ' expired; the worker probably crashed',
        'kind', 'lease-expired')),
      lease_owner = NULL,
      lease_expires_at = NULL
  WHERE state = 'running' AND lease_expires_at < :now`;

export const UPDATE_PROGRESS = `
  UPDATE hw_jobs SET progress = :progress
  WHERE id = :id AND state = 'running'`;

export const SELECT_JOB_STATE = `
  SELECT state FROM hw_jobs WHERE id = :id`;

/** cancel of a pending job: it will never run. */
export const CANCEL_PENDING_JOB = `
  UPDATE hw_jobs SET state = 'cancelled', finished_at = :now
  WHERE id = :id AND state = 'pending'`;

/** cancel of a running job: its worker learns it at the next renewal. */
export const REQUEST_CANCEL = `
  UPDATE hw_jobs SET cancel_requested = 1
  WHERE id = :id AND state = 'running'`;

/**
 * retry of a dead or cancelled job: fresh attempts, history kept. OR IGNORE: when a live job now holds the same
 * unique key, nothing changes (the key's guarantee wins) and the caller sees no change.
 */
export const RETRY_FINISHED_JOB = `
  UPDATE OR IGNORE hw_jobs
  SET state = 'pending', attempt = 0, run_at = :now, finished_at = NULL, cancel_requested = 0, progress = NULL,
      lease_owner = NULL, lease_expires_at = NULL
  WHERE id = :id AND state IN ('dead', 'cancelled')`;

export const SELECT_JOB = `
  SELECT id, name, queue, state, payload, priority, attempt, max_attempts, timeout_ms, run_at, unique_key,
         lease_owner, lease_expires_at, cancel_requested, progress, result, errors, created_at, finished_at
  FROM hw_jobs
  WHERE id = :id`;

/** The jobs among a JSON array of ids (any order): the waiters of `JobClient.waitFor` read theirs in one statement. */
export const SELECT_JOBS = `
  SELECT id, name, queue, state, payload, priority, attempt, max_attempts, timeout_ms, run_at, unique_key,
         lease_owner, lease_expires_at, cancel_requested, progress, result, errors, created_at, finished_at
  FROM hw_jobs
  WHERE id IN (SELECT value FROM json_each(:ids))`;

/**
 * A payload field as text, as PostgreSQL's `#>>` gives it: a string unquoted, a number as written, true/false, an
 * object or array as JSON; NULL when missing or JSON null (json_extract alone would give 1/0 for booleans). The JSON
 * path is a literal in the statement (one statement per path, see {@link withPayloadFilter}), so that an index on
 * exactly this expression can serve the filter; a bound parameter never matches an indexed expression.
 */
export function payloadFieldText(jsonPath: string): string {
  const literal = `'${jsonPath.replaceAll("'", "''")}'`;
  return `(CASE json_type(payload, ${literal}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN NULL ELSE CAST(json_extract(payload, ${literal}) AS TEXT) END)`;
}

/** Where {@link LIST_JOBS} and {@link PURGE_JOBS} take the payload condition ({@link withPayloadFilter}). */
const PAYLOAD_CONDITION = '1 /* payload */';

/** LIST_JOBS or PURGE_JOBS filtering on the payload field at `jsonPath` equal to :payloadEquals. */
export function withPayloadFilter(statement: string, jsonPath: string): string {
  return statement.replace(PAYLOAD_CONDITION, `${payloadFieldText(jsonPath)} = :payloadEquals`);
}

/** A page of jobs, newest first, ids between :after and :before (both excluded); a null filter value matches everything. */
export const LIST_JOBS = `
  SELECT id, name, queue, state, payload, priority, attempt, max_attempts, timeout_ms, run_at, unique_key,
         lease_owner, lease_expires_at, cancel_requested, progress, result, errors, created_at, finished_at
  FROM hw_jobs
  WHERE id < :before AND id > :after
    AND (:queue IS NULL OR queue = :queue)
    AND (:state IS NULL OR state = :state)
    AND (:name IS NULL OR name = :name)
    AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
    AND (:createdAfter IS NULL OR created_at >= :createdAfter)
    AND (:createdBefore IS NULL OR created_at < :createdBefore)
    AND ${PAYLOAD_CONDITION}
  ORDER BY id DESC
  LIMIT :limit`;

/**
 * Jobs per queue and state, each arm from an index alone and in its order: the pending ones on the claim index, the
 * others on the counts index (partial, so that the claim never uses it). Pending rows first, then the others by
 * queue and state.
 */
export const COUNT_JOBS = `
  SELECT queue, 'pending' AS state, COUNT(*) AS count FROM hw_jobs WHERE state = 'pending' GROUP BY queue
  UNION ALL
  SELECT queue, state, COUNT(*) AS count FROM hw_jobs WHERE state <> 'pending' GROUP BY state, queue`;

/**
 * Deletes the jobs matching a filter (a null value matches everything), never a running one; at most :limit of them,
 * oldest first (-1: all).
 */
export const PURGE_JOBS = `
  DELETE FROM hw_jobs
  WHERE id IN (
    SELECT id FROM hw_jobs
    WHERE state <> 'running'
      AND (:queue IS NULL OR queue = :queue)
      AND (:state IS NULL OR state = :state)
      AND (:name IS NULL OR name = :name)
      AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
    AND (:createdAfter IS NULL OR created_at >= :createdAfter)
      AND (:createdBefore IS NULL OR created_at < :createdBefore)
      AND ${PAYLOAD_CONDITION}
    ORDER BY id
    LIMIT :limit)`;

/**
 * Deletes up to :batchSize completed jobs, oldest first, that finished before :completedBefore or are not among the
 * newest :maxCompleted. The subquery finds the newest job past that count, ordered by (finished_at, id) so jobs
 * finished in the same millisecond are counted exactly.
 */
export const PRUNE_COMPLETED_JOBS = `
  DELETE FROM hw_jobs
  WHERE id IN (
    SELECT id FROM hw_jobs
    WHERE state = 'completed'
      AND (finished_at < :completedBefore
        OR (finished_at, id) <= (
          SELECT finished_at, id FROM hw_jobs
          WHERE state = 'completed'
          ORDER BY finished_at DESC, id DESC
          LIMIT 1 OFFSET :maxCompleted))
    ORDER BY finished_at, id
    LIMIT :batchSize)`;

/** Creates a schedule, or updates it keeping its paused flag, and its next run unless the timing changed. */
export const UPSERT_SCHEDULE = `
  INSERT INTO hw_schedules (name, cron, timezone, paused, next_run_at)
  VALUES (:name, :cron, :timezone, 0, :nextRunAt)
  ON CONFLICT (name) DO UPDATE
  SET next_run_at = CASE
        WHEN cron IS NOT excluded.cron OR timezone IS NOT excluded.timezone OR next_run_at IS NULL
        THEN excluded.next_run_at
        ELSE next_run_at END,
      cron = excluded.cron,
      timezone = excluded.timezone`;

export const LIST_SCHEDULES = `
  SELECT name, cron, timezone, paused, next_run_at, last_run_at FROM hw_schedules
  ORDER BY name`;

/** Pauses or resumes a schedule; its next run changes only when :setNextRunAt is 1. */
export const SET_SCHEDULE_PAUSED = `
  UPDATE hw_schedules
  SET paused = :paused,
      next_run_at = CASE WHEN :setNextRunAt = 1 THEN :nextRunAt ELSE next_run_at END
  WHERE name = :name`;

/** Compare-and-set of a schedule's next tick: changes one row only for the caller that read the current tick. */
export const ADVANCE_SCHEDULE = `
  UPDATE hw_schedules
  SET next_run_at = :newNextRunAt, last_run_at = :now
  WHERE name = :name AND next_run_at = :expectedNextRunAt AND paused = 0`;

/** Takes the maintenance leadership if it is free, expired, or already ours; returns a row only on success. */
export const ACQUIRE_LEADERSHIP = `
  INSERT INTO hw_leader (name, owner, expires_at) VALUES ('maintenance', :owner, :expiresAt)
  ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
  WHERE hw_leader.owner = excluded.owner OR hw_leader.expires_at < :now
  RETURNING owner`;

/** Gives the leadership up (graceful shutdown). */
export const RELEASE_LEADERSHIP = `
  DELETE FROM hw_leader WHERE name = 'maintenance' AND owner = :owner`;

/** Announces a worker and the queues it consumes (a JSON array) until :expiresAt. */
export const ANNOUNCE_WORKER = `
  INSERT INTO hw_workers (owner, queues, expires_at) VALUES (:owner, :queues, :expiresAt)
  ON CONFLICT (owner) DO UPDATE SET queues = excluded.queues, expires_at = excluded.expires_at`;

/** Forgets workers whose announcement expired (they stopped without withdrawing, or died). */
export const FORGET_EXPIRED_WORKERS = `
  DELETE FROM hw_workers WHERE expires_at < :now`;

/** Withdraws a worker's announcement (graceful shutdown). */
export const WITHDRAW_WORKER = `
  DELETE FROM hw_workers WHERE owner = :owner`;

/** The workers whose announcement is live, with their queues (a JSON array). */
export const LIVE_WORKERS = `
  SELECT owner, queues, expires_at FROM hw_workers WHERE expires_at > :now ORDER BY owner`;

/** Makes a pending job due now (its run time was later). */
export const RUN_NOW = `
  UPDATE hw_jobs SET run_at = :now WHERE id = :id AND state = 'pending' AND run_at > :now`;

/** Whether a job is pending (run now of a job already due changes nothing, yet succeeds). */
export const IS_PENDING = `
  SELECT 1 AS found FROM hw_jobs WHERE id = :id AND state = 'pending'`;

/**
 * Jobs finished per bucket since :since, completed and dead, by finish time. Two arms, each on an index: the prune
 * index (completed jobs by finish time) and the counts index (its partial predicate, repeated, lets SQLite use it).
 */
export const THROUGHPUT = `
  SELECT bucket, sum(completed) AS completed, sum(dead) AS dead FROM (
    SELECT (finished_at / CAST(:bucketMs AS INTEGER)) * CAST(:bucketMs AS INTEGER) AS bucket, 1 AS completed, 0 AS dead
    FROM hw_jobs WHERE state = 'completed' AND finished_at >= :since
    UNION ALL
    SELECT (finished_at / CAST(:bucketMs AS INTEGER)) * CAST(:bucketMs AS INTEGER) AS bucket, 0 AS completed, 1 AS dead
    FROM hw_jobs WHERE state = 'dead' AND state <> 'pending' AND finished_at >= :since)
  GROUP BY bucket
  ORDER BY bucket`;

/** Per queue, the pending jobs due at :now and the oldest one's run time (the claim index's pending rows). */
export const DUE_BACKLOG = `
  SELECT queue, COUNT(*) AS due, MIN(run_at) AS oldest FROM hw_jobs
  WHERE state = 'pending' AND run_at <= :now
  GROUP BY queue ORDER BY queue`;

/** The queues consumed by the workers whose announcement is live. */
export const LIVE_QUEUES = `
  SELECT DISTINCT q.value AS queue FROM hw_workers AS w, json_each(w.queues) AS q WHERE w.expires_at > :now`;
