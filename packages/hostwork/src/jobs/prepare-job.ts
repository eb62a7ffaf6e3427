import type { StandardSchemaV1 } from '@standard-schema/spec';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { StorableBackoff } from './backoff.ts';
import { LATEST_TIME } from './handler-values.ts';
import type { JobContract } from './job-contract.ts';
import { formatIssues, validateJobDefaults } from './job-definition.ts';
import type { NewJob } from './job-record.ts';
import type { JobRegistry } from './job-registry.ts';

/** Per-enqueue options; each overrides the job definition's default. */
export interface EnqueueOptions {
  /** Run no earlier than this time. */
  readonly runAt?: Date | number;
  /** Run no earlier than this many ms from now. */
  readonly delay?: number;
  readonly priority?: number;
  readonly queue?: string;
  readonly maxAttempts?: number;
  readonly backoff?: StorableBackoff;
  /** Per-attempt timeout in ms (0 = none). */
  readonly timeout?: number;
  /** While a job with this key is pending or running, enqueueing again stores nothing and returns that job's id. */
  readonly uniqueKey?: string;
  /**
   * The application's open transaction (a `pg` client or a postgres.js transaction, with the PostgreSQL store): the
   * job exists if and only if that transaction commits. Enqueues with `tx` are not coalesced with others.
   */
  readonly tx?: unknown;
}

const ENQUEUE_KEYS = [
  'runAt',
  'delay',
  'priority',
  'queue',
  'maxAttempts',
  'backoff',
  'timeout',
  'uniqueKey',
  'tx',
];

/**
 * Turns a definition, payload and options into a row to store: checks the job is registered, the options are known
 * and valid, and the payload passes the schema (naming each failing field). Nothing here touches the store.
 */
export function prepareJob<Input, Output>(
  registry: JobRegistry,
  job: JobContract<Input, Output>,
  payload: Input,
  options: EnqueueOptions,
  now: number,
): NewJob | Promise<NewJob> {
  const known = registry.accepts(job);
  if (known !== 'yes') {
    throw new HostworkError(
      ErrorCodes.JOB_NOT_REGISTERED,
      known === 'other'
        ? `A different definition named '${job.name}' is registered. Import the same contract or definition object everywhere.`
        : `Job '${job.name}' is not registered. Fix: add it (its contract or definition) to addJobs(builder, { jobs: [...] }).`,
    );
  }
  if (options !== undefined && Object.keys(options).length > 0) {
    assertKnownKeys(`enqueue('${job.name}') options`, options, ENQUEUE_KEYS);
    validateJobDefaults(options, `enqueue('${job.name}')`);
  }
  const result = job.schema['~standard'].validate(payload);
  // Most validators answer synchronously: staying synchronous saves the enqueue hot path a promise hop.
  if (result instanceof Promise) return result.then((r) => checkedOnce(job, toRow(job, options, now, r)));
  return checkedOnce(job, toRow(job, options, now, result));
}

/** Definitions whose schema was seen to accept its own stored output in this process. */
const acceptsItsOutput = new WeakSet<object>();

/**
 * The stored payload is the schema's output, and the worker validates it again before the handler runs. A schema
 * whose output it does not accept itself (a transform that changes the type, `z.string().transform(Number)`) would
 * make every job of it dead at run time; the first enqueue of each definition in a process checks this once and
 * refuses with the fix, instead of storing jobs that cannot run.
 */
function checkedOnce<Input, Output>(job: JobContract<Input, Output>, row: NewJob): NewJob | Promise<NewJob> {
  if (acceptsItsOutput.has(job)) return row;
  const again = job.schema['~standard'].validate(JSON.parse(row.payload));
  const verdict = (r: StandardSchemaV1.Result<Output>): NewJob => {
    if ((r as StandardSchemaV1.FailureResult).issues) {
      throw new HostworkError(
        ErrorCodes.JOB_INVALID_PAYLOAD,
        `The schema of job '${job.name}' does not accept its own output, which is what is stored and validated again before the handler runs; nothing was stored:\n${formatIssues((r as StandardSchemaV1.FailureResult).issues)}\nFix: make the schema accept the stored form too (no transform that changes the type; e.g. z.coerce, or z.union of both forms).`,
      );
    }
    acceptsItsOutput.add(job);
    return row;
  };
  return again instanceof Promise ? again.then(verdict) : verdict(again);
}

function toRow<Input, Output>(
  job: JobContract<Input, Output>,
  options: EnqueueOptions,
  now: number,
  result: StandardSchemaV1.Result<Output>,
): NewJob {
  if ((result as StandardSchemaV1.FailureResult).issues) {
    throw new HostworkError(
      ErrorCodes.JOB_INVALID_PAYLOAD,
      `Invalid payload for job '${job.name}'; nothing was stored:\n${formatIssues((result as StandardSchemaV1.FailureResult).issues)}`,
    );
  }
  const d = job.defaults;
  let runAt = now;
  if (options.runAt !== undefined)
    runAt = typeof options.runAt === 'number' ? options.runAt : options.runAt.getTime();
  else if (options.delay !== undefined) runAt = now + options.delay;
  if (!Number.isFinite(runAt) || Math.abs(runAt) > LATEST_TIME) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `enqueue('${job.name}'): runAt/delay is not a valid time (a Date, or ms within the range of a Date), got ${String(options.runAt ?? options.delay)}.`,
    );
  }
  // What is stored is what the schema returned (unknown keys stripped, defaults filled in, values transformed), so a
  // schema that strips a field (a secret) keeps it out of the store.
  const value = (result as StandardSchemaV1.SuccessResult<Output>).value;
  return {
    name: job.name,
    queue: options.queue ?? d.queue,
    payload: JSON.stringify(value) ?? 'null',
    priority: options.priority ?? d.priority,
    runAt,
    maxAttempts: options.maxAttempts ?? d.maxAttempts,
    timeoutMs: options.timeout ?? d.timeout,
    uniqueKey: options.uniqueKey ?? null,
    backoff: options.backoff ? JSON.stringify(options.backoff) : null,
  };
}
