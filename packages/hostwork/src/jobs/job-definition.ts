import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { ServiceProvider } from '../di/service-provider.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { Logger } from '../logging/logger-factory.ts';
import type { Backoff } from './backoff.ts';
import { defaultBackoff, validateBackoff } from './backoff.ts';
import type { JobContract } from './job-contract.ts';
import type { JobId } from './job-record.ts';

/** Returned by `ctx.snooze()`: retry later without counting a failed attempt. */
export interface Snooze {
  readonly snoozeMs: number;
}

/** What a handler receives besides its payload. */
export interface JobContext {
  readonly id: JobId;
  readonly name: string;
  readonly queue: string;
  /** 1 for the first run. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Aborts on timeout, on cancellation by an operator, when the lease is lost, and at the end of shutdown. */
  readonly signal: AbortSignal;
  /** A logger bound to this job (job id, name, attempt). */
  readonly logger: Logger;
  /** A DI scope for this attempt, disposed when the attempt ends. */
  readonly services: ServiceProvider;
  /** Reports progress (any JSON value); stored with the job and emitted as a `progress` event. */
  progress(value: unknown): void;
  /**
   * Completes this job inside the handler's own database transaction `tx` (PostgreSQL store), so the job's completion
   * and the handler's effects commit together: if the transaction rolls back, the job is not completed and runs again.
   * Call it just before committing; after it, return normally.
   */
  completeWithin(tx: unknown): Promise<void>;
  /** `return ctx.snooze(ms)` to run again after `ms` without counting this attempt as failed. */
  snooze(delayMs: number): Snooze;
}

/** A job's work. Resolve to succeed; throw to fail the attempt (it is retried after the backoff). */
export type JobHandler<Payload> = (payload: Payload, ctx: JobContext) => unknown;

/** Per-definition defaults; each can be overridden per enqueue. */
export interface JobDefaults {
  /** Default: 'default'. */
  readonly queue: string;
  /** Higher runs first. Default: 0. */
  readonly priority: number;
  /** Attempts before the job goes to 'dead'. Default: 10. */
  readonly maxAttempts: number;
  /** Default: exponential from 2 s with jitter (see `defaultBackoff`). */
  readonly backoff: Backoff;
  /** Per-attempt timeout in ms; 0 for none. Default: 0. */
  readonly timeout: number;
}

/** The defaults, in one place. */
export const jobDefaults: JobDefaults = {
  queue: 'default',
  priority: 0,
  maxAttempts: 10,
  backoff: defaultBackoff,
  timeout: 0,
};

/** What {@link defineJob} takes. */
export interface JobDefinitionInput<S extends StandardSchemaV1> extends Partial<JobDefaults> {
  /** Unique, stable name: it is stored with every job and routes it to this handler. */
  readonly name: string;
  /** Any Standard Schema (zod, valibot, arktype...). Validated at enqueue and again before the handler runs. */
  readonly schema: S;
  readonly handle: JobHandler<StandardSchemaV1.InferOutput<S>>;
}

/** A job definition: typed by its schema from `enqueue` to the handler. It is also a {@link JobContract}. */
export interface JobDefinition<Input = unknown, Output = Input> extends JobContract<Input, Output> {
  readonly handle: JobHandler<Output>;
  /** The contract this definition implements, when made with `defineJob(contract, handle)`. */
  readonly contract?: JobContract<Input, Output>;
}

const KEYS = ['name', 'schema', 'handle', 'queue', 'priority', 'maxAttempts', 'backoff', 'timeout'];

/**
 * Defines a job: its name, payload schema, defaults and handler. Enqueueing it with a payload of the wrong type does
 * not compile; a payload that fails the schema at run time is refused at enqueue, before anything is stored.
 *
 * @example
 * ```ts
 * export const SendEmail = defineJob({
 *   name: 'send-email',
 *   schema: z.object({ to: z.email(), subject: z.string() }),
 *   maxAttempts: 5,
 *   async handle({ to, subject }, ctx) { await ctx.services.get(Mailer).send(to, subject, ctx.signal); },
 * });
 * ```
 */
export function defineJob<S extends StandardSchemaV1>(
  input: JobDefinitionInput<S>,
): JobDefinition<StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>>;
/**
 * Implements a contract made with `defineJobContract`: the handler receives the contract's schema output, and the
 * job keeps the contract's name and defaults. Producers enqueue the contract; this definition runs its jobs.
 *
 * @example
 * ```ts
 * import { SendEmail } from './contracts.ts';
 * export const SendEmailJob = defineJob(SendEmail, async ({ to, subject }, ctx) => {
 *   await ctx.services.get(Mailer).send(to, subject, ctx.signal);
 * });
 * ```
 */
export function defineJob<Input, Output>(
  contract: JobContract<Input, Output>,
  handle: JobHandler<NoInfer<Output>>,
): JobDefinition<Input, Output>;
export function defineJob(
  input: JobDefinitionInput<StandardSchemaV1> | JobContract,
  handle?: JobHandler<unknown>,
): JobDefinition {
  // A contract (or a spread of one) carries resolved `defaults`; options never do.
  if (handle !== undefined || 'defaults' in input) return implementContract(input as JobContract, handle);
  const options = input as JobDefinitionInput<StandardSchemaV1>;
  const where = `defineJob('${options.name}')`;
  assertKnownKeys(where, options, KEYS);
  if (typeof options.name !== 'string' || options.name.length === 0) {
    throw new HostworkError(ErrorCodes.INVALID_OPTION, 'defineJob: name must be a non-empty string.');
  }
  assertSchema(options.schema, where);
  assertHandler(options.handle, where);
  const defaults = resolveJobDefaults(options, where);
  return { name: options.name, schema: options.schema, handle: options.handle, defaults };
}

/** `defineJob(contract, handle)`: checks both and keeps the contract's name, schema and defaults. */
function implementContract(contract: JobContract, handle: JobHandler<unknown> | undefined): JobDefinition {
  const name = (contract as Partial<JobContract> | null)?.name;
  const where = `defineJob(contract '${String(name)}', handle)`;
  if (
    typeof contract !== 'object' ||
    contract === null ||
    typeof name !== 'string' ||
    typeof contract.defaults !== 'object'
  ) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: the first argument must be a contract made with defineJobContract({ name, schema, ... }); to define a job in one piece, pass only defineJob({ name, schema, handle }).`,
    );
  }
  if (typeof (contract as { handle?: unknown }).handle === 'function') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      handle === undefined
        ? `${where}: pass the handler as the second argument, defineJob(contract, handle), not inside the contract.`
        : `${where}: '${name}' is already a job definition with a handler; implement a contract made with defineJobContract instead.`,
    );
  }
  assertSchema(contract.schema, where);
  assertHandler(handle, where);
  return { name, schema: contract.schema, handle: handle!, defaults: contract.defaults, contract };
}

function assertHandler(handle: unknown, where: string): void {
  if (typeof handle !== 'function') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: handle must be a function (payload, ctx) => ...`,
    );
  }
}

/** Refuses a schema that is not a Standard Schema, naming where. */
export function assertSchema(schema: unknown, where: string): void {
  const standard = (schema as Partial<StandardSchemaV1> | null | undefined)?.['~standard'];
  if (!schema || typeof standard?.validate !== 'function') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: schema must be a Standard Schema (zod, valibot, arktype, ...).`,
    );
  }
}

/** The defaults of a definition or contract: each given value checked, each missing one from {@link jobDefaults}. */
export function resolveJobDefaults(input: Partial<JobDefaults>, where: string): JobDefaults {
  const defaults: JobDefaults = {
    queue: input.queue ?? jobDefaults.queue,
    priority: input.priority ?? jobDefaults.priority,
    maxAttempts: input.maxAttempts ?? jobDefaults.maxAttempts,
    backoff: input.backoff ?? jobDefaults.backoff,
    timeout: input.timeout ?? jobDefaults.timeout,
  };
  validateJobDefaults(defaults, where);
  return defaults;
}

/** Checks queue, priority, attempts, timeout and backoff values, naming the bad one. */
export function validateJobDefaults(d: Partial<JobDefaults>, where: string): void {
  const bad = (key: string, rule: string, value: unknown) =>
    new HostworkError(ErrorCodes.INVALID_OPTION, `${where}: ${key} ${rule}, got ${JSON.stringify(value)}.`);
  if (d.queue !== undefined && (typeof d.queue !== 'string' || d.queue === '')) {
    throw bad('queue', 'must be a non-empty string', d.queue);
  }
  if (d.priority !== undefined && !Number.isInteger(d.priority))
    throw bad('priority', 'must be an integer', d.priority);
  if (d.maxAttempts !== undefined && !(Number.isInteger(d.maxAttempts) && d.maxAttempts >= 1)) {
    throw bad('maxAttempts', 'must be an integer >= 1', d.maxAttempts);
  }
  if (d.timeout !== undefined && !(Number.isFinite(d.timeout) && d.timeout >= 0)) {
    throw bad('timeout', 'must be a number of ms >= 0 (0 = none)', d.timeout);
  }
  if (d.backoff !== undefined) validateBackoff(d.backoff, where);
}

/** Formats Standard Schema issues as one line per failing field: `to: Invalid email`. */
export function formatIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  return issues
    .map((issue) => {
      const path = (issue.path ?? [])
        .map((p) => (typeof p === 'object' && p !== null && 'key' in p ? p.key : p))
        .map(String)
        .join('.');
      return `  - ${path || '(payload)'}: ${issue.message}`;
    })
    .join('\n');
}
