/**
 * The job engine's and the consumers' health checks on a real host: the worker's loop and leases, the store's answer
 * and schema version, the backlog per queue (degraded past its age threshold, never unhealthy), and the verdicts on
 * a stalled loop or failing renewals.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { HealthCheckService } from '../../src/health/health-check-service.ts';
import { createHostBuilder } from '../../src/hosting/host-builder.ts';
import { addJobs } from '../../src/jobs/add-jobs.ts';
import { JobClient } from '../../src/jobs/job-client.ts';
import { defineJob } from '../../src/jobs/job-definition.ts';
import { workerHealth } from '../../src/jobs/job-health-checks.ts';
import type { JobWorker, WorkerHealth } from '../../src/jobs/job-worker.ts';
import { sqliteStore } from '../../src/stores/sqlite/sqlite-store.ts';
import { LogCapture } from '../hosting/helpers.ts';
import { expectThrow } from '../support/errors.ts';

const Report = defineJob({ name: 'report', queue: 'reports', schema: z.object({}), handle() {} });
const Noop = defineJob({ name: 'noop', schema: z.object({}), handle() {} });

function jobsHost(health?: { maxDueAgeMs: number }) {
  const builder = createHostBuilder({
    env: {},
    args: [],
    logging: { destination: new LogCapture(), level: 'warn', pretty: false },
  });
  addJobs(builder, {
    jobs: [Report, Noop],
    store: sqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'hostwork-health-')), 'jobs.db') }),
    // The worker consumes 'default' only: 'reports' jobs wait, as with no worker for a queue.
    worker: { queues: { default: { concurrency: 1 } } },
    ...(health ? { health } : {}),
  });
  return builder.build();
}

describe('the job engine’s health checks', () => {
  it('report the worker, the store and the backlog; a queue whose jobs wait too long is degraded', async () => {
    const host = jobsHost({ maxDueAgeMs: 100 });
    await host.start();
    try {
      const health = host.services.get(HealthCheckService);
      const live = await health.check({ probe: 'live' });
      assert.equal(live.entries['jobs-worker']!.status, 'healthy');
      assert.equal(live.entries['jobs-worker']!.data!.running, 0);
      const ready = await health.check({ probe: 'ready' });
      assert.equal(ready.status, 'healthy');
      const store = ready.entries['jobs-store']!;
      assert.equal(store.data!.store, 'sqlite');
      assert.equal(store.data!.current, store.data!.latest);
      assert.equal(typeof store.data!.latencyMs, 'number');

      const jobs = host.services.get(JobClient);
      await jobs.enqueueMany(Report, [{ payload: {} }, { payload: {} }, { payload: {} }]);
      await jobs.enqueue(Noop, {});
      let backlog = (await health.check({ tags: ['backlog'] })).entries['jobs-backlog']!;
      assert.equal(backlog.status, 'healthy', 'not waited long yet');
      await sleep(200);
      backlog = (await health.check({ tags: ['backlog'] })).entries['jobs-backlog']!;
      assert.equal(backlog.status, 'degraded');
      assert.match(backlog.description!, /'reports' \(3 due\)/);
      const reports = backlog.data!.reports as { due: number; oldestDueAgeMs: number };
      assert.equal(reports.due, 3);
      assert.ok(reports.oldestDueAgeMs >= 200);
      assert.equal(backlog.data!.default, undefined, 'the consumed queue has nothing waiting');
      assert.equal((await health.check({ probe: 'ready' })).status, 'healthy', 'a backlog is in no probe');
    } finally {
      await host.stop();
    }
  });

  it('refuses a bad threshold at registration', () => {
    const builder = createHostBuilder({ env: {}, args: [] });
    expectThrow(
      () => addJobs(builder, { jobs: [Noop], health: { maxDueAgeMs: -1 } }),
      ErrorCodes.INVALID_OPTION,
      'maxDueAgeMs',
    );
  });

  it('judge a stalled loop unhealthy, a slow store or failing renewals degraded', () => {
    const now = 1_000_000;
    const base: WorkerHealth = {
      started: true,
      stopping: false,
      running: 2,
      heartbeatMs: 1_000,
      leaseMs: 10_000,
      heartbeatAt: now - 500,
      renewingSince: undefined,
      renewedAt: now - 500,
      renewFailedAt: undefined,
    };
    const verdict = (h: Partial<WorkerHealth>) =>
      workerHealth({ health: { ...base, ...h } } as JobWorker, now);
    assert.equal(verdict({}).status, 'healthy');
    assert.equal(verdict({ heartbeatAt: now - 4_500 }).status, 'unhealthy');
    assert.match(verdict({ heartbeatAt: now - 4_500 }).description!, /heartbeat last fired 4500 ms ago/);
    assert.equal(verdict({ heartbeatAt: now - 9_000, renewingSince: now - 8_000 }).status, 'degraded');
    assert.equal(verdict({ renewFailedAt: now - 100, renewedAt: now - 3_000 }).status, 'degraded');
    assert.equal(verdict({ renewFailedAt: now - 100, running: 0 }).status, 'healthy');
    assert.equal(
      verdict({ heartbeatAt: now - 60_000, stopping: true }).status,
      'healthy',
      'a stopping worker',
    );
    assert.equal(verdict({ started: false }).status, 'healthy');
  });
});
