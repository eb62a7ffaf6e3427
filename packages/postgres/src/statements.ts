/**
 * Every SQL statement of the PostgreSQL job store, one constant each, and {@link buildStatements}, which substitutes
 * the schema once per store and names each statement so the driver prepares it once per connection.
 *
 * Conventions:
 * - `{schema}` stands for the store's quoted schema; `$n` are bind parameters, with an explicit cast wherever the
 *   type could not be inferred, so the plan is the same for every driver (node-postgres, postgres.js).
 * - Times are bigint ms since the epoch (the interface's unit, so no conversion on the hot paths).
 * - A batch (jobs, settlements, ids) is one statement over `unnest` of arrays, never one statement per row.
 * - Every statement that changes a running job checks `lease_owner`, so a worker that lost its lease (recovered,
 *   perhaps re-claimed elsewhere) changes nothing. `lease_owner` is set exactly while a job runs (a claim sets it,
 *   every way out of running clears it), so the batch statements (settle, renew) match on it alone, by id: a
 *   `state = 'running'` there would let the planner walk the lease index (a partial index of running jobs, crowded
 *   with dead entries between vacuums) instead of the primary key, which we measured at 15 ms instead of 2 per batch.
 * - Wake-ups: `pg_notify` sits in the same statement as the write, so it is delivered if and only if the write
 *   commits. A `wake` CTE runs only because the final SELECT reads it (a plain SELECT CTE nobody reads is skipped).
 *   The payload names the sending store instance, whose own listener skips it (it woke its listeners in-process).
 * - Ids leave the database as text (`id::text`): the interface's ids are strings, and no precision is ever at stake.
 */

import { PAYLOAD_JSONB } from './payload-search.ts';
import { quoteSchema, statementName } from './schema-names.ts';

/**
 * Inserts a batch of jobs in order and reports, per job, its id and whether it was inserted.
 *
 * Ids are drawn first (`nextval`, in input order) so each input row knows its id whether or not it is stored.
 * `ON CONFLICT DO NOTHING` skips a job whose unique key a live job holds, including one inserted earlier in the same
 * batch (the first wins). A skipped job resolves to the holder: a row of this batch, else the live row this
 * statement's snapshot sees. A holder committed by another transaction after that snapshot stays unresolved (null
 * id); the store then looks it up with {@link SELECT_LIVE_JOBS_BY_UNIQUE_KEY}.
 *
 * A job with a lease owner is inserted already claimed (running, attempt 1) by a worker of the inserting process
 * (local dispatch); only pending jobs wake other workers.
 *
 * $1..$9 and $13, $14, $15 arrays, one element per job ($15 the metadata); $10 created_at; $11 channel; $12 payload.
 */
export const INSERT_JOBS = `
  WITH input AS (
    SELECT nextval('{schema}.jobs_id_seq') AS id, t.*
    FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bigint[], $6::integer[], $7::bigint[],
                $8::text[], $9::text[], $13::text[], $14::bigint[], $15::text[])
      WITH ORDINALITY AS t (name, queue, payload, priority, run_at, max_attempts, timeout_ms, unique_key, backoff,
                            lease_owner, lease_expires_at, metadata, ord)
  ),
  inserted AS (
    INSERT INTO {schema}.jobs
      (id, name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, unique_key, backoff, created_at,
       attempt, lease_owner, lease_expires_at, metadata)
    SELECT id, name, queue, payload, CASE WHEN lease_owner IS NULL THEN 'pending' ELSE 'running' END, priority,
           run_at, max_attempts, timeout_ms, unique_key, backoff, $10::bigint,
           CASE WHEN lease_owner IS NULL THEN 0 ELSE 1 END, lease_owner, lease_expires_at, metadata
    FROM input
    ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING id, unique_key, lease_owner
  ),
  wake AS (
    SELECT pg_notify($11, $12) FROM inserted WHERE lease_owner IS NULL LIMIT 1
  )
  SELECT COALESCE(mine.id, batch.id, live.id)::text AS id,
         mine.id IS NOT NULL AS inserted,
         (SELECT count(*) FROM wake) AS woke
  FROM input
  LEFT JOIN inserted AS mine ON mine.id = input.id
  LEFT JOIN inserted AS batch ON mine.id IS NULL AND batch.unique_key = input.unique_key
  LEFT JOIN {schema}.jobs AS live ON mine.id IS NULL AND batch.id IS NULL
    AND live.unique_key = input.unique_key AND live.state IN ('pending', 'running')
  ORDER BY input.ord`;

/**
 * One job without a unique key: the common enqueue of an API request, and the whole of a job's pickup latency when
 * it is dispatched locally. The same row as {@link INSERT_JOBS} writes, without drawing ids first, unnesting arrays
 * or resolving duplicates (no unique key, nothing to conflict with): about 0.2 ms less per insert here (1.0 against
 * 1.2 ms at the median, round trip and commit included). $1..$8 the job; $9 created_at; $10 channel; $11 payload;
 * $12 lease owner, $13 lease expiry (null unless dispatched locally); $14 metadata (null for none).
 */
export const INSERT_JOB = `
  WITH inserted AS (
    INSERT INTO {schema}.jobs
      (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, backoff, created_at, attempt,
       lease_owner, lease_expires_at, metadata)
    VALUES ($1, $2, $3, CASE WHEN $12::text IS NULL THEN 'pending' ELSE 'running' END, $4::integer, $5::bigint,
            $6::integer, $7::bigint, $8, $9::bigint, CASE WHEN $12::text IS NULL THEN 0 ELSE 1 END, $12,
            $13::bigint, $14::text)
    RETURNING id, lease_owner
  ),
  wake AS (
    SELECT pg_notify($10, $11) FROM inserted WHERE lease_owner IS NULL
  )
  SELECT id::text AS id, (SELECT count(*) FROM wake) AS woke FROM inserted`;

/** The live (pending or running) jobs holding the given unique keys; matches the partial unique index. */
export const SELECT_LIVE_JOBS_BY_UNIQUE_KEY = `
  SELECT id::text AS id, unique_key FROM {schema}.jobs
  WHERE unique_key = ANY($1::text[]) AND state IN ('pending', 'running')`;

/**
 * Claims the next due jobs of a queue, in one round trip:
 * - The inner SELECT walks the claim index in claim order and locks up to $3 rows, skipping rows another claimer
 *   holds (so concurrent claimers never wait for, nor get, the same job). It runs once, as an InitPlan.
 * - `claimed` leases them, found through the primary key by `id = ANY(ARRAY(...))`. Not a join: joining the
 *   locked ids to `jobs` lets the planner hash the whole table (a sequential scan of every row, pending or
 *   finished) for each claim, which cost about 40% of a claim of 500 on a table of 20,000 jobs.
 * - `later`: when fewer than $3 were due, the earliest future run time of the queue, so an idle worker sleeps
 *   exactly until then. It reads the statement's snapshot, where the claimed rows are still pending; they are due
 *   (run_at <= now) and `run_at > now` leaves them out.
 * - The LEFT JOIN returns one row with null job columns when nothing was claimed, so `next_run_at` always arrives.
 * - `set_config('synchronous_commit', 'off', true)` lets this statement's own transaction commit without waiting
 *   for its WAL flush (about 1 ms of a job's pickup on this kind of disk); `true` keeps it to that transaction. A
 *   claim lost in a server crash only puts its jobs back to pending, where they are claimed again: at-least-once
 *   delivery holds. Enqueues and settlements still wait for their flush.
 *
 * $1 queue, $2 now, $3 limit, $4 owner, $5 lease expiry. Read as arrays: the columns of the final SELECT, in order.
 */
export const CLAIM_JOBS = `
  WITH claimed AS (
    UPDATE {schema}.jobs AS j
    SET state = 'running', attempt = j.attempt + 1, lease_owner = $4, lease_expires_at = $5::bigint
    WHERE j.id = ANY(ARRAY(
      SELECT id FROM {schema}.jobs
      WHERE state = 'pending' AND queue = $1 AND run_at <= $2::bigint
        AND (SELECT set_config('synchronous_commit', 'off', true)) = 'off'
      ORDER BY priority DESC, run_at, id
      LIMIT $3::bigint
      FOR UPDATE SKIP LOCKED
    ))
    RETURNING j.id, j.name, j.queue, j.payload, j.priority, j.run_at, j.attempt, j.max_attempts, j.timeout_ms,
              j.backoff, j.created_at, j.metadata
  ),
  later AS (
    SELECT CASE WHEN (SELECT count(*) FROM claimed) < $3::bigint THEN (
      SELECT min(run_at) FROM {schema}.jobs
      WHERE state = 'pending' AND queue = $1 AND run_at > $2::bigint
    ) END AS next_run_at
  )
  SELECT c.id::text, c.name, c.queue, c.payload, c.priority, c.attempt, c.max_attempts, c.timeout_ms, c.backoff,
         c.created_at, later.next_run_at, c.metadata
  FROM later
  LEFT JOIN claimed AS c ON true
  ORDER BY c.priority DESC, c.run_at, c.id`;

/**
 * Writes a batch of settlements of every kind in one statement, from parallel arrays (one element per settlement):
 * - completed, dead, cancelled: finished at $6 (dead appends its error, completed stores its result);
 * - retry: back to pending at its run time with its error appended;
 * - release: back to pending at its run time, the attempt given back.
 * A retried or released job an operator asked to cancel while it ran is cancelled instead of run again.
 * When $9 (the batch holds retries or releases), other processes are woken: jobs handed back at shutdown must not
 * wait for another worker's poll.
 *
 * `j.id = ANY($2)` repeats the join condition on purpose: it gives the planner the primary-key path to the rows.
 * Without it, a lease owner the statistics have never seen looked so rare that the planner scanned the whole table.
 *
 * Completions with `remove` (a worker keeping no completed jobs) are not among them: `removed` deletes those rows.
 *
 * $1 owner; $2 ids; $3 kinds; $4 run times (null but for retry/release); $5 errors as JSON (null but for
 * retry/dead); $6 now; $7 channel; $8 payload; $9 wake; $10 ids of completions to delete; $11 results as JSON text
 * (null but for a completion whose handler returned one).
 */
export const SETTLE_JOBS = `
  WITH settled AS (
    UPDATE {schema}.jobs AS j
    SET state = CASE
          WHEN s.kind IN ('completed', 'dead', 'cancelled') THEN s.kind
          WHEN j.cancel_requested THEN 'cancelled'
          ELSE 'pending' END,
        finished_at = CASE
          WHEN s.kind IN ('completed', 'dead', 'cancelled') OR j.cancel_requested THEN $6::bigint END,
        run_at = COALESCE(s.run_at, j.run_at),
        attempt = CASE WHEN s.kind = 'release' THEN j.attempt - 1 ELSE j.attempt END,
        errors = CASE WHEN s.error IS NULL THEN j.errors ELSE j.errors || jsonb_build_array(s.error::jsonb) END,
        result = CASE WHEN s.kind = 'completed' THEN s.result ELSE j.result END,
        lease_owner = NULL,
        lease_expires_at = NULL
    FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[], $11::text[]) AS s (id, kind, run_at, error, result)
    WHERE j.id = ANY($2::bigint[]) AND j.id = s.id AND j.lease_owner = $1
    RETURNING j.id
  ),
  removed AS (
    DELETE FROM {schema}.jobs WHERE id = ANY($10::bigint[]) AND lease_owner = $1
  ),
  wake AS (
    SELECT pg_notify($7, $8) WHERE $9::boolean AND EXISTS (SELECT FROM settled)
  )
  SELECT (SELECT count(*) FROM settled) AS settled, (SELECT count(*) FROM wake) AS woke`;

/**
 * The common batch of {@link SETTLE_JOBS}: every settlement a completion. The same effect for those rows, without
 * the per-row kinds, run times and errors to unnest and choose between. $1 owner; $2 ids; $3 now.
 */
export const COMPLETE_JOBS = `
  UPDATE {schema}.jobs
  SET state = 'completed', finished_at = $3::bigint, lease_owner = NULL, lease_expires_at = NULL
  WHERE id = ANY($2::bigint[]) AND lease_owner = $1`;

/**
 * {@link COMPLETE_JOBS} for a batch where some handlers returned a result: $4 the results' JSON text, one per id (null
 * for none), unnested beside the ids as {@link SETTLE_JOBS} does. $1 owner; $2 ids; $3 now; $4 results.
 */
export const COMPLETE_JOBS_WITH_RESULTS = `
  UPDATE {schema}.jobs AS j
  SET state = 'completed', finished_at = $3::bigint, lease_owner = NULL, lease_expires_at = NULL, result = s.result
  FROM unnest($2::bigint[], $4::text[]) AS s (id, result)
  WHERE j.id = ANY($2::bigint[]) AND j.id = s.id AND j.lease_owner = $1`;

/**
 * A batch of completions with `remove`, the common batch of a worker that keeps no completed jobs: the rows are
 * deleted. A `DELETE` writes no new row version and no index entries, so it costs the server well under half of
 * {@link COMPLETE_JOBS}'s update. $1 owner; $2 ids.
 */
export const REMOVE_COMPLETED_JOBS = `
  DELETE FROM {schema}.jobs WHERE id = ANY($2::bigint[]) AND lease_owner = $1`;

/**
 * Extends the leases the owner still holds, in one statement:
 * - `held`: which of the ids this owner holds (the rest are lost), and which were asked to cancel;
 * - `locked` skips rows another transaction has locked, typically a `completeWithin` whose application transaction
 *   is still open: waiting for it would hold up the renewal of every other job of this worker (and their leases
 *   could expire meanwhile). Such a job is neither extended nor lost this time; the next heartbeat tries again.
 * $1 ids, $2 owner, $3 new expiry.
 */
export const RENEW_LEASES = `
  WITH held AS (
    SELECT id, cancel_requested FROM {schema}.jobs
    WHERE id = ANY($1::bigint[]) AND lease_owner = $2
  ),
  locked AS MATERIALIZED (
    SELECT j.id FROM {schema}.jobs AS j
    WHERE j.id IN (SELECT id FROM held) AND j.lease_owner = $2
    FOR UPDATE SKIP LOCKED
  ),
  renewed AS (
    UPDATE {schema}.jobs AS j SET lease_expires_at = $3::bigint
    FROM locked
    WHERE j.id = locked.id
    RETURNING j.id
  )
  SELECT held.id::text AS id, held.cancel_requested, (SELECT count(*) FROM renewed) AS renewed
  FROM held`;

/**
 * Returns jobs whose lease expired to pending (to dead after their last attempt; to cancelled if an operator asked),
 * recording a 'lease-expired' error for the attempt that was running. A job locked by another transaction (a
 * `completeWithin` not yet committed, a settle in flight) is skipped, so maintenance never waits behind an
 * application's transaction; the next pass sees it again. Wakes other processes when a job is pending again.
 * $1 now, $2 channel, $3 payload.
 */
export const RECOVER_EXPIRED_LEASES = `
  WITH expired AS MATERIALIZED (
    SELECT id FROM {schema}.jobs
    WHERE state = 'running' AND lease_expires_at < $1::bigint
    FOR UPDATE SKIP LOCKED
  ),
  recovered AS (
    UPDATE {schema}.jobs AS j
    SET state = CASE
          WHEN j.cancel_requested THEN 'cancelled'
          WHEN j.attempt < j.max_attempts THEN 'pending'
          ELSE 'dead' END,
        run_at = CASE WHEN NOT j.cancel_requested AND j.attempt < j.max_attempts THEN $1::bigint ELSE j.run_at END,
        finished_at = CASE WHEN NOT j.cancel_requested AND j.attempt < j.max_attempts THEN NULL ELSE $1::bigint END,
        errors = j.errors || jsonb_build_array(jsonb_build_object(
          'attempt', j.attempt,
          'at', $1::bigint,
          'message', 'lease of worker ' || j.lease_owner || ' expired; the worker probably crashed',
          'kind', 'lease-expired')),
        lease_owner = NULL,
        lease_expires_at = NULL
    FROM expired
    WHERE j.id = expired.id
    RETURNING j.state
  ),
  wake AS (
    SELECT pg_notify($2, $3) FROM recovered WHERE state = 'pending' LIMIT 1
  )
  SELECT (SELECT count(*) FROM recovered) AS recovered, (SELECT count(*) FROM wake) AS woke`;

/** $1 id, $2 progress (JSON text). */
export const UPDATE_PROGRESS = `
  UPDATE {schema}.jobs SET progress = $2
  WHERE id = $1::bigint AND state = 'running'`;

/**
 * cancel, in one statement: `target` locks the job and reads its current state (a concurrent claim or settle is
 * waited for, and later ones skip or wait for this lock); then a pending job is cancelled, a running one flagged for
 * its worker to learn at the next renewal. No row: not found. $1 id, $2 now.
 */
export const CANCEL_JOB = `
  WITH target AS (
    SELECT id, state FROM {schema}.jobs WHERE id = $1::bigint FOR UPDATE
  ),
  cancelled AS (
    UPDATE {schema}.jobs AS j SET state = 'cancelled', finished_at = $2::bigint
    FROM target
    WHERE j.id = target.id AND target.state = 'pending'
    RETURNING j.id
  ),
  flagged AS (
    UPDATE {schema}.jobs AS j SET cancel_requested = true
    FROM target
    WHERE j.id = target.id AND target.state = 'running'
    RETURNING j.id
  )
  SELECT target.state, (SELECT count(*) FROM cancelled) + (SELECT count(*) FROM flagged) AS changed
  FROM target`;

/**
 * retry of a dead or cancelled job: fresh attempts, history kept. Refused (no row) when a live job now holds the same
 * unique key; a holder inserted concurrently makes the unique index refuse it instead (the store reads that as
 * false). $1 id, $2 now, $3 channel, $4 payload.
 */
export const RETRY_FINISHED_JOB = `
  WITH retried AS (
    UPDATE {schema}.jobs AS j
    SET state = 'pending', attempt = 0, run_at = $2::bigint, finished_at = NULL, cancel_requested = false,
        progress = NULL, lease_owner = NULL, lease_expires_at = NULL
    WHERE j.id = $1::bigint AND j.state IN ('dead', 'cancelled')
      AND NOT EXISTS (
        SELECT FROM {schema}.jobs AS live
        WHERE live.unique_key = j.unique_key AND live.state IN ('pending', 'running'))
    RETURNING j.id
  ),
  wake AS (
    SELECT pg_notify($3, $4) FROM retried
  )
  SELECT (SELECT count(*) FROM retried) AS retried, (SELECT count(*) FROM wake) AS woke`;

/**
 * The payload filter: the field's text ($path, $text) and, when given, a containment among $containments that the
 * payload index can serve. The payload is text (stored as given): it is read as jsonb only for a payload filter.
 */
const PAYLOAD_CONDITION = (path: string, text: string, containments: string) => `
    AND (${path}::text[] IS NULL OR ${PAYLOAD_JSONB} #>> ${path}::text[] = ${text}::text)
    AND (${containments}::jsonb[] IS NULL OR ${PAYLOAD_JSONB} @> ANY(${containments}::jsonb[]))`;

const JOB_COLUMNS = `
  id::text AS id, name, queue, state, payload, priority, attempt, max_attempts, timeout_ms, run_at, unique_key,
  lease_owner, lease_expires_at, cancel_requested, progress, result, errors, created_at, finished_at`;

/** $1 id. */
export const SELECT_JOB = `
  SELECT ${JOB_COLUMNS}
  FROM {schema}.jobs
  WHERE id = $1::bigint`;

/** The jobs among $1 (ids), in any order: the waiters of `JobClient.waitFor` read theirs in one statement. */
export const SELECT_JOBS = `
  SELECT ${JOB_COLUMNS}
  FROM {schema}.jobs
  WHERE id = ANY($1::bigint[])`;

/**
 * A page of jobs, newest first (a backward walk of the primary key), above $11 (an id) when given; a null filter
 * matches everything. A payload filter ($8 path, $9 text, $10 containments, see payload-search.ts) or a lower id bound
 * ($11, a window of the dashboard's bounded search) runs as an unnamed statement, planned with its values: the planner
 * then drops the null conditions, bounds the walk by both ids and, with the payload index, picks the index for a rare
 * value and the walk for a common one. (A generic plan cannot use `$11 IS NULL OR j.id > $11` as a bound: a window
 * would walk on to the oldest job.)
 */
export const LIST_JOBS = `
  SELECT ${JOB_COLUMNS}
  FROM {schema}.jobs AS j
  WHERE j.id < $1::bigint
    AND ($11::bigint IS NULL OR j.id > $11::bigint)
    AND ($2::text IS NULL OR queue = $2)
    AND ($3::text IS NULL OR state = $3)
    AND ($4::text IS NULL OR name = $4)
    AND ($6::bigint IS NULL OR created_at >= $6)
    AND ($7::bigint IS NULL OR created_at < $7)
    ${PAYLOAD_CONDITION('$8', '$9', '$10')}
    AND ($12::bigint[] IS NULL OR j.id = ANY($12::bigint[]))
  -- j.id, the bigint key: a bare \`id\` would be the text output column, and order '9' after '10'.
  ORDER BY j.id DESC
  LIMIT $5::bigint`;

/** Whether the payload index ($2) of schema $1 exists and is valid (a CONCURRENTLY build that failed leaves it not). */
export const PAYLOAD_INDEX_VALID = `
  SELECT i.indisvalid AND i.indisready AS valid
  FROM pg_index AS i
  JOIN pg_class AS c ON c.oid = i.indexrelid
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relname = $2`;

/**
 * Jobs per queue and state, each arm from an index alone (after vacuum): the pending ones on the claim index, the
 * others on the states index (partial, so that the claim never uses it; deduplicated, so a few MB at a million jobs).
 * A script (run by StorePool.queryScript): the SET LOCAL keeps the plan serial. A parallel plan splits the scan of the
 * states index between workers, which on a busy machine made the counts 1.5 to 4 times slower than one process
 * reading it alone (measured at a million jobs, 2 cores, load average 2 to 4); parallel or not, the work is the same
 * index pages, and the serial scan answers in tens of milliseconds.
 */
export const COUNT_JOBS = `
  SET LOCAL max_parallel_workers_per_gather = 0;
  SELECT queue, 'pending' AS state, count(*) AS count FROM {schema}.jobs WHERE state = 'pending' GROUP BY queue
  UNION ALL
  SELECT queue, state, count(*) AS count FROM {schema}.jobs WHERE state <> 'pending' GROUP BY state, queue
  ORDER BY queue, state`;

/**
 * Deletes the jobs matching a filter (a null value matches everything; the payload filter as in LIST_JOBS, unnamed),
 * never a running one; at most $4 of them,
 * oldest first (null: all). The outer condition is checked again on each row as it is deleted, so a job claimed
 * meanwhile is kept.
 */
export const PURGE_JOBS = `
  DELETE FROM {schema}.jobs
  WHERE state <> 'running'
    AND id IN (
      SELECT id FROM {schema}.jobs
      WHERE state <> 'running'
        AND ($1::text IS NULL OR queue = $1)
        AND ($2::text IS NULL OR state = $2)
        AND ($3::text IS NULL OR name = $3)
        AND ($5::bigint IS NULL OR created_at >= $5)
        AND ($6::bigint IS NULL OR created_at < $6)
        ${PAYLOAD_CONDITION('$7', '$8', '$9')}
        AND ($10::bigint[] IS NULL OR id = ANY($10::bigint[]))
      ORDER BY id
      LIMIT $4::bigint)`;

/**
 * Deletes up to $3 completed jobs, oldest first, that finished before $1 or are not among the newest $2. The inner
 * query finds the newest job past that count on the prune index, ordered by (finished_at, id) so jobs finished in the
 * same millisecond are counted exactly. SKIP LOCKED: pruning never waits for (nor blocks) anyone.
 */
export const PRUNE_COMPLETED_JOBS = `
  DELETE FROM {schema}.jobs
  WHERE id IN (
    SELECT id FROM {schema}.jobs
    WHERE state = 'completed'
      AND (finished_at < $1::bigint
        OR (finished_at, id) <= (
          SELECT finished_at, id FROM {schema}.jobs
          WHERE state = 'completed'
          ORDER BY finished_at DESC, id DESC
          LIMIT 1 OFFSET $2::bigint))
    ORDER BY finished_at, id
    LIMIT $3::bigint
    FOR UPDATE SKIP LOCKED)`;

/**
 * Creates schedules, or updates them keeping their paused flag, and their next run unless the timing changed or
 * there was none. $1..$4 arrays, one element per schedule (names unique).
 */
export const UPSERT_SCHEDULES = `
  INSERT INTO {schema}.schedules AS s (name, cron, timezone, paused, next_run_at)
  SELECT name, cron, timezone, false, next_run_at
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t (name, cron, timezone, next_run_at)
  ON CONFLICT (name) DO UPDATE
  SET next_run_at = CASE
        WHEN s.cron IS DISTINCT FROM excluded.cron
          OR s.timezone IS DISTINCT FROM excluded.timezone
          OR s.next_run_at IS NULL
        THEN excluded.next_run_at
        ELSE s.next_run_at END,
      cron = excluded.cron,
      timezone = excluded.timezone`;

export const LIST_SCHEDULES = `
  SELECT name, cron, timezone, paused, next_run_at, last_run_at FROM {schema}.schedules
  ORDER BY name`;

/** Pauses or resumes a schedule; its next run changes only when $3. $1 name, $2 paused, $4 next run. */
export const SET_SCHEDULE_PAUSED = `
  UPDATE {schema}.schedules
  SET paused = $2::boolean,
      next_run_at = CASE WHEN $3::boolean THEN $4::bigint ELSE next_run_at END
  WHERE name = $1`;

/**
 * Compare-and-set of a schedule's next tick: changes its row only for the caller that read the current tick (a
 * concurrent caller waits for the row lock, re-reads the row and no longer matches). $1 name, $2 new next run,
 * $3 now, $4 expected next run.
 */
export const ADVANCE_SCHEDULE = `
  UPDATE {schema}.schedules
  SET next_run_at = $2::bigint, last_run_at = $3::bigint
  WHERE name = $1 AND next_run_at = $4::bigint AND NOT paused`;

/**
 * {@link ADVANCE_SCHEDULE} and the insert of the tick's job, as one statement (so one transaction): the job is
 * inserted only by the caller whose compare-and-set won. $5..$13 the job, $14 channel, $15 payload.
 */
export const TICK_SCHEDULE = `
  WITH advanced AS (
    UPDATE {schema}.schedules
    SET next_run_at = $2::bigint, last_run_at = $3::bigint
    WHERE name = $1 AND next_run_at = $4::bigint AND NOT paused
    RETURNING name
  ),
  inserted AS (
    INSERT INTO {schema}.jobs
      (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, unique_key, backoff, created_at)
    SELECT $5::text, $6::text, $7::text, 'pending', $8::integer, $9::bigint, $10::integer, $11::bigint, $12::text,
           $13::text, $3::bigint
    FROM advanced
    ON CONFLICT DO NOTHING
    RETURNING id
  ),
  wake AS (
    SELECT pg_notify($14, $15) FROM inserted
  )
  SELECT (SELECT count(*) FROM advanced) AS won, (SELECT count(*) FROM wake) AS woke`;

/**
 * Takes the maintenance leadership if it is free, expired, or already ours; returns a row only on success. Two
 * processes racing on a missing row: one inserts, the other waits for it and then sees a live foreign owner.
 * The leader renews it every pass (every second by default), so its commit does not wait for the WAL flush
 * (`synchronous_commit` off for this statement's transaction): a flush a second is load the server's other commits
 * (an enqueue's, a settle's) would otherwise wait behind. A renewal lost in a server crash only lets another process
 * take over sooner, and maintenance is safe to overlap (each of its writes checks the state it changes).
 * $1 owner, $2 expiry, $3 now.
 */
export const ACQUIRE_LEADERSHIP = `
  INSERT INTO {schema}.leader AS l (name, owner, expires_at)
  SELECT 'maintenance', $1, $2::bigint
  WHERE set_config('synchronous_commit', 'off', true) = 'off'
  ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
  WHERE l.owner = excluded.owner OR l.expires_at < $3::bigint
  RETURNING owner`;

/** Gives the leadership up (graceful shutdown). $1 owner. */
export const RELEASE_LEADERSHIP = `
  DELETE FROM {schema}.leader WHERE name = 'maintenance' AND owner = $1`;

/**
 * Announces a worker and its queues until $3, and forgets other workers whose announcement expired, in one statement.
 * Like the leadership, renewed every maintenance pass, so its commit does not wait for the WAL flush: a lost renewal
 * costs at most a warning that comes too soon. $1 owner, $2 queues (text[]), $3 expiry, $4 now.
 */
export const ANNOUNCE_WORKER = `
  WITH forgotten AS (
    DELETE FROM {schema}.workers WHERE expires_at < $4::bigint AND owner <> $1
  )
  INSERT INTO {schema}.workers AS w (owner, queues, expires_at)
  SELECT $1, $2::text[], $3::bigint
  WHERE set_config('synchronous_commit', 'off', true) = 'off'
  ON CONFLICT (owner) DO UPDATE SET queues = excluded.queues, expires_at = excluded.expires_at`;

/** Withdraws a worker's announcement (graceful shutdown). $1 owner. */
export const WITHDRAW_WORKER = `
  DELETE FROM {schema}.workers WHERE owner = $1`;

/** The workers whose announcement is live, with their queues. $1 now. */
export const LIVE_WORKERS = `
  SELECT owner, to_json(queues)::text AS queues, expires_at FROM {schema}.workers WHERE expires_at > $1::bigint
  ORDER BY owner`;

/**
 * Makes a pending job due now (its run time was later) and wakes the workers; `pending` tells whether the job is
 * pending at all (one already due is left as it is). $1 id, $2 now, $3 channel, $4 payload.
 */
export const RUN_NOW = `
  WITH moved AS (
    UPDATE {schema}.jobs SET run_at = $2::bigint
    WHERE id = $1::bigint AND state = 'pending' AND run_at > $2::bigint
    RETURNING id
  ),
  wake AS (
    SELECT pg_notify($3, $4) FROM moved
  )
  SELECT (SELECT count(*) FROM moved)::int AS moved, (SELECT count(*) FROM wake)::int AS woke,
         EXISTS (SELECT FROM {schema}.jobs WHERE id = $1::bigint AND state = 'pending') AS pending`;

/**
 * Jobs finished per bucket since $1, completed and dead, by finish time; $2 the bucket size in ms. Two arms, each on
 * an index: the prune index (completed jobs by finish time) and the dead index (dead jobs by finish time).
 */
export const THROUGHPUT = `
  SELECT bucket, sum(completed)::bigint AS completed, sum(dead)::bigint AS dead FROM (
    SELECT (finished_at / $2::bigint) * $2::bigint AS bucket, 1 AS completed, 0 AS dead
    FROM {schema}.jobs WHERE state = 'completed' AND finished_at >= $1::bigint
    UNION ALL
    SELECT (finished_at / $2::bigint) * $2::bigint AS bucket, 0 AS completed, 1 AS dead
    FROM {schema}.jobs WHERE state = 'dead' AND finished_at >= $1::bigint) AS finished
  GROUP BY bucket
  ORDER BY bucket`;

/** Per queue, the pending jobs due at $1 and the oldest one's run time (the claim index's pending rows). */
export const DUE_BACKLOG = `
  SELECT queue, count(*)::int AS due, min(run_at) AS oldest FROM {schema}.jobs
  WHERE state = 'pending' AND run_at <= $1::bigint
  GROUP BY queue ORDER BY queue`;

/** The queues consumed by the workers whose announcement is live. $1 now. */
export const LIVE_QUEUES = `
  SELECT DISTINCT unnest(queues) AS queue FROM {schema}.workers WHERE expires_at > $1::bigint`;

/** Completes a running job inside the caller's transaction; a row only if the owner still holds it. $1 id, $2 owner, $3 now. */
export const COMPLETE_WITHIN = `
  UPDATE {schema}.jobs
  SET state = 'completed', finished_at = $3::bigint, lease_owner = NULL, lease_expires_at = NULL
  WHERE id = $1::bigint AND lease_owner = $2 AND state = 'running'
  RETURNING id::text AS id`;

/** {@link COMPLETE_WITHIN} for a worker that keeps no completed jobs: the job is deleted. $1 id, $2 owner. */
export const REMOVE_WITHIN = `
  DELETE FROM {schema}.jobs
  WHERE id = $1::bigint AND lease_owner = $2 AND state = 'running'
  RETURNING id::text AS id`;

/**
 * The schema version, and the server's clock for the start-up clock check in the same round trip; fails with
 * undefined_table or invalid_schema_name before the first migration.
 */
export const SCHEMA_VERSION = `
  SELECT max(version) AS version, (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now
  FROM {schema}.migrations`;

/** The server's clock, in ms since the epoch (fractional): the clock check when there is no schema to read yet. */
export const SERVER_CLOCK = `
  SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now`;

/**
 * Appends outbox messages in order ($1..$7 and $9 arrays, one element per message, bodies as base64) and wakes the
 * relays on the jobs' channel ($8, payload $10), in the same statement so the notification is delivered if and only
 * if the rows commit.
 */
export const APPEND_OUTBOX = `
  WITH inserted AS (
    INSERT INTO {schema}.outbox (id, transport, destination, key, headers, body, delay_ms, created_at, next_attempt_at)
    SELECT id, transport, destination, key, headers, decode(body, 'base64'), delay_ms, created_at, created_at
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $9::bigint[])
      WITH ORDINALITY AS t (id, transport, destination, key, headers, body, delay_ms, created_at, ord)
    ORDER BY ord
    RETURNING seq
  ),
  wake AS (SELECT pg_notify($8, $10) FROM (SELECT 1 FROM inserted LIMIT 1) AS one)
  SELECT (SELECT count(*) FROM inserted) AS appended, (SELECT count(*) FROM wake) AS woke`;

/**
 * Claims the oldest due, unheld, unsent rows. A row with a key is left out while an earlier unsent row of its key is
 * held by a relay or waiting for its retry; one cut by LIMIT leaves every later row of its key out too (the LIMIT
 * takes a prefix in seq order). The store runs it after taking the schema's outbox advisory lock in the same
 * transaction, so two relays never both see a key's earlier row as free: the second's snapshot is taken after the
 * first's claim committed. $1 now, $2 limit, $3 owner, $4 lease expiry.
 */
export const CLAIM_OUTBOX = `
  UPDATE {schema}.outbox AS u SET lease_owner = $3, lease_expires_at = $4::bigint
  FROM (
    SELECT o.seq FROM {schema}.outbox AS o
    WHERE o.sent_at IS NULL AND o.next_attempt_at <= $1::bigint
      AND (o.lease_owner IS NULL OR o.lease_expires_at <= $1::bigint)
      AND (o.key IS NULL OR NOT EXISTS (
        SELECT 1 FROM {schema}.outbox AS e
        WHERE e.key = o.key AND e.seq < o.seq AND e.sent_at IS NULL
          AND (e.next_attempt_at > $1::bigint OR (e.lease_owner IS NOT NULL AND e.lease_expires_at > $1::bigint))))
    ORDER BY o.seq
    LIMIT $2
    FOR UPDATE
  ) AS c
  WHERE u.seq = c.seq
  RETURNING u.seq::text AS seq, u.id, u.transport, u.destination, u.key, u.headers, encode(u.body, 'base64') AS body,
            u.delay_ms, u.created_at,
            u.attempts`;

/** Marks rows sent ($1 seqs, $2 now), whoever holds them: the broker has them. */
export const MARK_OUTBOX_SENT = `
  UPDATE {schema}.outbox SET sent_at = $2::bigint, lease_owner = NULL, lease_expires_at = NULL
  WHERE seq = ANY($1::bigint[]) AND sent_at IS NULL`;

/** A failed publish of rows held by $2: $1 seqs, $3 next attempt, $4 error. */
export const RETRY_OUTBOX = `
  UPDATE {schema}.outbox
  SET attempts = attempts + 1, next_attempt_at = $3::bigint, last_error = $4, lease_owner = NULL,
      lease_expires_at = NULL
  WHERE seq = ANY($1::bigint[]) AND lease_owner = $2 AND sent_at IS NULL`;

/** Hands rows held by $2 back without counting an attempt ($1 seqs). */
export const RELEASE_OUTBOX = `
  UPDATE {schema}.outbox SET lease_owner = NULL, lease_expires_at = NULL
  WHERE seq = ANY($1::bigint[]) AND lease_owner = $2 AND sent_at IS NULL`;

/** Deletes up to $2 rows sent before $1, oldest first. */
export const PRUNE_OUTBOX = `
  DELETE FROM {schema}.outbox WHERE seq IN (
    SELECT seq FROM {schema}.outbox WHERE sent_at IS NOT NULL AND sent_at < $1::bigint ORDER BY sent_at LIMIT $2)`;

/** Unsent and sent rows. */
export const COUNT_OUTBOX = `
  SELECT count(*) FILTER (WHERE sent_at IS NULL)::integer AS unsent,
         count(*) FILTER (WHERE sent_at IS NOT NULL)::integer AS sent
  FROM {schema}.outbox`;

/** Whether consumer $1 processed message $2 (a record unexpired at $3). */
export const INBOX_HAS = `
  SELECT 1 AS found FROM {schema}.inbox WHERE consumer = $1 AND message_id = $2 AND expires_at > $3::bigint`;

/**
 * Records that consumer $1 processed message $2 at $3 until $4; a row unless an unexpired record exists. A second
 * transaction recording the same message waits for the first (the primary key), then finds its record.
 */
export const RECORD_INBOX = `
  INSERT INTO {schema}.inbox AS i (consumer, message_id, processed_at, expires_at)
  VALUES ($1, $2, $3::bigint, $4::bigint)
  ON CONFLICT (consumer, message_id) DO UPDATE SET processed_at = excluded.processed_at, expires_at = excluded.expires_at
  WHERE i.expires_at <= excluded.processed_at
  RETURNING 1 AS recorded`;

/** Deletes up to $2 records expired at $1. */
export const PRUNE_INBOX = `
  DELETE FROM {schema}.inbox WHERE (consumer, message_id) IN (
    SELECT consumer, message_id FROM {schema}.inbox WHERE expires_at <= $1::bigint LIMIT $2)`;

/** A statement ready for the driver: its text for one schema, and the name it is prepared under. */
export interface Statement {
  /** What it does, for warnings ('claim', 'settle', ...). */
  readonly label: string;
  /** '' for a statement planned at each run with its values (the driver's unnamed statement). */
  readonly name: string;
  readonly text: string;
}

/** Every statement of the store, for one schema. */
export type Statements = ReturnType<typeof buildStatements>;

/** The statements for `schema` (already validated), each substituted and named once. */
export function buildStatements(schema: string) {
  const at = (label: string, sql: string): Statement => {
    const text = substituteSchema(sql, schema);
    return { label, name: statementName(text), text };
  };
  // Planned at each run with its values (see LIST_JOBS): never prepared under a name.
  const unnamed = (label: string, sql: string): Statement => ({
    label,
    name: '',
    text: substituteSchema(sql, schema),
  });
  return {
    insertJobs: at('insert', INSERT_JOBS),
    insertJob: at('insert (one job)', INSERT_JOB),
    selectLiveJobsByUniqueKey: at('insert (duplicate lookup)', SELECT_LIVE_JOBS_BY_UNIQUE_KEY),
    claimJobs: at('claim', CLAIM_JOBS),
    settleJobs: at('settle', SETTLE_JOBS),
    completeJobs: at('settle (completions only)', COMPLETE_JOBS),
    completeJobsWithResults: at('settle (completions with results)', COMPLETE_JOBS_WITH_RESULTS),
    removeCompletedJobs: at('settle (completions removed)', REMOVE_COMPLETED_JOBS),
    renewLeases: at('renew', RENEW_LEASES),
    recoverExpiredLeases: at('recoverExpired', RECOVER_EXPIRED_LEASES),
    updateProgress: at('progress', UPDATE_PROGRESS),
    cancelJob: at('cancel', CANCEL_JOB),
    retryFinishedJob: at('retry', RETRY_FINISHED_JOB),
    selectJob: at('get', SELECT_JOB),
    selectJobs: at('getMany', SELECT_JOBS),
    listJobs: at('list', LIST_JOBS),
    listJobsPlanned: unnamed('list (payload filter or window)', LIST_JOBS),
    countJobs: unnamed('counts', COUNT_JOBS),
    payloadIndexValid: at('payloadFilterIndexed', PAYLOAD_INDEX_VALID),
    purgeJobs: at('purge', PURGE_JOBS),
    purgeJobsByPayload: unnamed('purge (payload filter)', PURGE_JOBS),
    pruneCompletedJobs: at('prune', PRUNE_COMPLETED_JOBS),
    upsertSchedules: at('upsertSchedules', UPSERT_SCHEDULES),
    listSchedules: at('listSchedules', LIST_SCHEDULES),
    setSchedulePaused: at('setSchedulePaused', SET_SCHEDULE_PAUSED),
    advanceSchedule: at('tickSchedule', ADVANCE_SCHEDULE),
    tickSchedule: at('tickSchedule', TICK_SCHEDULE),
    acquireLeadership: at('acquireLeadership', ACQUIRE_LEADERSHIP),
    releaseLeadership: at('releaseLeadership', RELEASE_LEADERSHIP),
    announceWorker: at('announceWorker', ANNOUNCE_WORKER),
    withdrawWorker: at('withdrawWorker', WITHDRAW_WORKER),
    liveQueues: at('liveQueues', LIVE_QUEUES),
    liveWorkers: at('listWorkers', LIVE_WORKERS),
    runNow: at('runNow', RUN_NOW),
    throughput: at('throughput', THROUGHPUT),
    dueBacklog: at('dueBacklog', DUE_BACKLOG),
    completeWithin: at('completeWithin', COMPLETE_WITHIN),
    removeWithin: at('completeWithin (removed)', REMOVE_WITHIN),
    appendOutbox: at('appendOutbox', APPEND_OUTBOX),
    claimOutbox: at('claimOutbox', CLAIM_OUTBOX),
    markOutboxSent: at('markOutboxSent', MARK_OUTBOX_SENT),
    retryOutbox: at('retryOutbox', RETRY_OUTBOX),
    releaseOutbox: at('releaseOutbox', RELEASE_OUTBOX),
    pruneOutbox: at('pruneOutbox', PRUNE_OUTBOX),
    countOutbox: at('countOutbox', COUNT_OUTBOX),
    inboxHas: at('inboxHas', INBOX_HAS),
    recordInbox: at('recordInbox', RECORD_INBOX),
    pruneInbox: at('pruneInbox', PRUNE_INBOX),
    schemaVersion: at('migrate (version check)', SCHEMA_VERSION),
    serverClock: at('migrate (clock check)', SERVER_CLOCK),
  };
}

/** Replaces every `{schema}` with the quoted schema name. */
export function substituteSchema(sql: string, schema: string): string {
  return sql.replaceAll('{schema}', quoteSchema(schema));
}
