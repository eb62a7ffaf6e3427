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

  async stop(_signal: AbortSignal): Promise<void> {
    // An AbortError (like Node's own APIs): `execute` ending with `signal.throwIfAborted()` or rejecting with
    // `signal.reason` honours the signal, and the host must not take it for a crash.
    this.#stopping.abort(new DOMException(`${this.constructor.name} is stopping`, 'AbortError'));
    // Wait for `execute` itself. The host enforces the shutdown budget and names the service if it runs out;
    // resolving when the budget fires would report the service as stopped while `execute` is still running.
    await this.#execution?.catch(() => {});
  }
}

/** Whether a failure of `execute` is just the service honouring its stop signal. */
export function isStopAbort(error: unknown, signal: AbortSignal): boolean {
  return (
    signal.aborted && (error === signal.reason || (error instanceof Error && error.name === 'AbortError'))
  );
}
