/**
 * Bringing one's own pino logger: Hostwork's lines (host, worker, a job's ctx.logger) go through it, carrying its
 * base bindings and level, whether given as `logging.logger` or as a LoggerFactory registration of the application.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { z } from 'zod';
import { Configuration } from '../../src/config/configuration.ts';
import { createHostBuilder, type HostBuilder } from '../../src/hosting/index.ts';
import { addJobs } from '../../src/jobs/add-jobs.ts';
import { JobClient } from '../../src/jobs/job-client.ts';
import { defineJob } from '../../src/jobs/job-definition.ts';
import { createLoggerFactory, LoggerFactory } from '../../src/logging/logger-factory.ts';
import { sqliteStore } from '../../src/stores/sqlite/sqlite-store.ts';
import { FAST, LogCapture, T, tempDb, waitForState } from '../jobs/helpers.ts';

const Greet = defineJob({
  name: 'greet',
  schema: z.object({ who: z.string() }),
  handle({ who }, ctx) {
    ctx.logger.info({ who }, 'greeted');
  },
});

/** Runs one job on a host and returns; the host's lines are wherever its logger writes. */
async function runOneJob(builder: HostBuilder): Promise<void> {
  addJobs(builder, { jobs: [Greet], store: sqliteStore({ path: tempDb() }), worker: FAST });
  const host = builder.build();
  await host.start();
  try {
    const client = host.services.get(JobClient);
    const { id } = await client.enqueue(Greet, { who: 'Ada' });
    await waitForState(client, id, 'completed');
  } finally {
    await host.stop();
  }
}

/** Checks that host, worker and job lines reached `logs` with the application's bindings and debug level. */
function assertThroughOwnLogger(logs: LogCapture): void {
  const host = logs.lines.find((l) => l.category === 'Hostwork.Host');
  const worker = logs.find('Job worker started');
  const job = logs.find('greeted');
  assert.ok(host && worker && job, `host, worker and job lines expected, got ${JSON.stringify(logs.lines)}`);
  for (const line of [host, worker, job]) assert.equal(line.app, 'billing', "the application's base binding");
  assert.equal(worker.category, 'Hostwork.Jobs.Worker');
  assert.equal(job.category, 'Hostwork.Jobs');
  assert.equal(job.who, 'Ada');
  assert.equal(job.job, 'greet', "the job's own bindings are kept");
  // The application's level (debug) applies, not the host's default nor the Logging section (error).
  assert.ok(
    logs.lines.some((l) => l.level === 20),
    'debug lines, at the level of the application logger',
  );
}

describe("the application's own logger", () => {
  it('given as logging.logger, it carries every line of the host, the worker and the jobs', T, async () => {
    const logs = new LogCapture();
    const logger = pino({ level: 'debug', base: { app: 'billing' } }, logs);
    await runOneJob(createHostBuilder({ env: { LOGGING__LEVEL: 'error' }, args: [], logging: { logger } }));
    assertThroughOwnLogger(logs);
  });

  it('registered as a LoggerFactory by the application, it replaces the host default', T, async () => {
    const logs = new LogCapture();
    const unused = new LogCapture();
    const builder = createHostBuilder({
      env: {},
      args: [],
      logging: { destination: unused, level: 'info', pretty: false },
    });
    // A factory with a dependency: resolved from the container like any other registration.
    builder.services.addSingleton(LoggerFactory, {
      factory: (p) => {
        assert.ok(p.get(Configuration));
        return createLoggerFactory({ logger: pino({ level: 'debug', base: { app: 'billing' } }, logs) });
      },
      deps: [Configuration],
    });
    await runOneJob(builder);
    assertThroughOwnLogger(logs);
    assert.deepEqual(unused.lines, [], "nothing goes to the host's default destination");
  });
});
