/**
 * Queues no worker consumes, on PostgreSQL: a worker process announces its queues in the store, and a producer-only
 * process warns once about a queue no live worker consumes, not about one a worker elsewhere consumes.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import {
  addJobs,
  createHostBuilder,
  defineJob,
  defineJobContract,
  type Host,
  JobClient,
  JobStore,
  LoggerFactory,
  QueueConsumers,
} from 'hostwork';
import { z } from 'zod';
import type { PostgresStore } from '../src/postgres-store.ts';
import { describeWithDatabase } from './support/database.ts';
import { useSchemas, waitUntil } from './support/stores.ts';

const EmailContract = defineJobContract({ name: 'email', schema: z.object({}), queue: 'emails' });
const Email = defineJob(EmailContract, () => {});
const Report = defineJobContract({ name: 'report', schema: z.object({}), queue: 'reports' });

function host(
  store: PostgresStore,
  setup: { jobs: Parameters<typeof addJobs>[1]['jobs']; worker: boolean },
): { host: Host; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const part of String(chunk).split('\n')) if (part.trim()) lines.push(JSON.parse(part));
      done();
    },
  });
  const builder = createHostBuilder({
    env: {},
    args: [],
    logging: { destination, level: 'info', pretty: false },
  });
  addJobs(builder, {
    jobs: setup.jobs,
    store,
    worker: setup.worker
      ? {
          queues: { emails: { concurrency: 1 } },
          pollIntervalMs: 50,
          heartbeatMs: 200,
          maintenanceIntervalMs: 100,
        }
      : false,
  });
  if (!setup.worker) {
    // A short grace before the warning, for the test.
    builder.services.addSingleton(QueueConsumers, {
      factory: (p) =>
        new QueueConsumers(p.get(JobStore), p.get(LoggerFactory).create('Hostwork.Jobs.Client'), [], {
          graceMs: 150,
        }),
      deps: [JobStore, LoggerFactory],
    });
  }
  return { host: builder.build(), lines };
}

await describeWithDatabase('queues no worker consumes (PostgreSQL)', () => {
  const stores = useSchemas();

  it('a producer warns once about a queue no live worker consumes, not about one a worker elsewhere consumes', async () => {
    const first = stores.fresh();
    const worker = host(first, { jobs: [Email], worker: true });
    const producer = host(stores.peer(first), { jobs: [EmailContract, Report], worker: false });
    await worker.host.start();
    await producer.host.start();
    try {
      const client = producer.host.services.get(JobClient);
      // The worker has announced itself (in the background of its start), so 'emails' has a consumer.
      await waitUntil(
        async () => (await first.liveQueues(Date.now())).includes('emails'),
        'the announcement',
      );
      const { id } = await client.enqueue(EmailContract, {});
      await client.enqueue(Report, {});
      await client.enqueue(Report, {});
      const warning = await waitUntil(
        () => producer.lines.find((l) => l.level === 40 && l.queue === 'reports'),
        'the warning about reports',
      );
      assert.equal(warning.category, 'Hostwork.Jobs.Client');
      assert.deepEqual(warning.liveQueues, ['emails']);
      await waitUntil(async () => (await client.get(id))?.state === 'completed', 'the email job to run');
      assert.equal(producer.lines.filter((l) => l.level === 40).length, 1, JSON.stringify(producer.lines));
    } finally {
      await producer.host.stop();
      await worker.host.stop();
    }
  });
});
