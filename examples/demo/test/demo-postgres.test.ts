/**
 * The demo on PostgreSQL (Jobs:Postgres:ConnectionString): two demo processes on one schema, as two machines would
 * run it. Needs the test database; without it the test is skipped with the reason (a failure in CI).
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import {
  DATABASE_URL,
  describeWithDatabase,
  dropSchema,
  freshSchemaName,
} from '../../../packages/postgres/test/support/database.ts';
import { DemoProcess, request, tempDatabase, waitForJob } from './demo-process.ts';
import { waitForOrder } from './orders.ts';

await describeWithDatabase('the demo on PostgreSQL, twice on one schema', () => {
  const schema = freshSchemaName();
  after(() => dropSchema(schema));

  it('one process takes the order, both see it retried and completed, and either serves the job', {
    timeout: 60_000,
  }, async () => {
    const args = [`--Jobs:Postgres:ConnectionString=${DATABASE_URL}`, `--Jobs:Postgres:Schema=${schema}`];
    const first = new DemoProcess(tempDatabase(), args);
    const second = new DemoProcess(tempDatabase(), args);
    try {
      const [a, b] = await Promise.all([first.baseUrl(), second.baseUrl()]);
      const accepted = await request(`${a}/orders`, 'POST', { orderId: 'P-1', amount: 5, failTimes: 1 });
      assert.equal(accepted.status, 202);
      const { id } = accepted.body as { id: string };
      // Read through the other process: the job lives in the shared database, not in the process that took it.
      const job = await waitForJob(b, id, 'completed');
      assert.equal(job.attempt, 2);
      assert.deepEqual(
        job.errors.map((e) => [e.attempt, e.kind]),
        [[1, 'error']],
      );
      assert.match(job.errors[0]!.message, /simulated failure 1\/1/);
      // The order and its OrderPlaced message committed with the job; either process's outbox relay published it
      // (on its own in-memory transport here) and the warehouse consumer's inbox recorded it in the shared schema.
      const order = await waitForOrder(b, 'P-1', (o) => o.notifications > 0);
      assert.deepEqual([order.jobId, order.notifications], [id, 1]);
      const counts = (await request(`${a}/jobs`)).body as Array<{ state: string; count: number }>;
      assert.deepEqual(
        counts.map((c) => [c.state, c.count]),
        [['completed', 1]],
      );
      for (const demo of [first, second]) {
        assert.ok(
          demo.lines.some((l) => /Job worker started on postgres/.test(l.msg)),
          'the worker runs on the PostgreSQL store',
        );
      }
    } finally {
      await Promise.all([first.kill(), second.kill()]);
    }
  });
});
