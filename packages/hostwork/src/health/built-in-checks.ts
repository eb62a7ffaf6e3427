import { type ELDHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { ApplicationLifetime } from '../hosting/application-lifetime.ts';
import type { HealthCheck, HealthCheckResult } from './health-check.ts';

/**
 * Readiness and start-up: unhealthy until every hosted service has started, healthy while the host runs, and
 * unhealthy again from the moment a stop is requested (a signal, `stopApplication()`), before anything drains, so
 * that a load balancer stops sending work while running work finishes.
 */
export const hostCheck: HealthCheck = ({ services }): HealthCheckResult => {
  const lifetime = services.get(ApplicationLifetime);
  if (lifetime.stopReason !== undefined || lifetime.stopping.aborted)
    return {
      status: 'unhealthy',
      description: `The host is stopping (${lifetime.stopReason ?? 'stopping'})`,
    };
  if (!lifetime.hasStarted) return { status: 'unhealthy', description: 'The host is starting' };
  return { status: 'healthy', description: 'The host is running' };
};

/** The event-loop delay thresholds of the built-in `event-loop` check, in ms. */
export interface EventLoopThresholds {
  /** p99 delay above which the loop is `degraded` (slow callbacks, timers late). Default 200. */
  readonly degradedMs: number;
  /** Longest single delay above which the loop is `unhealthy` (blocked: a restart is better). Default 5,000. */
  readonly unhealthyMs: number;
}

const DEFAULT_THRESHOLDS: EventLoopThresholds = { degradedMs: 200, unhealthyMs: 5_000 };

/**
 * Liveness: how late the event loop has run since the previous check (Node's `monitorEventLoopDelay`, started on the
 * first check). A loop blocked for seconds cannot run jobs, renew leases or answer; a restart frees it.
 */
export function eventLoopCheck(thresholds: EventLoopThresholds = DEFAULT_THRESHOLDS): HealthCheck {
  let histogram: ELDHistogram | undefined;
  return () => {
    if (histogram === undefined) {
      histogram = monitorEventLoopDelay({ resolution: 20 });
      histogram.enable();
      return { status: 'healthy', description: 'Measuring from now on', data: { p99Ms: 0, maxMs: 0 } };
    }
    // Each reading covers the time since the previous one: a past stall stops counting once it was reported.
    const p99Ms = round(histogram.percentile(99) / 1e6);
    const maxMs = round(histogram.max / 1e6);
    const meanMs = round(histogram.mean / 1e6);
    histogram.reset();
    const data = {
      p99Ms,
      maxMs,
      meanMs,
      degradedMs: thresholds.degradedMs,
      unhealthyMs: thresholds.unhealthyMs,
    };
    if (maxMs > thresholds.unhealthyMs)
      return { status: 'unhealthy', description: `The event loop was blocked for ${maxMs} ms`, data };
    if (p99Ms > thresholds.degradedMs)
      return { status: 'degraded', description: `The event loop runs late (p99 ${p99Ms} ms)`, data };
    return { status: 'healthy', data };
  };
}

function round(ms: number): number {
  return Number.isFinite(ms) ? Math.round(ms * 10) / 10 : 0;
}
