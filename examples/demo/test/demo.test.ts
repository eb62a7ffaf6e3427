import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DemoProcess, request, tempDatabase, waitForJob } from './demo-process.ts';
import { waitForOrder } from './orders.ts';

describe('the demo (npm start) as a real process', { timeout: 60_000 }, () => {
  it('serves, then on SIGTERM logs the shutdown sequence in order and exits 0 quickly', async () => {
    const demo = new DemoProcess(tempDatabase());
    try {
      const base = await demo.baseUrl();
      await demo.waitFor((l) => l.msg.startsWith('Host started'), 'Host started');
      // The health checks, through the demo's own server: every built-in check, ready once started.
      const health = await request(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(Object.keys((health.body as { entries: object }).entries).sort(), [
        'consumer-lag:notify-warehouse',
        'consumers',
        'event-loop',
        'host',
        'jobs-backlog',
        'jobs-store',
        'jobs-worker',
      ]);
      assert.equal((await request(`${base}/healthz/ready`)).status, 200);
      // The in-memory queue answers 202 at once.
      const work = await request(`${base}/work`, 'POST');
      assert.equal(work.status, 202);
      // The cleanup worker ran with a scoped service per cycle: two cycles, two instances.
      await demo.waitFor((l) => l.msg.startsWith('Deleted') && l.instance === 2, 'a second cleanup cycle');
      const sent = performance.now();
      demo.child.kill('SIGTERM');
      const { code, at } = await demo.exited;
      assert.equal(code, 0, `exit code; stderr: ${demo.stderr.join('\n')}`);
      assert.ok(at - sent < 5_000, `stopped in ${Math.round(at - sent)} ms`);

      const lifecycle = demo.lines
        .map((l) => l.msg)
        .filter((m) => /^(Host |Service '|Received SIGTERM)/.test(m))
        .map((m) => m.replace(/ in \d+ ms.*$/, '').replace(/;.*$/, ''));
      assert.deepEqual(lifecycle, [
        'Host starting',
        "Service 'StartupTask' started",
        "Service 'PeriodicService(cleanup)' started",
        "Service 'TaskQueueService' started",
        "Service 'JobWorker' started",
        "Service 'OutboxRelay' started",
        "Service 'MessageConsumers' started",
        "Service 'HttpServer' started",
        'Host started',
        'Received SIGTERM',
        'Host stopping',
        "Service 'HttpServer' stopped",
        "Service 'MessageConsumers' stopped",
        "Service 'OutboxRelay' stopped",
        "Service 'JobWorker' stopped",
        "Service 'TaskQueueService' stopped",
        "Service 'PeriodicService(cleanup)' stopped",
        "Service 'StartupTask' stopped",
        'Host stopped',
      ]);
    } finally {
      await demo.kill();
    }
  });

  it('takes an order with 202 and an id, retries it twice, then completes it with its attempt history', async () => {
    const demo = new DemoProcess(tempDatabase());
    try {
      const base = await demo.baseUrl();
      const accepted = await request(`${base}/orders`, 'POST', {
        orderId: 'A-1',
        amount: 42,
        failTimes: 2,
        workMs: 20,
      });
      assert.equal(accepted.status, 202);
      const { id, messageId } = accepted.body as { id: string; messageId: string };
      assert.match(id, /^\d+$/);
      // The order, its job and its message committed together; the warehouse consumer got the message (in memory).
      const order = await waitForOrder(base, 'A-1', (o) => o.notifications > 0);
      assert.deepEqual(
        [order.jobId, order.messageId, order.amount, order.notifications],
        [id, messageId, 42, 1],
      );
      const job = await waitForJob(base, id, 'completed');
      assert.equal(job.attempt, 3);
      assert.deepEqual(
        job.errors.map((e) => [e.attempt, e.kind]),
        [
          [1, 'error'],
          [2, 'error'],
        ],
      );
      assert.match(job.errors[0]!.message, /simulated failure 1\/2/);
      // An invalid payload is refused with the failing field named, and nothing is stored.
      const refused = await request(`${base}/emails`, 'POST', { to: 'not-an-email', subject: '' });
      assert.equal(refused.status, 400);
      assert.match((refused.body as { error: string }).error, /to: .*\n.*subject/s);
      // An order id taken already, or an invalid order, is refused and its transaction leaves nothing behind.
      const again = await request(`${base}/orders`, 'POST', { orderId: 'A-1', amount: 1 });
      assert.equal(again.status, 409);
      const invalid = await request(`${base}/orders`, 'POST', { orderId: 'A-2', amount: -1 });
      assert.equal(invalid.status, 400);
      assert.match((invalid.body as { error: string }).error, /amount/);
      assert.equal((await request(`${base}/orders/A-2`)).status, 404);
      const counts = (await request(`${base}/jobs`)).body as Array<{
        queue: string;
        state: string;
        count: number;
      }>;
      assert.deepEqual(counts, [{ queue: 'default', state: 'completed', count: 1 }]);
    } finally {
      await demo.kill();
    }
  });

  it('finishes a job after the demo is killed with SIGKILL in the middle of it and started again', async () => {
    const database = tempDatabase();
    const first = new DemoProcess(database);
    let id: string;
    try {
      const base = await first.baseUrl();
      const accepted = await request(`${base}/orders`, 'POST', { orderId: 'K-1', amount: 7, workMs: 3_000 });
      id = (accepted.body as { id: string }).id;
      await waitForJob(base, id, 'running');
      first.child.kill('SIGKILL');
      await first.exited;
    } finally {
      await first.kill();
    }
    const second = new DemoProcess(database);
    try {
      const base = await second.baseUrl();
      const job = await waitForJob(base, id, 'completed', 30_000);
      assert.equal(job.attempt, 2, 'the killed attempt counts; the second one completed');
      assert.deepEqual(
        job.errors.map((e) => e.kind),
        ['lease-expired'],
      );
    } finally {
      await second.kill();
    }
  });
});
