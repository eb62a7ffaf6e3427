/**
 * The rows the SQLite store's statements return, and their conversion to the engine's records.
 * SQLite keys are integers; the engine's ids are strings. JSON columns are parsed here, once per row read.
 */
import type { SQLOutputValue } from 'node:sqlite';
import type {
  AttemptError,
  ClaimedJob,
  JobCount,
  JobId,
  JobInfo,
  JobState,
  ScheduleRecord,
} from '../../jobs/job-record.ts';

/** A row as node:sqlite returns it, before it is read as one of the shapes below. */
export type Row = Record<string, SQLOutputValue>;

/** A row of CLAIM_JOBS, read as an array (cheaper than an object on this hot path): its RETURNING columns in order. */
export type ClaimedRow = readonly [
  priority: number,
  runAt: number,
  id: number,
  name: string,
  queue: string,
  payload: string,
  attempt: number,
  maxAttempts: number,
  timeoutMs: number,
  backoff: string | null,
  createdAt: number,
  metadata: string | null,
];

/** A row of SELECT_JOB and LIST_JOBS. */
interface JobRow {
  readonly id: number;
  readonly name: string;
  readonly queue: string;
  readonly state: JobState;
  readonly payload: string;
  readonly priority: number;
  readonly attempt: number;
  readonly max_attempts: number;
  readonly timeout_ms: number;
  readonly run_at: number;
  readonly unique_key: string | null;
  readonly lease_owner: string | null;
  readonly lease_expires_at: number | null;
  readonly cancel_requested: number;
  readonly progress: string | null;
  readonly result: string | null;
  readonly errors: string;
  readonly created_at: number;
  readonly finished_at: number | null;
}

interface ScheduleRow {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string | null;
  readonly paused: number;
  readonly next_run_at: number | null;
  readonly last_run_at: number | null;
}

/**
 * The row id for a job id, or -1 (which names no job) for a string that is not one of ours,
 * so a lookup of a malformed id finds nothing instead of failing.
 */
export function toRowId(id: JobId): number {
  const n = Number(id);
  return Number.isSafeInteger(n) && n > 0 ? n : -1;
}

/** Claim order: highest priority, then earliest run time, then oldest. */
export function byClaimOrder(a: ClaimedRow, b: ClaimedRow): number {
  return b[0] - a[0] || a[1] - b[1] || a[2] - b[2];
}

export function toClaimedJob(row: ClaimedRow): ClaimedJob {
  const [
    priority,
    ,
    id,
    name,
    queue,
    payload,
    attempt,
    maxAttempts,
    timeoutMs,
    backoff,
    createdAt,
    metadata,
  ] = row;
  return {
    id: String(id),
    name,
    queue,
    payload,
    priority,
    attempt,
    maxAttempts,
    timeoutMs,
    backoff,
    createdAt,
    metadata,
  };
}

export function toJobInfo(row: Row): JobInfo {
  const r = row as unknown as JobRow;
  return {
    id: String(r.id),
    name: r.name,
    queue: r.queue,
    state: r.state,
    payload: parseJson(r.payload),
    priority: r.priority,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms,
    runAt: r.run_at,
    uniqueKey: r.unique_key,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    cancelRequested: r.cancel_requested === 1,
    progress: r.progress === null ? null : parseJson(r.progress),
    result: r.result === null ? null : parseJson(r.result),
    errors: parseJson(r.errors) as AttemptError[],
    createdAt: r.created_at,
    finishedAt: r.finished_at,
  };
}

export function toJobCount(row: Row): JobCount {
  return { queue: row.queue as string, state: row.state as JobState, count: row.count as number };
}

export function toScheduleRecord(row: Row): ScheduleRecord {
  const r = row as unknown as ScheduleRow;
  return {
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    paused: r.paused === 1,
    nextRunAt: r.next_run_at,
    lastRunAt: r.last_run_at,
  };
}

/** The stored JSON text as a value; text that is not JSON (written by hand into the file) is returned as is. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
