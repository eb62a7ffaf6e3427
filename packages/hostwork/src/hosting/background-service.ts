import type { HostedService } from './hosted-service.ts';

/**
 * A long-running hosted service: implement {@link execute} and honour its signal.
 * `execute` starts on a fresh macrotask, so a slow synchronous beginning never delays the start of the other
 * services. If it throws or rejects, the host logs the error with its stack and, by default, stops with a
 * non-zero exit code (`HostOptions.backgroundServiceExceptionBehavior`).
 *
 * @example
 * ```ts
 * class Ticker extends BackgroundService {
 *   protected async execute(signal: AbortSignal) {
 *     for await (const _ of setInterval(1000, undefined, { signal })) console.log('tick');
 *   }
 * }
 * ```
 */
export abstract class BackgroundService implements HostedService {
  readonly #stopping = new AbortController();
  #execution: Promise<void> | undefined;

  /** The work of the service. Return (or reject with the signal's reason) once `signal` aborts. */
  protected abstract execute(signal: AbortSignal): Promise<void>;

  /** The running `execute`, once started; the host watches it for failures. */
  get execution(): Promise<void> | undefined {
    return this.#execution;
  }

  start(_signal: AbortSignal): void {
    const signal = this.#stopping.signal;
    this.#execution = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
      signal.aborted ? undefined : this.execute(signal),
    );
    // The host observes failures through `execution`; this keeps Node from reporting them as unhandled too.
    this.#execution.catch(() => {});
  }

  async stop(signal: AbortSignal): Promise<void> {
    this.#stopping.abort(new Error(`${this.constructor.name} is stopping`));
    if (!this.#execution) return;
    const budget = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([this.#execution.catch(() => {}), budget]);
  }
}

/** Whether a failure of `execute` is just the service honouring its stop signal. */
export function isStopAbort(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted && (error === signal.reason || (error instanceof Error && error.name === 'AbortError'));
}
