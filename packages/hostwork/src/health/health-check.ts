import type { ServiceProvider } from '../di/index.ts';

/**
 * How a check found its component: `healthy`; `degraded` (working, but something needs a look: a growing backlog,
 * a slow store); `unhealthy` (not working: the probe answers 503). The same three states as .NET's HealthStatus.
 */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** What a check returns. */
export interface HealthCheckResult {
  readonly status: HealthStatus;
  /** One line for a human: what was found. */
  readonly description?: string;
  /** Figures behind the status (latency, ages, counts), shown in the endpoint's JSON. */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** What a check gets: a signal that aborts at its timeout, and the host's services. */
export interface HealthCheckContext {
  readonly signal: AbortSignal;
  readonly services: ServiceProvider;
}

/** A health check: a function of the context returning (or resolving to) a result. A throw counts as its failure status. */
export type HealthCheck = (context: HealthCheckContext) => HealthCheckResult | Promise<HealthCheckResult>;

/**
 * The probes Hostwork's endpoint serves, by tag: `live` (restart the process when unhealthy), `ready` (send it no
 * traffic), `startup` (still starting). A check may carry any other tags too, to be selected with `?tag=`.
 */
export type ProbeTag = 'live' | 'ready' | 'startup';

/** How a check is registered. */
export interface HealthCheckOptions {
  /** Which probes and filters include it: e.g. `['ready']`. Default: none (only `/healthz` and `?tag=` filters). */
  readonly tags?: readonly string[];
  /** Longest wait for the check, in ms; past it the check is `failureStatus` with "timed out". Default 5,000. */
  readonly timeout?: number;
  /** The status of a check that throws or times out. Default `unhealthy`. */
  readonly failureStatus?: HealthStatus;
}

/** A registered check. */
export interface HealthCheckRegistration {
  readonly name: string;
  readonly check: HealthCheck;
  readonly tags: readonly string[];
  readonly timeout: number;
  readonly failureStatus: HealthStatus;
}

/** One check's outcome in a {@link HealthReport}. */
export interface HealthReportEntry {
  readonly status: HealthStatus;
  readonly description?: string;
  readonly data?: Readonly<Record<string, unknown>>;
  /** The thrown error's message, when the check threw or timed out. */
  readonly error?: string;
  readonly durationMs: number;
  readonly tags: readonly string[];
}

/** Every selected check's outcome, and the worst status among them (healthy when none was selected). */
export interface HealthReport {
  readonly status: HealthStatus;
  readonly totalDurationMs: number;
  readonly entries: Readonly<Record<string, HealthReportEntry>>;
}

const ORDER: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

/** The worse of two statuses. */
export function worse(a: HealthStatus, b: HealthStatus): HealthStatus {
  return ORDER[a] >= ORDER[b] ? a : b;
}

/** Whether `value` is one of the three statuses. */
export function isHealthStatus(value: unknown): value is HealthStatus {
  return value === 'healthy' || value === 'degraded' || value === 'unhealthy';
}
