import type { Scope, ScopeFactory } from '../di/scope.ts';
import type { ServiceProvider } from '../di/service-provider.ts';
import { ErrorCodes, HostworkError } from '../errors.ts';
import { JobAbortError } from '../jobs/attempt-context.ts';
import type { Logger } from '../logging/logger-factory.ts';
import type { MessageContext } from './consumer-definition.ts';
import type { Delivery, Headers } from './transport.ts';

/** Why a running handler's signal aborted. */
export type DeliveryAbortCause = 'timeout' | 'shutdown';

/**
 * The context of one delivery's handler. As with a job attempt's context, the signal, the logger and the DI scope
 * are created on first use only; the signal aborts with the job engine's `AbortError` (its `abortCause` names why).
 */
export class DeliveryContext implements MessageContext {
  readonly delivery: Delivery;
  readonly type: string;
  readonly consumer: string;
  readonly maxAttempts: number;
  #controller: AbortController | undefined;
  #abortReason: JobAbortError | undefined;
  #logger: Logger | undefined;
  #scope: Scope | undefined;
  readonly #parentLogger: Logger;
  readonly #scopes: ScopeFactory;
  readonly #recordWithin: ((tx: unknown) => Promise<boolean>) | undefined;
  /** Set once `completeWithin` recorded the message: the engine then writes no record of its own. */
  recordedWithin = false;

  constructor(
    delivery: Delivery,
    type: string,
    consumer: string,
    maxAttempts: number,
    logger: Logger,
    scopes: ScopeFactory,
    recordWithin?: (tx: unknown) => Promise<boolean>,
  ) {
    this.delivery = delivery;
    this.type = type;
    this.consumer = consumer;
    this.maxAttempts = maxAttempts;
    this.#parentLogger = logger;
    this.#scopes = scopes;
    this.#recordWithin = recordWithin;
  }

  async completeWithin(tx: unknown): Promise<boolean> {
    if (this.#recordWithin === undefined) {
      throw new HostworkError(
        ErrorCodes.INBOX_UNAVAILABLE,
        `Consumer '${this.consumer}': ctx.completeWithin(tx) records the message in the consumer's inbox, which it has not. Fix: defineConsumer({ ..., inbox: { windowMs } }).`,
      );
    }
    const recorded = await this.#recordWithin(tx);
    if (recorded) this.recordedWithin = true;
    return recorded;
  }

  get id(): string {
    return this.delivery.id;
  }
  get attempt(): number {
    return this.delivery.attempt;
  }
  get headers(): Headers {
    return this.delivery.headers;
  }
  get key(): string | undefined {
    return this.delivery.key;
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#abortReason && !this.#controller.signal.aborted) this.#controller.abort(this.#abortReason);
    return this.#controller.signal;
  }

  get logger(): Logger {
    this.#logger ??= this.#parentLogger.child({
      messageId: this.delivery.id,
      message: this.type,
      consumer: this.consumer,
      attempt: this.delivery.attempt,
    });
    return this.#logger;
  }

  get services(): ServiceProvider {
    this.#scope ??= this.#scopes.createScope();
    return this.#scope.services;
  }

  /** Aborts the handler's signal (once). */
  abort(cause: DeliveryAbortCause, message: string): void {
    if (this.#abortReason) return;
    // JobAbortError's causes include these two: handlers test `signal.reason.abortCause` the same way for both.
    this.#abortReason = new JobAbortError(cause, message);
    this.#controller?.abort(this.#abortReason);
  }

  /** Why the signal aborted, if it did. */
  get abortCause(): DeliveryAbortCause | undefined {
    return this.#abortReason?.abortCause as DeliveryAbortCause | undefined;
  }

  /** Disposes the delivery's scope if one was created. */
  dispose(): Promise<void> | undefined {
    return this.#scope?.dispose();
  }
}
