import type { StandardSchemaV1 } from '@standard-schema/spec';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { JobDefaults } from './job-definition.ts';
import { assertSchema, resolveJobDefaults } from './job-definition.ts';

/**
 * What a job is, without what it does: its name, the schema of its payload and its defaults. A producer (an API
 * process) enqueues a contract without importing the handler's code and dependencies; the worker implements it with
 * `defineJob(contract, handle)`. Every {@link JobDefinition} is also a contract.
 */
export interface JobContract<Input = unknown, Output = Input> {
  /** Unique, stable name: it is stored with every job and routes it to the handler implementing the contract. */
  readonly name: string;
  /** Validated at enqueue (the schema's output is stored) and again before the handler runs. */
  readonly schema: StandardSchemaV1<Input, Output>;
  readonly defaults: JobDefaults;
}

/** What {@link defineJobContract} takes. */
export interface JobContractInput<S extends StandardSchemaV1> extends Partial<JobDefaults> {
  /** Unique, stable name: it is stored with every job and routes it to the handler implementing the contract. */
  readonly name: string;
  /** Any Standard Schema (zod, valibot, arktype...). Validated at enqueue and again before the handler runs. */
  readonly schema: S;
}

const KEYS = ['name', 'schema', 'queue', 'priority', 'maxAttempts', 'backoff', 'timeout'];

/**
 * Defines a job's contract apart from its handler. Put contracts in a module of their own that imports only the
 * schema library: the API process enqueues them (typed by the schema, validated before anything is stored) without
 * loading the worker's code, and the worker implements each with `defineJob(contract, handle)`.
 *
 * @example
 * ```ts
 * // contracts.ts: imported by the API and the worker
 * export const SendEmail = defineJobContract({
 *   name: 'send-email',
 *   schema: z.object({ to: z.email(), subject: z.string() }),
 *   queue: 'emails',
 *   maxAttempts: 5,
 * });
 *
 * // api.ts: enqueues, no handler code loaded
 * addJobs(builder, { jobs: [SendEmail], worker: false });
 * await host.services.get(JobClient).enqueue(SendEmail, { to: 'a@example.com', subject: 'Hi' });
 *
 * // worker.ts: runs it
 * export const SendEmailJob = defineJob(SendEmail, async ({ to, subject }, ctx) => {
 *   await ctx.services.get(Mailer).send(to, subject, ctx.signal);
 * });
 * addJobs(builder, { jobs: [SendEmailJob], worker: { queues: { emails: { concurrency: 10 } } } });
 * ```
 */
export function defineJobContract<S extends StandardSchemaV1>(
  input: JobContractInput<S>,
): JobContract<StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>> {
  const where = `defineJobContract('${input.name}')`;
  if ('handle' in input) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: a contract has no handler. Define the job with defineJob({ name, schema, handle }), or implement the contract with defineJob(contract, handle).`,
    );
  }
  assertKnownKeys(where, input, KEYS);
  if (typeof input.name !== 'string' || input.name.length === 0) {
    throw new HostworkError(ErrorCodes.INVALID_OPTION, 'defineJobContract: name must be a non-empty string.');
  }
  assertSchema(input.schema, where);
  return { name: input.name, schema: input.schema, defaults: resolveJobDefaults(input, where) };
}

/** Whether a registered contract or definition runs here: it has a handler. */
export function hasHandler(
  job: JobContract,
): job is JobContract & { readonly handle: (...args: never[]) => unknown } {
  return typeof (job as { handle?: unknown }).handle === 'function';
}

/** The contract a job implements: itself for a contract or a definition made from options, else its contract. */
export function contractOf(job: JobContract): JobContract {
  return (job as { contract?: JobContract }).contract ?? job;
}
