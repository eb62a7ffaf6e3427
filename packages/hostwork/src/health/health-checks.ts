import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { HostBuilder } from '../hosting/host-builder.ts';
import { eventLoopCheck, hostCheck } from './built-in-checks.ts';
import {
  type HealthCheck,
  type HealthCheckOptions,
  type HealthCheckRegistration,
  isHealthStatus,
} from './health-check.ts';
import { HealthCheckService } from './health-check-service.ts';

/** The default longest wait for one check, in ms. */
export const DEFAULT_CHECK_TIMEOUT_MS = 5_000;

const OPTION_KEYS = ['tags', 'timeout', 'failureStatus'] as const;

/**
 * The host's health checks, in registration order: the application's and the built-in ones (the host's lifecycle and
 * the event loop, and those of the job engine and the message consumers when they are added). Injectable by its class;
 * {@link HealthCheckService} runs them.
 */
export class HealthChecks {
  readonly #checks: HealthCheckRegistration[] = [];

  /** Registers a check; a second check of one name, or a bad option, throws HW_INVALID_OPTION naming it. */
  add(name: string, check: HealthCheck, options: HealthCheckOptions = {}): this {
    const where = `addHealthCheck('${name}')`;
    if (typeof name !== 'string' || name.trim() === '')
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        'addHealthCheck(): the name must be a non-empty string.',
      );
    if (typeof check !== 'function')
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `${where}: the check must be a function returning { status: 'healthy' | 'degraded' | 'unhealthy' }.`,
      );
    assertKnownKeys(`${where} options`, options, OPTION_KEYS);
    if (this.#checks.some((c) => c.name === name))
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `${where}: a health check named '${name}' is registered already. Fix: give each check its own name.`,
      );
    const { tags = [], timeout = DEFAULT_CHECK_TIMEOUT_MS, failureStatus = 'unhealthy' } = options;
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t === ''))
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `${where}: tags must be non-empty strings, e.g. ['ready'].`,
      );
    if (!Number.isFinite(timeout) || timeout <= 0)
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `${where}: timeout must be a positive number of ms, got ${String(timeout)}.`,
      );
    if (!isHealthStatus(failureStatus))
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `${where}: failureStatus must be 'healthy', 'degraded' or 'unhealthy', got ${String(failureStatus)}.`,
      );
    this.#checks.push({ name, check, tags: [...tags], timeout, failureStatus });
    return this;
  }

  /** Every registered check, in registration order. */
  get registrations(): readonly HealthCheckRegistration[] {
    return this.#checks;
  }
}

const ofBuilder = new WeakMap<HostBuilder, HealthChecks>();

/**
 * The builder's health checks, created (with the built-in host and event-loop checks) and registered as a singleton
 * the first time it is asked for. `addJobs` and `addMessaging` add theirs through it.
 */
export function healthChecksOf(builder: HostBuilder): HealthChecks {
  let checks = ofBuilder.get(builder);
  if (checks === undefined) {
    checks = new HealthChecks();
    checks.add('host', hostCheck, { tags: ['ready', 'startup'] });
    checks.add('event-loop', eventLoopCheck(), { tags: ['live'] });
    ofBuilder.set(builder, checks);
    builder.services.addSingleton(HealthChecks, { value: checks });
    builder.services.addSingleton(HealthCheckService, {
      factory: (p) => new HealthCheckService(p.get(HealthChecks), p),
      deps: [HealthChecks],
    });
  }
  return checks;
}

/**
 * Registers a health check (the counterpart of .NET's `AddHealthChecks().AddCheck(...)`). The check runs each time a
 * probe asks, in parallel with the others, within `timeout`; a throw or a timeout gives `failureStatus`.
 *
 * ```ts
 * addHealthCheck(builder, 'payments-api', async ({ signal }) => {
 *   const response = await fetch('https://payments.internal/ping', { signal });
 *   return response.ok ? { status: 'healthy' } : { status: 'degraded', description: `HTTP ${response.status}` };
 * }, { tags: ['ready'], timeout: 2_000 });
 * ```
 */
export function addHealthCheck(
  builder: HostBuilder,
  name: string,
  check: HealthCheck,
  options?: HealthCheckOptions,
): void {
  healthChecksOf(builder).add(name, check, options);
}
