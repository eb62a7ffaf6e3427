import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { ScopeFactory } from '../di/scope.ts';
import type { ServiceProvider } from '../di/service-provider.ts';
import { createToken, type Token } from '../di/token.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import { ApplicationLifetime } from '../hosting/application-lifetime.ts';
import { BackgroundService, isStopAbort } from '../hosting/background-service.ts';
import type { HostServiceCollection } from '../hosting/host-services.ts';
import { type Logger, LoggerFactory } from '../logging/logger-factory.ts';
import { assertBoolean, assertFunction, assertInteger, assertObject, describe } from './validate.ts';

/** What one run of a periodic service receives. */
export interface PeriodicRunContext {
  /** The run's own DI scope: scoped services resolved here are disposed when the run ends. */
  readonly services: ServiceProvider;
  /**
   * Aborts when the host begins to stop (`ApplicationLifetime.stopping`): pass it to I/O and return (or throw its
   * reason) soon after. The host waits for the run, within its shutdown budget.
   */
  readonly signal: AbortSignal;
  /** A logger whose lines carry the service's name and the run number. */
  readonly logger: Logger;
  /** The run number, from 1. */
  readonly run: number;
}

/** The work of one run. A rejection (or throw) is logged, counted, and the schedule goes on. */
export type PeriodicRun = (ctx: PeriodicRunContext) => Promise<void> | void;

/** Options of {@link addPeriodicService} and {@link PeriodicService}. */
export interface PeriodicOptions {
  /**
   * Milliseconds from the start of one run to the start of the next. A run that takes longer is followed at once
   * by the next (never by a burst of catch-up runs); runs never overlap.
   */
  readonly interval: number;
  /** The work. */
  readonly run: PeriodicRun;
  /** Run once as soon as the host has started, instead of waiting one interval first. Default: true. */
  readonly runOnStart?: boolean;
  /**
   * After this many failed runs in a row, stop the host with a failing exit code (the service crashes, which the
   * host reports per `HostOptions.backgroundServiceExceptionBehavior`). Default: 0, never stop the host.
   */
  readonly maxConsecutiveFailures?: number;
}

const KNOWN_OPTIONS = ['interval', 'run', 'runOnStart', 'maxConsecutiveFailures'] as const;

/** setTimeout's largest delay; anything longer fires at once (with a warning), so we sleep in steps. */
const MAX_TIMER_MS = 2_147_483_647;

/** The resolved options, with defaults applied. */
type ResolvedPeriodicOptions = Required<PeriodicOptions>;

/**
 * Checks periodic options and applies the defaults. Throws HW_UNKNOWN_OPTION for a key it does not know and
 * HW_INVALID_OPTION for a value out of range, both naming the service.
 */
export function resolvePeriodicOptions(name: string, options: PeriodicOptions): ResolvedPeriodicOptions {
  const where = `Periodic service '${name}'`;
  assertObject(where, options);
  assertKnownKeys(`the options of periodic service '${name}'`, options, KNOWN_OPTIONS);
  const { interval } = options;
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval <= 0) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: 'interval' must be a positive, finite number of milliseconds, got ${describe(interval)}. Example: { interval: 60_000 } for once a minute.`,
    );
  }
  assertFunction(where, 'run', options.run);
  const resolved: ResolvedPeriodicOptions = {
    interval,
    run: options.run,
    runOnStart: options.runOnStart ?? true,
    maxConsecutiveFailures: options.maxConsecutiveFailures ?? 0,
  };
  assertBoolean(where, 'runOnStart', resolved.runOnStart);
  assertInteger(where, 'maxConsecutiveFailures', resolved.maxConsecutiveFailures, 0);
  return resolved;
}

/**
 * Runs a function on a fixed interval for as long as the host runs: the periodic worker done right.
 *
 * - Runs never overlap; the next run starts `interval` ms after the previous one started, or at once if it took
 *   longer (no burst of catch-up runs). The first run waits until the whole host has started.
 * - Each run gets a fresh DI scope, disposed when the run ends, and the host's stop signal.
 * - A failed run is logged with its stack and counted ({@link failures}, {@link consecutiveFailures}); the schedule
 *   goes on. After `maxConsecutiveFailures` failures in a row (if set) it stops the host with exit code 1.
 * - On shutdown it waits for the run in progress (the host bounds that wait by `shutdownTimeout`) and starts no other.
 *
 * Register it with {@link addPeriodicService}, which also names it. Nothing survives a restart: the schedule starts
 * again when the process does.
 *
 * @example
 * ```ts
 * addPeriodicService(builder.services, 'cleanup', {
 *   interval: 60_000,
 *   run: async ({ services, signal }) => services.get(Sessions).deleteExpired(signal),
 * });
 * ```
 */
export class PeriodicService extends BackgroundService {
  /** The name given at registration; it appears in every log line and error. */
  readonly name: string;
  readonly #options: ResolvedPeriodicOptions;
  readonly #scopes: ScopeFactory;
  readonly #lifetime: ApplicationLifetime;
  readonly #log: Logger;
  #runs = 0;
  #failures = 0;
  #consecutiveFailures = 0;
  #running = false;

  constructor(
    scopes: ScopeFactory,
    loggerFactory: LoggerFactory,
    lifetime: ApplicationLifetime,
    name: string,
    options: PeriodicOptions,
  ) {
    super();
    this.name = name;
    this.#options = resolvePeriodicOptions(name, options);
    this.#scopes = scopes;
    this.#lifetime = lifetime;
    this.#log = loggerFactory.create('Hostwork.PeriodicService', { periodic: name });
  }

  /** How many runs have started (including one in progress). */
  get runs(): number {
    return this.#runs;
  }

  /** How many runs have failed in total. Runs cancelled by shutdown do not count. */
  get failures(): number {
    return this.#failures;
  }

  /** How many of the latest runs failed in a row; a successful run resets it to 0. */
  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }

  /** Whether a run is in progress. */
  get running(): boolean {
    return this.#running;
  }

  protected async execute(serviceStopping: AbortSignal): Promise<void> {
    // The host stops services one after another; a run should not start (or go on) while others drain.
    const signal = AbortSignal.any([serviceStopping, this.#lifetime.stopping]);
    // A run may need services that later hosted services start (a migrated database, a warm cache).
    if (!(await hostStarted(this.#lifetime, signal))) return;
    const { interval, runOnStart, maxConsecutiveFailures } = this.#options;
    let next = performance.now() + (runOnStart ? 0 : interval);
    this.#log.debug(
      { intervalMs: interval },
      `Periodic service '${this.name}' scheduled every ${interval} ms`,
    );
    for (;;) {
      if (!(await waitUntil(next, signal))) return;
      // Scheduled from the start of the run, so a run's duration does not make the schedule drift.
      next = performance.now() + interval;
      const outcome = await this.#runOnce(signal);
      if (signal.aborted) return;
      if (
        outcome === 'failed' &&
        maxConsecutiveFailures > 0 &&
        this.#consecutiveFailures >= maxConsecutiveFailures
      ) {
        const reason = `Periodic service '${this.name}' failed ${this.#consecutiveFailures} consecutive runs (maxConsecutiveFailures = ${maxConsecutiveFailures})`;
        this.#log.error({ consecutiveFailures: this.#consecutiveFailures }, `${reason}; stopping the host`);
        this.#lifetime.stopApplication(reason);
        // Rejecting `execute` is what marks the host as crashed, hence the non-zero exit code.
        throw new Error(`${reason}. The last failure is logged above with its stack.`);
      }
    }
  }

  async #runOnce(signal: AbortSignal): Promise<'ok' | 'failed' | 'cancelled'> {
    const run = ++this.#runs;
    const logger = this.#log.child({ run });
    const began = performance.now();
    this.#running = true;
    try {
      // The scope is disposed even when the run throws; a disposal error counts as a failed run.
      await using scope = this.#scopes.createScope();
      await this.#options.run({ services: scope.services, signal, logger, run });
    } catch (error) {
      if (isStopAbort(error, signal)) {
        logger.info(
          { durationMs: elapsed(began) },
          `Periodic service '${this.name}' run ${run} cancelled: the host is stopping`,
        );
        return 'cancelled';
      }
      this.#failures++;
      this.#consecutiveFailures++;
      logger.error(
        {
          err: error,
          durationMs: elapsed(began),
          failures: this.#failures,
          consecutiveFailures: this.#consecutiveFailures,
        },
        `Periodic service '${this.name}' run ${run} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      return 'failed';
    } finally {
      this.#running = false;
    }
    this.#consecutiveFailures = 0;
    logger.debug({ durationMs: elapsed(began) }, `Periodic service '${this.name}' run ${run} completed`);
    return 'ok';
  }
}

/** The periodic services registered per collection, by name: a second one with the same name is a mistake. */
const registered = new WeakMap<HostServiceCollection, Map<string, Token<PeriodicService>>>();

/**
 * Registers a {@link PeriodicService} as a hosted service and returns its key, so the instance (and its counters)
 * can be resolved. Options are validated here, at registration. Names must be unique per host.
 *
 * @example
 * ```ts
 * const cleanup = addPeriodicService(builder.services, 'cleanup', { interval: 60_000, run: deleteExpiredSessions });
 * // later: host.services.get(cleanup).failures
 * ```
 */
export function addPeriodicService(
  services: HostServiceCollection,
  name: string,
  options: PeriodicOptions,
): Token<PeriodicService> {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addPeriodicService: 'name' must be a non-empty string (it names the service in logs), got ${describe(name)}.`,
    );
  }
  resolvePeriodicOptions(name, options);
  const names = registered.get(services) ?? new Map<string, Token<PeriodicService>>();
  registered.set(services, names);
  if (names.has(name)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `A periodic service named '${name}' is already registered. Fix: give each periodic service its own name.`,
    );
  }
  const key = createToken<PeriodicService>(`PeriodicService(${name})`);
  names.set(name, key);
  services.addHostedService(key, {
    factory: (sp) =>
      new PeriodicService(
        sp.get(ScopeFactory),
        sp.get(LoggerFactory),
        sp.get(ApplicationLifetime),
        name,
        options,
      ),
    deps: [ScopeFactory, LoggerFactory, ApplicationLifetime],
  });
  return key;
}

/** Resolves true once the host has started, false if `signal` aborts first. */
function hostStarted(lifetime: ApplicationLifetime, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    let started = false;
    const onAbort = () => {
      unsubscribe();
      resolve(false);
    };
    // onStarted calls back at once if the host has already started.
    const unsubscribe = lifetime.onStarted(() => {
      started = true;
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    });
    if (!started) signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits until `deadline` (a `performance.now()` time); false if `signal` aborts first. When the deadline has
 * passed it still yields one turn of the event loop, so runs that always overrun cannot starve I/O.
 */
async function waitUntil(deadline: number, signal: AbortSignal): Promise<boolean> {
  try {
    let remaining = deadline - performance.now();
    if (remaining <= 0) await nextTurn(undefined, { signal });
    while (remaining > 0) {
      await sleep(Math.min(Math.ceil(remaining), MAX_TIMER_MS), undefined, { signal });
      remaining = deadline - performance.now();
    }
    return !signal.aborted;
  } catch (error) {
    if (signal.aborted) return false;
    throw error;
  }
}

function elapsed(since: number): number {
  return Math.round(performance.now() - since);
}
