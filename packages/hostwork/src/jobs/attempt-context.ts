import type { Scope, ScopeFactory } from '../di/scope.ts';
import type { ServiceProvider } from '../di/service-provider.ts';
import type { Logger } from '../logging/logger-factory.ts';
import { checkDelay } from './handler-values.ts';
import type { JobContext, Snooze } from './job-definition.ts';
import type { ClaimedJob, JobId } from './job-record.ts';

/** Why a running job's signal aborted. */
export type AbortCause = 'timeout' | 'cancelled' | 'lease-lost' | 'shutdown';

/** The error a job's signal aborts with; `cause` tells the engine how to settle the attempt. */
export class JobAbortError extends Error {
  readonly abortCause: AbortCause;
  constructor(abortCause: AbortCause, message: string) {
    super(message);
    this.name = 'AbortError';
    this.abortCause = abortCause;
  }
}

/**
 * What every attempt run by one worker shares, made once per worker: a context then holds one reference to it
 * instead of a logger, a scope factory and two callbacks of its own.
 */
export interface AttemptEnvironment {
  /** The logger that `ctx.logger` is a child of. */
  readonly logger: Logger;
  /** Where `ctx.services` gets its scope. */
  readonly scopes: ScopeFactory;
  /** Called by `ctx.progress(value)`. */
  progress(ctx: AttemptContext, value: unknown): void;
  /** Called by `ctx.completeWithin(tx)`. */
  completeWithin(ctx: AttemptContext, tx: unknown): Promise<void>;
}

/**
 * The context of one attempt. The logger and the DI scope are created on first use only, so a handler that
 * needs neither costs neither: this object is made for every job on the hot path.
 */
export class AttemptContext implements JobContext {
  readonly job: ClaimedJob;
  /** Created on first use: most short jobs never look at their signal, and this object is per job. */
  #controller: AbortController | undefined;
  #abortReason: JobAbortError | undefined;
  readonly startedAt = performance.now();
  #logger: Logger | undefined;
  #scope: Scope | undefined;
  readonly #env: AttemptEnvironment;
  /** Set once the job was completed through the handler's own transaction: the engine then writes nothing. */
  completedWithin = false;

  constructor(job: ClaimedJob, env: AttemptEnvironment) {
    this.job = job;
    this.#env = env;
  }

  get id(): JobId {
    return this.job.id;
  }
  get name(): string {
    return this.job.name;
  }
  get queue(): string {
    return this.job.queue;
  }
  get attempt(): number {
    return this.job.attempt;
  }
  get maxAttempts(): number {
    return this.job.maxAttempts;
  }
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#abortReason && !this.#controller.signal.aborted) this.#controller.abort(this.#abortReason);
    return this.#controller.signal;
  }

  get logger(): Logger {
    this.#logger ??= this.#env.logger.child({
      jobId: this.job.id,
      job: this.job.name,
      attempt: this.job.attempt,
    });
    return this.#logger;
  }

  get services(): ServiceProvider {
    this.#scope ??= this.#env.scopes.createScope();
    return this.#scope.services;
  }

  progress(value: unknown): void {
    this.#env.progress(this, value);
  }

  async completeWithin(tx: unknown): Promise<void> {
    await this.#env.completeWithin(this, tx);
    this.completedWithin = true;
  }

  snooze(delayMs: number): Snooze {
    return new SnoozeResult(checkDelay(`ctx.snooze(${String(delayMs)})`, delayMs, Date.now()));
  }

  /** Aborts the attempt's signal with a cause the engine understands. */
  abort(cause: AbortCause, message: string): void {
    if (this.#abortReason) return;
    this.#abortReason = new JobAbortError(cause, message);
    this.#controller?.abort(this.#abortReason);
  }

  /** Why the signal aborted, if it did. */
  get abortCause(): AbortCause | undefined {
    return this.#abortReason?.abortCause;
  }

  /**
   * Disposes the attempt's scope if one was created. Without a scope it returns `undefined`, not a promise, so the
   * common job that never asked for services costs no promise and no extra turn of the microtask queue.
   */
  dispose(): Promise<void> | undefined {
    return this.#scope?.dispose();
  }
}

/** The value behind {@link JobContext.snooze}. */
export class SnoozeResult implements Snooze {
  readonly snoozeMs: number;
  constructor(snoozeMs: number) {
    this.snoozeMs = snoozeMs;
  }
}
