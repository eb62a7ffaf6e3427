/**
 * A worker process for the probe-loop test: SQLite jobs, the health endpoint on a free loopback port, and two slow
 * jobs enqueued once the host has started. JSON logs on stdout. Argument: the database path.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { addHealthEndpoint } from '../../src/health/add-health-endpoint.ts';
import { ApplicationLifetime } from '../../src/hosting/application-lifetime.ts';
import { createHostBuilder } from '../../src/hosting/host-builder.ts';
import { addJobs } from '../../src/jobs/add-jobs.ts';
import { JobClient } from '../../src/jobs/job-client.ts';
import { defineJob } from '../../src/jobs/job-definition.ts';
import { sqliteStore } from '../../src/stores/sqlite/sqlite-store.ts';

const Slow = defineJob({
  name: 'slow',
  schema: z.object({ n: z.number() }),
  async handle({ n }, ctx) {
    ctx.logger.info({ n }, 'slow job running');
    await sleep(2_500); // ignores the signal on purpose: a drain waits for it
    ctx.logger.info({ n }, 'slow job done');
  },
});

const builder = createHostBuilder({
  env: {},
  args: [],
  logging: { level: 'info', pretty: false },
  host: { shutdownTimeout: 10_000 },
});
addJobs(builder, {
  jobs: [Slow],
  store: sqliteStore({ path: process.argv[2]! }),
  worker: { queues: { default: { concurrency: 2 } } },
});
addHealthEndpoint(builder, { port: 0, host: '127.0.0.1' });
const host = builder.build();
host.services.get(ApplicationLifetime).onStarted(() => {
  const jobs = host.services.get(JobClient);
  void jobs.enqueue(Slow, { n: 1 }).then(() => jobs.enqueue(Slow, { n: 2 }));
});
await host.run();
