/**
 * How values cross the driver: the parsers for the columns the store reads, bind values for arrays and ids, and the
 * conversion of rows to the engine's records.
 */
import type { AttemptError, ClaimedJob, JobCount, JobId, JobInfo, JobState, ScheduleRecord } from 'hostwork';
import type { CustomTypesConfig } from 'pg';

/** A row as the store's type parsers return it. */
export type Row = Record<string, unknown>;

const OID = { bool: 16, int8: 20, int4: 23, json: 114, jsonb: 3802 } as const;

const identity = (value: string): string => value;
const parseBool = (value: string): boolean => value === 't';

/**
 * The text parsers of the store's queries, passed with every query so the pool's (or the application's global)
 * type settings never change what the store reads: bigint times and counts as numbers (ms since the epoch fit a
 * double exactly; ids leave the database as text), jsonb parsed, everything else as text.
 */
export const STORE_TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number) => {
    switch (oid) {
      case OID.int8:
      case OID.int4:
        return Number;
      case OID.bool:
        return parseBool;
      case OID.json:
      case OID.jsonb:
        return JSON.parse;
      default:
        return identity;
    }
  }) as CustomTypesConfig['getTypeParser'],
};

/**
 * A PostgreSQL array literal (`{"a",NULL,"b"}`) of strings or integers, bound as one text parameter and cast in SQL
 * (`$1::text[]`). Encoding it here, rather than leaving arrays to the driver, makes the same values work with every
 * driver a transaction may come from.
 */
export function toArrayLiteral(values: readonly (string | number | null | undefined)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number') out += String(v);
    else out += `"${v.replace(ESCAPED, '\\$&')}"`;
  }
  return `${out}}`;
}

const ESCAPED = /["\\]/g;

/** The digits of a job id as the bigint key, or '-1' (which names no job) for a string that is not one of ours. */
export function toKey(id: JobId): string {
  return /^[1-9][0-9]{0,17}$/.test(id) ? id : '-1';
}

/** A row of CLAIM_JOBS, read as an array: the columns of its final SELECT, in order. */
export type ClaimedRow = readonly [
  id: string | null,
  name: string,
  queue: string,
  payload: string,
  priority: number,
  attempt: number,
  maxAttempts: number,
  timeoutMs: number,
  backoff: string | null,
  createdAt: number,
  nextRunAt: number | null,
  metadata: string | null,
];

export function toClaimedJob(row: ClaimedRow): ClaimedJob {
  const [
    id,
    name,
    queue,
    payload,
    priority,
    attempt,
    maxAttempts,
    timeoutMs,
    backoff,
    createdAt,
    ,
    metadata,
  ] = row;
  return {
    id: id!,
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

/** A row of SELECT_JOB and LIST_JOBS. */
export interface JobRow {
  readonly id: string;
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
  readonly cancel_requested: boolean;
  readonly progress: string | null;
  readonly result: string | null;
  readonly errors: AttemptError[];
  readonly created_at: number;
  readonly finished_at: number | null;
}

export function toJobInfo(r: JobRow): JobInfo {
  return {
    id: r.id,
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
    cancelRequested: r.cancel_requested,
    progress: r.progress === null ? null : parseJson(r.progress),
    result: r.result === null ? null : parseJson(r.result),
    errors: r.errors,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
  };
}

export interface CountRow {
  readonly queue: string;
  readonly state: JobState;
  readonly count: number;
}

export function toJobCount(r: CountRow): JobCount {
  return { queue: r.queue, state: r.state, count: r.count };
}

export interface ScheduleRow {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string | null;
  readonly paused: boolean;
  readonly next_run_at: number | null;
  readonly last_run_at: number | null;
}

export function toScheduleRecord(r: ScheduleRow): ScheduleRecord {
  return {
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    paused: r.paused,
    nextRunAt: r.next_run_at,
    lastRunAt: r.last_run_at,
  };
}

/** The stored JSON text as a value; text that is not JSON (written by hand) is returned as is. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
