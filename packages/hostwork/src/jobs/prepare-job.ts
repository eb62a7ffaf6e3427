import type { StandardSchemaV1 } from '@standard-schema/spec';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { StorableBackoff } from './backoff.ts';
import type { JobDefinition } from './job-definition.ts';
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
  job: JobDefinition<Input, Output>,
  payload: Input,
  options: EnqueueOptions,
  now: number,
): NewJob | Promise<NewJob> {
  const known = registry.job(job.name);
  if (known !== job) {
    throw new HostworkError(
      ErrorCodes.JOB_NOT_REGISTERED,
      known
        ? `A different definition named '${job.name}' is registered. Import the same definition object everywhere.`
        : `Job '${job.name}' is not registered. Fix: add it to addJobs(builder, { jobs: [...] }).`,
    );
  }
  if (options !== undefined && Object.keys(options).length > 0) {
    assertKnownKeys(`enqueue('${job.name}') options`, options, ENQUEUE_KEYS);
    validateJobDefaults(options, `enqueue('${job.name}')`);
  }
  const result = job.schema['~standard'].validate(payload);
  // Most validators answer synchronously: staying synchronous saves the enqueue hot path a promise hop.
  if (result instanceof Promise) return result.then((r) => toRow(job, payload, options, now, r));
  return toRow(job, payload, options, now, result);
}

function toRow<Input, Output>(
  job: JobDefinition<Input, Output>,
  payload: Input,
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
  if (!Number.isFinite(runAt)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `enqueue('${job.name}'): runAt/delay is not a valid time.`,
    );
  }
  return {
    name: job.name,
    queue: options.queue ?? d.queue,
    payload: JSON.stringify(payload) ?? 'null',
    priority: options.priority ?? d.priority,
    runAt,
    maxAttempts: options.maxAttempts ?? d.maxAttempts,
    timeoutMs: options.timeout ?? d.timeout,
    uniqueKey: options.uniqueKey ?? null,
    backoff: options.backoff ? JSON.stringify(options.backoff) : null,
  };
}
