/**
 * Results and `JobClient.waitFor` on PostgreSQL: a client-only host waits for jobs that a worker elsewhere runs, on
 * store instances of their own (another pool, as another process has) and from a real worker process.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import {
  addJobs,
  createHostBuilder,
  defineJob,
  ErrorCodes,
  type Host,
  HostworkError,
  JobClient,
  type JobDefinition,
} from 'hostwork';
import { z } from 'zod';
import type { PostgresStore } from '../src/postgres-store.ts';
import { killWorkersAfterEach, startWorkers } from './processes/worker-process.ts';
import { describeWithDatabase } from './support/database.ts';
import { useSchemas } from './support/stores.ts';

/** The same definition as the worker fixture's `pg.answer` (the client needs it to enqueue). */
const Answer = defineJob({
  name: 'pg.answer',
  schema: z.object({ n: z.number() }),
  handle: ({ n }) => ({ doubled: n * 2, pid: process.pid }),
});

const Fails = defineJob({
  name: 'pg.fails',
  schema: z.object({}),
  maxAttempts: 1,
  handle() {
    throw new Error('no luck');
  },
});

/** A host on `store`: a worker host, or a client-only one (`worker: false`). */
// biome-ignore lint/suspicious/noExplicitAny: definitions of any payload type.
function host(store: PostgresStore, jobs: JobDefinition<any, any>[], worker: boolean): Host {
  const builder = createHostBuilder({
    env: {},
    args: [],
    logging: {
      destination: new Writable({ write: (_c, _e, done) => done() }),
      level: 'error',
      pretty: false,
    },
  });
  addJobs(builder, {
    jobs,
    store,
    worker: worker ? { pollIntervalMs: 50, heartbeatMs: 200, maintenanceIntervalMs: 100 } : false,
  });
  return builder.build();
}

await describeWithDatabase('results and waitFor on PostgreSQL', () => {
  const stores = useSchemas();
  killWorkersAfterEach();

  it('a client-only host waits for jobs a worker host completes, each on its own store instance', async () => {
    const clientStore = stores.fresh({ settledPollIntervalMs: 50 });
    await clientStore.migrate();
    const client = host(clientStore, [Answer, Fails], false);
    const worker = host(stores.peer(clientStore), [Answer, Fails], true);
    await client.start();
    try {
      const jobs = client.services.get(JobClient);
      const { id } = await jobs.enqueue(Answer, { n: 21 });
      const { id: failing } = await jobs.enqueue(Fails, {});
      const waits = [jobs.waitFor(id, { timeout: 20_000 }), jobs.waitFor(failing, { timeout: 20_000 })];
      // The worker starts once the waits are under way: only the store can tell the client the jobs finished.
      await worker.start();
      const [done, dead] = await Promise.all(waits);
      assert.equal(done!.state, 'completed');
      assert.deepEqual(done!.result, { doubled: 42, pid: process.pid });
      assert.equal(dead!.state, 'dead');
      assert.equal(dead!.errors[0]?.message, 'no luck');
      assert.deepEqual((await jobs.list({ state: 'completed' }))[0]?.result, {
        doubled: 42,
        pid: process.pid,
      });
      await assert.rejects(
        jobs.waitFor('999999'),
        (e) => e instanceof HostworkError && e.code === ErrorCodes.JOB_NOT_FOUND,
      );
    } finally {
      await Promise.all([client.stop(), worker.stop()]);
    }
  });

  it('times out naming the job, its state and the timeout; onSettled polls every settledPollIntervalMs', async () => {
    const store = stores.fresh({ settledPollIntervalMs: 20 });
    const client = host(store, [Answer], false);
    await client.start();
    try {
      const jobs = client.services.get(JobClient);
      const { id } = await jobs.enqueue(Answer, { n: 1 });
      const waiting = jobs.waitFor(id, { timeout: 200 });
      await assert.rejects(waiting, (e) => {
        assert.ok(e instanceof HostworkError && e.code === ErrorCodes.JOB_WAIT_TIMEOUT, String(e));
        for (const fragment of [`pg.answer#${id}`, '200 ms', 'pending'])
          assert.ok(e.message.includes(fragment), e.message);
        return true;
      });
      let calls = 0;
      const off = store.onSettled(() => calls++);
      const deadline = performance.now() + 5_000;
      while (calls < 2 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      off();
      assert.ok(calls >= 2, 'the poll calls a listener every settledPollIntervalMs');
    } finally {
      await client.stop();
    }
  });

  it('a client-only process waits for a job a worker process completes', { timeout: 60_000 }, async () => {
    const store = stores.fresh();
    await store.migrate();
    const [worker] = await startWorkers(1, store.schema);
    const client = host(store, [Answer], false);
    await client.start();
    try {
      const jobs = client.services.get(JobClient);
      const { id } = await jobs.enqueue(Answer, { n: 5 });
      const info = await jobs.waitFor(id, { timeout: 30_000 });
      assert.equal(info.state, 'completed');
      assert.deepEqual(info.result, { doubled: 10, pid: worker!.pid }, 'completed by the worker process');
    } finally {
      await client.stop();
      await worker!.stop();
    }
  });
});
