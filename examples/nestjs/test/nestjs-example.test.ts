import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { exerciseExample } from '../../../packages/frameworks/test/support/example-app.ts';

describe('examples/nestjs as a real process', { timeout: 90_000 }, () => {
  it('enqueues a job that completes, serves health, metrics and the dashboard, drains after the server closed on SIGTERM', async () => {
    await exerciseExample(new URL('../main.ts', import.meta.url).pathname, async (base) => {
      // The completed job published a message; the consumer handed it to a Nest provider; a Nest controller reads
      // the injected consumers and worker.
      let ops: { status: number; body: Record<string, unknown> } = { status: 0, body: {} };
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const response = await fetch(`${base}/ops`);
        ops = { status: response.status, body: (await response.json()) as Record<string, unknown> };
        const worker = ops.body.worker as { running?: number } | undefined;
        // The job is completed in the store a moment before the worker counts it as finished.
        if ((ops.body.announced as unknown[] | undefined)?.length && worker?.running === 0) break;
        await sleep(50);
      }
      assert.equal(ops.status, 200);
      assert.deepEqual(ops.body, {
        consumers: [{ consumer: 'announce', transport: 'memory', connected: true }],
        lag: { running: true, transport: 'memory', lag: { messages: 0 } },
        worker: { started: true, running: 0 },
        announced: ['quick'],
      });
      const health = (await (await fetch(`${base}/healthz?tag=backlog`)).json()) as {
        entries: Record<string, { status: string; data?: Record<string, unknown> }>;
      };
      assert.equal(health.entries['consumer-lag:announce']?.status, 'healthy');
      assert.equal(health.entries['consumer-lag:announce']?.data?.lag, 0);
    });
  });
});
