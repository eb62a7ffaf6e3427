import { setImmediate as nextMacrotask } from 'node:timers/promises';
import type { Configuration } from '../config/configuration.ts';
import { bindAllOptions, type OptionsToken } from '../config/options.ts';
import type { Container } from '../di/container.ts';
import type { ServiceKey } from '../di/token.ts';
import { keyName } from '../di/token.ts';
import { ErrorCodes, HostworkError } from '../errors.ts';
import type { Logger, LoggerFactory } from '../logging/logger-factory.ts';
import type { ApplicationLifetime } from './application-lifetime.ts';
import { BackgroundService, isStopAbort } from './background-service.ts';
import { ExitCodes } from './exit-codes.ts';
import type { HostOptions } from './host-options.ts';
import type { HostedService, HostedServiceWithHooks } from './hosted-service.ts';
import { isHostedService } from './hosted-service.ts';

/** What the builder hands to the host. */
export interface HostParts {
  readonly container: Container;
  readonly configuration: Configuration;
  readonly environmentName: string;
  readonly options: HostOptions;
  readonly lifetime: ApplicationLifetime;
  readonly loggerFactory: LoggerFactory;
  readonly hostedServices: readonly ServiceKey<HostedService>[];
  readonly optionTokens: readonly OptionsToken<unknown>[];
  /** Where validated option values are stored for their DI registrations. */
  readonly boundOptions: Map<symbol, unknown>;
}

/** Options of {@link Host.run}. */
export interface RunOptions {
  /** Stop gracefully on SIGINT, SIGTERM and SIGQUIT; a second signal forces the exit. Default: true. */
  readonly handleSignals?: boolean;
  /** Call `process.exit(code)` once stopped, so that anything left behind cannot keep the process alive. Default: true. */
  readonly exitProcess?: boolean;
}

interface Running {
  readonly name: string;
  readonly service: HostedServiceWithHooks;
}

/** After the shutdown budget runs out, how long a service reacting to its aborted signal may take to return. */
const ABORT_GRACE_MS = 250;

type State = 'created' | 'starting' | 'started' | 'stopping' | 'stopped';

/**
 * The generic host: starts hosted services in order, runs until asked to stop (a signal, `stopApplication()`,
 * a crashed background service), then stops them in reverse order within one shutdown budget.
 * Build one with `createHostBuilder()`.
 */
export class Host implements AsyncDisposable {
  readonly #parts: HostParts;
  readonly #log: Logger;
  #state: State = 'created';
  #running: Running[] = [];
  #stopPromise: Promise<void> | undefined;
  #crashed = false;
  #leftBehind: string[] = [];

  constructor(parts: HostParts) {
    this.#parts = parts;
    this.#log = parts.loggerFactory.create('Hostwork.Host');
  }

  /** The root service provider. */
  get services() {
    return this.#parts.container.root.services;
  }

  /** The merged configuration. */
  get configuration(): Configuration {
    return this.#parts.configuration;
  }

  /** Start/stop notifications and `stopApplication()`. */
  get lifetime(): ApplicationLifetime {
    return this.#parts.lifetime;
  }

  /** The exit code the host's history calls for: crash or failed start → 1, services left behind → 3, else 0. */
  get exitCode(): number {
    if (this.#crashed) return ExitCodes.failure;
    if (this.#leftBehind.length > 0) return ExitCodes.shutdownTimeout;
    return ExitCodes.success;
  }

  /** Names of services that did not stop within the shutdown budget. */
  get servicesLeftBehind(): readonly string[] {
    return this.#leftBehind;
  }

  /**
   * Validates configuration, then starts every hosted service. If anything fails, the services already started
   * are stopped again and the error is thrown: code HW_CONFIG_INVALID, HW_HOST_START_FAILED or HW_HOST_STARTUP_TIMEOUT.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#state !== 'created') {
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        `Host.start() called when the host is already ${this.#state}.`,
      );
    }
    this.#state = 'starting';
    const began = performance.now();
    const { options, lifetime } = this.#parts;
    this.#log.info({ environment: this.#parts.environmentName }, 'Host starting');
    // Start-up ends early on a stop request (a signal during a slow start), the caller's signal, or startupTimeout.
    const startup = new AbortController();
    const signals = [startup.signal];
    if (signal) signals.push(signal);
    const startSignal = AbortSignal.any(signals);
    let stopRequested = false;
    void lifetime.stopRequested.then(() => {
      stopRequested = true;
      startup.abort(new DOMException('A stop was requested during start-up', 'AbortError'));
    });
    const timer =
      options.startupTimeout > 0
        ? setTimeout(
            () => startup.abort(new DOMException('startupTimeout elapsed', 'TimeoutError')),
            options.startupTimeout,
          )
        : undefined;
    try {
      const values = await bindAllOptions(this.#parts.configuration, this.#parts.optionTokens);
      this.#parts.optionTokens.forEach((token, i) => {
        this.#parts.boundOptions.set(token.id, values[i]);
      });
      const services = this.#resolveHostedServices();
      await this.#phase(services, 'starting', startSignal, false);
      await this.#startAll(services, startSignal);
      await this.#phase(services, 'started', startSignal, false);
    } catch (error) {
      const failure = this.#startFailure(error, startSignal, options);
      if (stopRequested && startSignal.aborted) {
        // Not a failure: somebody asked the host to stop before it finished starting.
        this.#log.info(`Start-up cancelled: ${lifetime.stopReason ?? 'stop requested'}`);
      } else {
        this.#crashed = true;
        this.#log.error({ err: failure }, `Host failed to start: ${failure.message}`);
      }
      await this.stop();
      throw failure;
    } finally {
      clearTimeout(timer);
    }
    this.#state = 'started';
    lifetime.notifyStarted();
    this.#log.info({ durationMs: ms(began) }, `Host started in ${ms(began)} ms`);
  }

  /**
   * Stops the host: lifecycle `stopping` hooks, `ApplicationLifetime.stopping`, each service's `stop` in reverse
   * order, `stopped` hooks, then disposal of singletons, all within `shutdownTimeout`. A service that does not
   * finish in time is named in the log and left behind. Never throws; idempotent.
   */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  async #stop(): Promise<void> {
    const began = performance.now();
    const { options, lifetime } = this.#parts;
    this.#state = 'stopping';
    this.#log.info({ reason: lifetime.stopReason ?? 'host.stop()' }, 'Host stopping');
    const budget = AbortSignal.timeout(options.shutdownTimeout);
    const services = [...this.#running].reverse();
    await this.#phase(services, 'stopping', budget, true);
    lifetime.notifyStopping();
    await this.#stopAll(services, budget);
    await this.#phase(services, 'stopped', budget, true);
    lifetime.notifyStopped();
    const disposed = await this.#withinBudget(this.#parts.container.root.dispose(), budget);
    if (disposed === 'timeout')
      this.#log.warn('Disposing singletons did not finish within the shutdown timeout');
    else if (disposed instanceof Error) this.#log.error({ err: disposed }, 'Disposing singletons failed');
    this.#state = 'stopped';
    this.#log.info(
      { durationMs: ms(began), exitCode: this.exitCode },
      `Host stopped in ${ms(began)} ms (exit code ${this.exitCode})`,
    );
  }

  /**
   * Starts the host, waits for a stop request (SIGINT/SIGTERM/SIGQUIT, `lifetime.stopApplication()`, a crashed
   * background service), stops, and exits the process with {@link exitCode}. Returns the exit code when
   * `exitProcess` is false.
   */
  async run(runOptions: RunOptions = {}): Promise<number> {
    const { handleSignals = true, exitProcess = true } = runOptions;
    const removeSignals = handleSignals ? this.#handleSignals() : () => {};
    // Neither signal listeners nor the AbortSignal.timeout budgets keep the event loop alive: without a handle,
    // a host whose services are idle would end at once (exit code 13, unsettled top-level await) instead of
    // waiting for a stop request, and a stop waiting on a never-settling promise would not reach its timeout.
    const keepAlive = setInterval(() => {}, 2 ** 30);
    try {
      try {
        await this.start();
        await this.#parts.lifetime.stopRequested;
      } catch {
        // start() has logged the failure and stopped what it had started.
      }
      await this.stop();
    } finally {
      removeSignals();
      clearInterval(keepAlive);
    }
    const code = this.exitCode;
    process.exitCode = code;
    if (exitProcess) {
      this.#parts.loggerFactory.root.flush();
      process.exit(code);
    }
    return code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #handleSignals(): () => void {
    let received = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      received++;
      if (received === 1) {
        this.#log.info(
          { signal },
          `Received ${signal}; stopping gracefully (send it again to force the exit)`,
        );
        this.#parts.lifetime.stopApplication(signal);
        return;
      }
      this.#log.warn({ signal }, `Received ${signal} again; forcing exit without waiting for services`);
      this.#parts.loggerFactory.root.flush();
      process.exit(ExitCodes.forced);
    };
    const names: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGQUIT'];
    for (const name of names) process.on(name, onSignal);
    return () => {
      for (const name of names) process.off(name, onSignal);
    };
  }

  #resolveHostedServices(): Running[] {
    return this.#parts.hostedServices.map((key) => {
      let service: unknown;
      try {
        service = this.services.get(key);
      } catch (error) {
        // DI errors already name the service and the fix; anything else (a constructor that threw) gets the name here.
        if (error instanceof HostworkError) throw error;
        throw new HostworkError(
          ErrorCodes.HOST_START_FAILED,
          `Hosted service '${keyName(key)}' could not be created: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
      if (!isHostedService(service)) {
        throw new HostworkError(
          ErrorCodes.DI_INVALID_REGISTRATION,
          `'${keyName(key)}' was added as a hosted service but has no start() and stop() methods.`,
        );
      }
      return { name: keyName(key), service };
    });
  }

  async #startAll(services: Running[], signal: AbortSignal): Promise<void> {
    const startOne = async (entry: Running) => {
      const began = performance.now();
      try {
        await abortable(
          Promise.resolve().then(() => entry.service.start(signal)),
          signal,
        );
      } catch (error) {
        // Name the service: "A hosted service failed to start: ..." does not say which one to look at.
        const message = error instanceof Error ? error.message : String(error);
        throw new HostworkError(
          ErrorCodes.HOST_START_FAILED,
          `Service '${entry.name}' failed to start: ${message}`,
          {
            cause: error,
          },
        );
      }
      this.#running.push(entry);
      this.#watch(entry);
      this.#log.info(
        { service: entry.name, durationMs: ms(began) },
        `Service '${entry.name}' started in ${ms(began)} ms`,
      );
    };
    if (this.#parts.options.servicesStartConcurrently) {
      const results = await Promise.allSettled(services.map(startOne));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) {
        const messages = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
        throw new AggregateError(errors, `${errors.length} services failed to start: ${messages}`);
      }
    } else {
      for (const entry of services) await startOne(entry);
    }
  }

  async #stopAll(services: Running[], budget: AbortSignal): Promise<void> {
    const stopOne = async (entry: Running) => {
      const began = performance.now();
      const result = await this.#withinBudget(
        Promise.resolve().then(() => entry.service.stop(budget)),
        budget,
      );
      if (result === 'timeout') {
        this.#leftBehind.push(entry.name);
        this.#log.error(
          { service: entry.name, shutdownTimeoutMs: this.#parts.options.shutdownTimeout },
          `Service '${entry.name}' did not stop within the shutdown timeout (${this.#parts.options.shutdownTimeout} ms); leaving it behind`,
        );
      } else if (result instanceof Error) {
        this.#log.error(
          { err: result, service: entry.name },
          `Service '${entry.name}' failed to stop: ${result.message}`,
        );
      } else {
        this.#log.info(
          { service: entry.name, durationMs: ms(began) },
          `Service '${entry.name}' stopped in ${ms(began)} ms`,
        );
      }
    };
    if (this.#parts.options.servicesStopConcurrently) await Promise.all(services.map(stopOne));
    else for (const entry of services) await stopOne(entry);
  }

  /** Runs one lifecycle hook on every service that has it. Stop-side hooks never throw (errors are logged). */
  async #phase(
    services: Running[],
    hook: 'starting' | 'started' | 'stopping' | 'stopped',
    signal: AbortSignal,
    logErrors: boolean,
  ): Promise<void> {
    for (const { name, service } of services) {
      const fn = service[hook];
      if (!fn) continue;
      if (logErrors) {
        const result = await this.#withinBudget(
          Promise.resolve().then(() => fn.call(service, signal)),
          signal,
        );
        if (result instanceof Error)
          this.#log.error({ err: result, service: name }, `Service '${name}' ${hook} hook failed`);
      } else {
        await abortable(Promise.resolve(fn.call(service, signal)), signal);
      }
    }
  }

  /** Watches a background service's `execute` for a crash. */
  #watch(entry: Running): void {
    if (!(entry.service instanceof BackgroundService)) return;
    const execution = entry.service.execution;
    if (!execution) return;
    const stopping = this.#parts.lifetime.stopping;
    execution.then(
      () => this.#log.debug({ service: entry.name }, `Service '${entry.name}' finished executing`),
      (error: unknown) => {
        if (isStopAbort(error, stopping)) return;
        const behaviour = this.#parts.options.backgroundServiceExceptionBehavior;
        this.#log.error(
          { err: error, service: entry.name },
          `Background service '${entry.name}' failed: ${error instanceof Error ? error.message : String(error)}${behaviour === 'stopHost' ? '; stopping the host' : ''}`,
        );
        if (behaviour === 'stopHost') {
          this.#crashed = true;
          this.#parts.lifetime.stopApplication(`'${entry.name}' crashed`);
        }
      },
    );
  }

  /** Waits for `work` unless the budget runs out first; never throws. */
  async #withinBudget(work: Promise<unknown>, budget: AbortSignal): Promise<'done' | 'timeout' | Error> {
    const settled = work.then(
      () => 'done' as const,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    if (budget.aborted) {
      // Out of budget already: give the call one turn of the event loop to finish synchronously-fast work.
      return Promise.race([settled, nextMacrotask('timeout' as const)]);
    }
    let onAbort = () => {};
    let grace: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      // A service that honours the abort needs a moment to unwind; only one that ignores it is left behind.
      onAbort = () => {
        grace = setTimeout(() => resolve('timeout'), ABORT_GRACE_MS);
      };
      budget.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([settled, timedOut]);
    } finally {
      clearTimeout(grace);
      budget.removeEventListener('abort', onAbort);
    }
  }

  #startFailure(error: unknown, signal: AbortSignal, options: HostOptions): HostworkError {
    if (error instanceof HostworkError && error.code === ErrorCodes.CONFIG_INVALID) return error;
    if (signal.aborted && signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError') {
      return new HostworkError(
        ErrorCodes.HOST_STARTUP_TIMEOUT,
        `Start-up did not finish within startupTimeout (${options.startupTimeout} ms).`,
        { cause: error },
      );
    }
    if (error instanceof HostworkError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new HostworkError(ErrorCodes.HOST_START_FAILED, `A hosted service failed to start: ${message}`, {
      cause: error,
    });
  }
}

/** Rejects with the signal's reason when it aborts first. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function ms(since: number): number {
  return Math.round(performance.now() - since);
}
