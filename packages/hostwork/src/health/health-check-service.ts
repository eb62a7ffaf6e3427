import type { ServiceProvider } from '../di/index.ts';
import {
  type HealthCheckRegistration,
  type HealthReport,
  type HealthReportEntry,
  type HealthStatus,
  isHealthStatus,
  worse,
} from './health-check.ts';
import type { HealthChecks } from './health-checks.ts';

/** Which checks a report runs: those with `probe` among their tags (when given) and any of `tags` (when given). */
export interface HealthCheckFilter {
  /** A tag every selected check must carry: 'live', 'ready', 'startup'. */
  readonly probe?: string;
  /** Tags of which a selected check must carry at least one; absent or empty: no such condition. */
  readonly tags?: readonly string[];
}

/**
 * Runs the host's health checks (the counterpart of .NET's HealthCheckService): every selected check at once, each
 * within its timeout, never cached, and reports each outcome with its duration and the worst status overall.
 */
export class HealthCheckService {
  readonly #checks: HealthChecks;
  readonly #services: ServiceProvider;

  /** `services`: what the checks get (the host's root services). */
  constructor(checks: HealthChecks, services: ServiceProvider) {
    this.#checks = checks;
    this.#services = services;
  }

  /** Runs the checks `filter` selects and reports them. Never throws: a failing check is an entry. */
  async check(filter: HealthCheckFilter = {}): Promise<HealthReport> {
    const began = performance.now();
    const tags = filter.tags ?? [];
    const { probe } = filter;
    const selected = this.#checks.registrations.filter(
      (r) =>
        (probe === undefined || r.tags.includes(probe)) &&
        (tags.length === 0 || r.tags.some((t) => tags.includes(t))),
    );
    const outcomes = await Promise.all(selected.map((r) => this.#run(r)));
    let status: HealthStatus = 'healthy';
    const entries: Record<string, HealthReportEntry> = {};
    selected.forEach((r, i) => {
      const entry = outcomes[i]!;
      entries[r.name] = entry;
      status = worse(status, entry.status);
    });
    return { status, totalDurationMs: elapsed(began), entries };
  }

  async #run(registration: HealthCheckRegistration): Promise<HealthReportEntry> {
    const { check, timeout, failureStatus, tags } = registration;
    const began = performance.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`Timed out after ${timeout} ms`);
        controller.abort(error);
        reject(error);
      }, timeout);
    });
    try {
      const services = this.#services;
      const result = await Promise.race([
        Promise.resolve().then(() => check({ signal: controller.signal, services })),
        timedOut,
      ]);
      if (typeof result !== 'object' || result === null || !isHealthStatus(result.status))
        throw new Error(
          `The check returned ${JSON.stringify(result)}, not { status: 'healthy' | 'degraded' | 'unhealthy' }`,
        );
      return {
        status: result.status,
        ...(result.description === undefined ? {} : { description: result.description }),
        ...(result.data === undefined ? {} : { data: result.data }),
        durationMs: elapsed(began),
        tags,
      };
    } catch (error) {
      return {
        status: failureStatus,
        error: error instanceof Error ? error.message : String(error),
        durationMs: elapsed(began),
        tags,
      };
    } finally {
      clearTimeout(timer);
    }
  }
}

function elapsed(began: number): number {
  return Math.round((performance.now() - began) * 100) / 100;
}
