import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { HealthCheckResult } from '../health/health-check.ts';
import type { HealthChecks } from '../health/health-checks.ts';
import { JobStore } from './job-store.ts';
import { JobWorker } from './job-worker.ts';

/** The thresholds of the job engine's health checks (`addJobs({ health })`). */
export interface JobHealthOptions {
  /** The oldest due job has waited longer than this, in ms: `jobs-backlog` is degraded. Default 300,000 (5 min). */
  readonly maxDueAgeMs?: number;
}

const KEYS = ['maxDueAgeMs'] as const;
/** The defaults of {@link JobHealthOptions}, in one place. */
export const jobHealthDefaults = { maxDueAgeMs: 300_000 } as const;

/**
 * Registers the job engine's checks:
 * - `jobs-worker` (live; only with a worker): the worker's loop is alive (its heartbeat timer fires every
 *   `heartbeatMs`), and leases are being renewed (degraded while renewals fail: running jobs may then be recovered and
 *   run again elsewhere once their leases run out);
 * - `jobs-store` (ready): the store answers, with its latency, and its schema is the one this code expects;
 * - `jobs-backlog` (tag `backlog`, in no probe): due jobs waiting per queue and the oldest one's age; degraded past
 *   `maxDueAgeMs`, never unhealthy (more workers help a backlog, a restart does not).
 */
export function addJobHealthChecks(
  checks: HealthChecks,
  withWorker: boolean,
  options: JobHealthOptions = {},
): void {
  assertKnownKeys('addJobs() health', options, KEYS);
  const maxDueAgeMs = options.maxDueAgeMs ?? jobHealthDefaults.maxDueAgeMs;
  if (!Number.isFinite(maxDueAgeMs) || maxDueAgeMs <= 0)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addJobs() health.maxDueAgeMs must be a positive number of ms, got ${String(options.maxDueAgeMs)}.`,
    );
  if (withWorker) {
    checks.add('jobs-worker', ({ services }) => workerHealth(services.get(JobWorker), Date.now()), {
      tags: ['live'],
    });
  }
  checks.add(
    'jobs-store',
    async ({ services }) => {
      const store = services.get(JobStore);
      const began = performance.now();
      const status = store.migrationStatus ? await store.migrationStatus() : undefined;
      if (!store.migrationStatus) await store.counts();
      const latencyMs = Math.round((performance.now() - began) * 100) / 100;
      const data = { store: store.kind, latencyMs, ...(status ?? {}) };
      if (status && status.current < status.latest)
        return {
          status: 'unhealthy',
          description: `The ${store.kind} store's schema is at version ${status.current}, this code needs ${status.latest}: run \`hostwork migrate\``,
          data,
        };
      if (status && status.current > status.latest)
        return {
          status: 'unhealthy',
          description: `The ${store.kind} store's schema (version ${status.current}) is newer than this code knows (${status.latest}): deploy the newer code`,
          data,
        };
      return { status: 'healthy', description: `The ${store.kind} store answers`, data };
    },
    { tags: ['ready'] },
  );
  checks.add(
    'jobs-backlog',
    async ({ services }) => {
      const store = services.get(JobStore);
      if (!store.dueBacklog)
        return { status: 'healthy', description: `The ${store.kind} store reports no backlog` };
      const now = Date.now();
      const queues = await store.dueBacklog(now);
      const data = Object.fromEntries(
        queues.map((q) => [q.queue, { due: q.due, oldestDueAgeMs: Math.max(0, now - q.oldestDueAt) }]),
      );
      const late = queues.filter((q) => now - q.oldestDueAt > maxDueAgeMs);
      if (late.length > 0)
        return {
          status: 'degraded',
          description: `Jobs have waited longer than ${maxDueAgeMs} ms in ${late.map((q) => `'${q.queue}' (${q.due} due)`).join(', ')}`,
          data,
        };
      return { status: 'healthy', data };
    },
    { tags: ['backlog'] },
  );
}

/** The `jobs-worker` check's verdict on a worker's snapshot at `now`. */
export function workerHealth(worker: JobWorker, now: number): HealthCheckResult {
  const h = worker.health;
  if (!h.started) return { status: 'healthy', description: 'The worker has not started yet' };
  const data = {
    running: h.running,
    heartbeatAgeMs: now - h.heartbeatAt,
    renewedAgeMs: now - h.renewedAt,
    heartbeatMs: h.heartbeatMs,
    leaseMs: h.leaseMs,
  };
  if (h.renewingSince !== undefined && now - h.renewingSince > h.leaseMs / 2)
    // Waiting on the store is the store's problem (readiness says so): a restart would not help.
    return {
      status: 'degraded',
      description: `Lease renewal has waited ${now - h.renewingSince} ms for the store`,
      data,
    };
  // The timer fires every heartbeatMs; three missed beats (and a second of slack) mean the loop is stuck.
  if (h.renewingSince === undefined && !h.stopping && now - h.heartbeatAt > 3 * h.heartbeatMs + 1_000)
    return {
      status: 'unhealthy',
      description: `The worker's heartbeat last fired ${now - h.heartbeatAt} ms ago (every ${h.heartbeatMs} ms expected)`,
      data,
    };
  if (h.renewFailedAt !== undefined && h.running > 0)
    return {
      status: 'degraded',
      description: `Leases of ${h.running} running job(s) could not be renewed for ${now - h.renewedAt} ms; past ${h.leaseMs} ms they may be recovered elsewhere`,
      data,
    };
  return { status: 'healthy', data };
}
